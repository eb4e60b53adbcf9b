using System.Runtime.ExceptionServices;
using System.Runtime.InteropServices;
using Waldwicht.Formats.Mlx;
using Waldwicht.Formats.Safetensors;
using Waldwicht.Model;
using Waldwicht.Numerics;
using Waldwicht.Numerics.Matrices;
using Waldwicht.Quantization.IO;

namespace Waldwicht.Quantization.Conversion;

/// <summary>Scales and biases of a quantized matrix, stored as the output's scale type.</summary>
internal sealed record GroupTables(byte[] Scales, byte[] Biases);

/// <summary>
/// Quantizes one matrix at a time in blocks of rows, in parallel over the rows of a block, so that
/// memory stays bounded however large the matrix is.
/// </summary>
/// <remarks>
/// A safetensors file stores a module's tensors in name order: biases, scales, then the packed
/// weight. <see cref="ComputeGroups"/> therefore reads the matrix once to compute every group's
/// scale and bias (kept in memory: rows × columns / group size values each), and
/// <see cref="WritePacked"/> reads it a second time to pack the codes block by block. Both run the
/// same MLX group computation, so the two passes agree bit for bit.
/// </remarks>
internal sealed class StreamingQuantizer
{
    private readonly TensorReader _reader;
    private readonly ElementType _scaleType;
    private readonly MlxQuantizerSemantics _rounding;
    private readonly int _blockBytes;
    private readonly ParallelOptions _parallel;
    private byte[] _input = [];
    private uint[] _packed = [];
    private byte[] _scratch = [];

    public StreamingQuantizer(TensorReader reader, QuantizeOptions options, CancellationToken cancellationToken)
    {
        _reader = reader;
        _scaleType = options.ScaleType;
        _rounding = options.Rounding;
        _blockBytes = options.BlockBytes;
        _parallel = new ParallelOptions
        {
            MaxDegreeOfParallelism = options.Threads ?? Environment.ProcessorCount,
            CancellationToken = cancellationToken,
        };
    }

    /// <summary>Computes the scale and bias of every group of a matrix (first pass).</summary>
    /// <param name="tensor">A tensor planned for quantization.</param>
    /// <param name="advance">Called with the source bytes processed after each block.</param>
    /// <exception cref="ModelFormatException">The matrix contains NaN or infinity.</exception>
    public GroupTables ComputeGroups(PlannedTensor tensor, Action<long> advance)
    {
        var shape = Shape.Of(tensor);
        var quantizer = new MlxAffineQuantizer(tensor.Parameters!.Value, _rounding);
        int scaleSize = _scaleType.Size();
        var scales = GC.AllocateUninitializedArray<byte>(checked(shape.Rows * shape.Groups * scaleSize));
        var biases = GC.AllocateUninitializedArray<byte>(scales.Length);
        var scaleType = _scaleType;
        ForEachBlock(tensor, shape, advance, (blockStart, firstRow, lastRow) =>
        {
            Span<float> values = stackalloc float[shape.GroupSize];
            for (int row = firstRow; row < lastRow; row++)
            {
                var rowBytes = _input.AsSpan((row - blockStart) * shape.RowBytes, shape.RowBytes);
                for (int g = 0; g < shape.Groups; g++)
                {
                    Widen(rowBytes.Slice(g * shape.GroupSize * shape.ElementSize, shape.GroupSize * shape.ElementSize), shape.SourceType, values);
                    AffineGroup group;
                    try
                    {
                        group = quantizer.ComputeGroup(values);
                    }
                    catch (ArgumentException ex)
                    {
                        throw new ModelFormatException(
                            $"Tensor '{tensor.Source.Name}' cannot be quantized: row {row}, columns {g * shape.GroupSize} to {((g + 1) * shape.GroupSize) - 1} contain NaN or infinity; only finite weights can be quantized.",
                            ex);
                    }

                    long index = ((long)row * shape.Groups) + g;
                    MlxAffineQuantizer.Store(group.Scale, scales.AsSpan((int)(index * scaleSize), scaleSize), scaleType);
                    MlxAffineQuantizer.Store(group.Bias, biases.AsSpan((int)(index * scaleSize), scaleSize), scaleType);
                }
            }
        });

        return new GroupTables(scales, biases);
    }

    /// <summary>Quantizes a matrix block by block and writes the packed words (second pass).</summary>
    /// <param name="tensor">A tensor planned for quantization.</param>
    /// <param name="writer">The file being written; the packed weight must be its current tensor.</param>
    /// <param name="outputName">Name of the packed weight in <paramref name="writer"/>.</param>
    /// <param name="advance">Called with the source bytes processed after each block.</param>
    /// <exception cref="ModelFormatException">The matrix contains NaN or infinity.</exception>
    public void WritePacked(PlannedTensor tensor, SafetensorsWriter writer, string outputName, Action<long> advance)
    {
        var shape = Shape.Of(tensor);
        var quantizer = new MlxAffineQuantizer(tensor.Parameters!.Value, _rounding);
        int packedColumns = quantizer.PackedColumns(shape.Columns);
        int scaleBytesPerRow = shape.Groups * _scaleType.Size();
        int blockRows = BlockRows(shape);
        EnsureCapacity(ref _packed, checked(blockRows * packedColumns));
        EnsureCapacity(ref _scratch, checked(blockRows * scaleBytesPerRow * 2));
        var scaleType = _scaleType;
        ForEachBlock(
            tensor,
            shape,
            advance,
            (blockStart, firstRow, lastRow) =>
            {
                int first = firstRow - blockStart;
                int count = lastRow - firstRow;
                var scratch = _scratch.AsSpan(first * scaleBytesPerRow * 2, count * scaleBytesPerRow * 2);
                try
                {
                    quantizer.QuantizeRows(
                        _input.AsSpan(first * shape.RowBytes, count * shape.RowBytes),
                        shape.SourceType,
                        shape.Columns,
                        _packed.AsSpan(first * packedColumns, count * packedColumns),
                        scratch[..(count * scaleBytesPerRow)],
                        scratch[(count * scaleBytesPerRow)..],
                        scaleType);
                }
                catch (ArgumentException ex)
                {
                    throw new ModelFormatException(
                        $"Tensor '{tensor.Source.Name}' cannot be quantized in rows {firstRow} to {lastRow - 1}: {ex.Message}", ex);
                }
            },
            (blockStart, blockEnd) =>
                writer.Write(outputName, MemoryMarshal.AsBytes(_packed.AsSpan(0, (blockEnd - blockStart) * packedColumns))));
    }

    // Reads the matrix in blocks of whole rows and runs body(blockStart, firstRow, lastRow) over
    // slices of each block in parallel, then completed(blockStart, blockEnd) on this thread.
    private void ForEachBlock(
        PlannedTensor tensor, Shape shape, Action<long> advance, Action<int, int, int> body, Action<int, int>? completed = null)
    {
        int blockRows = BlockRows(shape);
        EnsureCapacity(ref _input, checked(blockRows * shape.RowBytes));
        for (int blockStart = 0; blockStart < shape.Rows; blockStart += blockRows)
        {
            _parallel.CancellationToken.ThrowIfCancellationRequested();
            int blockEnd = Math.Min(shape.Rows, blockStart + blockRows);
            int rows = blockEnd - blockStart;
            _reader.Read(tensor.Source, (long)blockStart * shape.RowBytes, _input.AsSpan(0, rows * shape.RowBytes));

            int slices = Math.Min(rows, _parallel.MaxDegreeOfParallelism * 4);
            int start = blockStart;
            if (slices == 1)
            {
                body(start, start, blockEnd);
            }
            else
            {
                RunParallel(slices, slice =>
                {
                    int first = start + (int)((long)rows * slice / slices);
                    int last = start + (int)((long)rows * (slice + 1) / slices);
                    body(start, first, last);
                });
            }

            completed?.Invoke(blockStart, blockEnd);
            advance((long)rows * shape.RowBytes);
        }
    }

    private void RunParallel(int count, Action<int> body)
    {
        try
        {
            Parallel.For(0, count, _parallel, body);
        }
        catch (AggregateException ex) when (ex.InnerExceptions.Count > 0)
        {
            ExceptionDispatchInfo.Capture(ex.InnerExceptions[0]).Throw();
        }
    }

    private int BlockRows(Shape shape) => Math.Clamp(_blockBytes / shape.RowBytes, 1, shape.Rows);

    private static void EnsureCapacity<T>(ref T[] buffer, int length)
    {
        if (buffer.Length < length)
        {
            buffer = GC.AllocateUninitializedArray<T>(length);
        }
    }

    private static void Widen(ReadOnlySpan<byte> source, ElementType type, Span<float> destination)
    {
        switch (type)
        {
            case ElementType.BF16:
                BFloat16.ToSingle(MemoryMarshal.Cast<byte, ushort>(source), destination);
                break;
            case ElementType.F32:
                MemoryMarshal.Cast<byte, float>(source).CopyTo(destination);
                break;
            default:
                var halves = MemoryMarshal.Cast<byte, Half>(source);
                for (int i = 0; i < halves.Length; i++)
                {
                    destination[i] = (float)halves[i];
                }

                break;
        }
    }

    private readonly record struct Shape(int Rows, int Columns, int GroupSize, ElementType SourceType)
    {
        public int ElementSize => SourceType.Size();

        public int RowBytes => Columns * ElementSize;

        public int Groups => Columns / GroupSize;

        public static Shape Of(PlannedTensor tensor)
        {
            var info = tensor.Source.Info;
            var type = info.DType switch
            {
                SafetensorsDType.BF16 => ElementType.BF16,
                SafetensorsDType.F16 => ElementType.F16,
                SafetensorsDType.F32 => ElementType.F32,
                _ => throw new InvalidOperationException($"Tensor '{info.Name}' is {info.DType.HeaderName()}; only float tensors are quantized."),
            };
            return new Shape(checked((int)info.Shape[0]), checked((int)info.Shape[1]), tensor.Parameters!.Value.GroupSize, type);
        }
    }
}
