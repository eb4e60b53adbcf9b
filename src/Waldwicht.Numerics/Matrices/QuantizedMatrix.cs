using System.Buffers;
using System.Runtime.Intrinsics.X86;
using Waldwicht.Numerics.Kernels;
using Waldwicht.Numerics.Threading;

namespace Waldwicht.Numerics.Matrices;

/// <summary>
/// A weight matrix in MLX affine quantization: each row is a little-endian, LSB-first stream of
/// <see cref="Bits"/>-bit codes packed into uint32 words, and every group of
/// <see cref="GroupSize"/> consecutive codes has a scale and a bias, so that w = code·scale + bias.
/// All three arrays are read in place from native memory that the caller keeps alive.
/// </summary>
/// <remarks>
/// <see cref="WeightMatrix.MatVec(ReadOnlySpan{float}, Span{float})"/> unpacks the codes in registers and
/// computes scale·Σ(x·code) + bias·Σx per group, with the group sums of x computed once per call.
/// <see cref="WeightMatrix.MatMul(ReadOnlySpan{float}, int, Span{float})"/> with four or more activation rows
/// dequantizes a few weight rows at a time into a per-thread tile and reuses it for up to 256 activation rows.
/// </remarks>
public sealed unsafe class QuantizedMatrix : WeightMatrix
{
    // Weight bytes a pool chunk should cover at least, so that tiny matrices run on the calling thread.
    private const int MinimumChunkBytes = 16 * 1024;

    // Below this many activation rows, one matrix-vector product per row is faster than the tiled kernel,
    // which works on four activation rows at a time.
    private const int MinimumTiledCount = 4;

    // Floats of dequantized rows per tile, sized to stay in a typical 256 KB to 1 MB L2 cache.
    private const int TileFloats = 64 * 1024;

    // Activation rows per pass of the tiled product, which bounds the permuted copy and keeps it in cache.
    private const int TokensPerPass = 256;

    private static ActivationPrecision s_defaultActivationPrecision = RecommendedActivationPrecision;

    private readonly nint _packed;
    private readonly nint _scales;
    private readonly nint _biases;
    private CodePlan? _plan;

    public QuantizedMatrix(
        nint packed, nint scales, nint biases, ElementType scaleType, int rows, int columns, int bits, int groupSize)
        : base(rows, columns)
    {
        if (packed == 0 || scales == 0 || biases == 0)
        {
            throw new ArgumentException("Packed weights, scales and biases must all be present.");
        }

        if (!IsSupportedBits(bits))
        {
            throw new ArgumentOutOfRangeException(nameof(bits), bits, "Bits must be 2, 3, 4, 5, 6 or 8.");
        }

        if (groupSize is not (32 or 64 or 128))
        {
            throw new ArgumentOutOfRangeException(nameof(groupSize), groupSize, "Group size must be 32, 64 or 128.");
        }

        if (columns % groupSize != 0)
        {
            throw new ArgumentException($"Columns ({columns}) must be a multiple of the group size ({groupSize}).");
        }

        if (!Enum.IsDefined(scaleType))
        {
            throw new ArgumentOutOfRangeException(nameof(scaleType), scaleType, "Scale type must be F32, BF16 or F16.");
        }

        _packed = packed;
        _scales = scales;
        _biases = biases;
        ScaleType = scaleType;
        Bits = bits;
        GroupSize = groupSize;
    }

    /// <summary>
    /// The fastest <see cref="Matrices.ActivationPrecision"/> that is as exact as float32 on this processor:
    /// <see cref="Matrices.ActivationPrecision.Int32"/> where the widest kernels are the AVX2 ones (x64 without
    /// AVX-512), whose integer multiply-adds outrun converting every code to float;
    /// <see cref="Matrices.ActivationPrecision.Float32"/> elsewhere.
    /// </summary>
    // Computed on each read: as an initialized property it would still be unset when the earlier field
    // s_defaultActivationPrecision is initialized from it.
    public static ActivationPrecision RecommendedActivationPrecision =>
        KernelPaths.Best == KernelPath.Vector256 && Avx2.IsSupported ? ActivationPrecision.Int32 : ActivationPrecision.Float32;

    /// <summary>
    /// The <see cref="ActivationPrecision"/> that matrices created afterwards use:
    /// <see cref="RecommendedActivationPrecision"/> unless changed.
    /// </summary>
    public static ActivationPrecision DefaultActivationPrecision
    {
        get => s_defaultActivationPrecision;
        set => s_defaultActivationPrecision = CheckPrecision(value);
    }

    /// <summary>How products represent the activations; <see cref="DefaultActivationPrecision"/> unless set.</summary>
    public ActivationPrecision ActivationPrecision
    {
        get;
        init => field = CheckPrecision(value);
    } = s_defaultActivationPrecision;

    /// <summary>Bits per code: 2, 3, 4, 5, 6 or 8.</summary>
    public int Bits { get; }

    /// <summary>Number of consecutive codes that share a scale and a bias: 32, 64 or 128.</summary>
    public int GroupSize { get; }

    /// <summary>Storage type of scales and biases.</summary>
    public ElementType ScaleType { get; }

    /// <summary>uint32 words per packed row.</summary>
    public int WordsPerRow => Columns * Bits / 32;

    /// <summary>Groups per row.</summary>
    public int GroupsPerRow => Columns / GroupSize;

    public override long StorageBytes =>
        (long)Rows * WordsPerRow * 4 + 2L * Rows * GroupsPerRow * ScaleType.Size();

    public override string StorageDescription =>
        $"q{Bits} g{GroupSize} {ScaleType.ToString().ToLowerInvariant()}-scales";

    private QuantizedLayout Layout => new(_packed, _scales, _biases, ScaleType, Rows, Columns, Bits, GroupSize);

    private CodePlan Plan => _plan ??= CodePlan.Get(Columns, Bits, GroupSize, KernelPath);

    private int RowBytes => WordsPerRow * 4 + 2 * GroupsPerRow * ScaleType.Size();

    /// <summary>True for the bit widths MLX affine quantization supports.</summary>
    public static bool IsSupportedBits(int bits) => bits is 2 or 3 or 4 or 5 or 6 or 8;

    protected override void MatVecCore(ReadOnlySpan<float> x, Span<float> y, WorkerPool pool)
    {
        int grain = Math.Max(1, MinimumChunkBytes / RowBytes);
        fixed (float* input = x, output = y)
        {
            if (ActivationPrecision == ActivationPrecision.Float32)
            {
                MatVecFloat(input, output, pool, grain);
            }
            else
            {
                MatVecInteger(input, output, pool, grain);
            }
        }
    }

    private void MatVecFloat(float* input, float* output, WorkerPool pool, int grain)
    {
        var path = KernelPath;
        if (path == KernelPath.Scalar)
        {
            var referenceJob = new ReferenceMatVecJob(Layout, input, output);
            pool.Run(ref referenceJob, Rows, grain);
            return;
        }

        var plan = Plan;
        int paddedGroups = (GroupsPerRow + 15) & ~15;
        float[] buffer = ArrayPool<float>.Shared.Rent(plan.PermutedLength + paddedGroups);
        try
        {
            fixed (float* permuted = buffer)
            {
                // The AVX-512 kernel reads the group sums 16 at a time, so the padding must contain zeros.
                float* groupSums = permuted + plan.PermutedLength;
                new Span<float>(groupSums + GroupsPerRow, paddedGroups - GroupsPerRow).Clear();
                QuantizedKernels.PermuteForMatVec(plan, path, input, permuted);
                QuantizedKernels.GroupSums(input, Columns, GroupSize, groupSums, path);
                var job = new MatVecJob(Layout, plan, path, permuted, groupSums, output);
                pool.Run(ref job, Rows, grain);
            }
        }
        finally
        {
            ArrayPool<float>.Shared.Return(buffer);
        }
    }

    private void MatVecInteger(float* input, float* output, WorkerPool pool, int grain)
    {
        var path = KernelPath;

        // The kernel's reordered copy of the codes follows the quantized activations in the same scratch.
        long bytes = QuantizedActivations.ScratchBytes(1, Columns, GroupSize);
        byte* scratch = ThreadScratch.Activations(bytes + IntegerMatVec.PreparedBytes(Columns));
        var activations = QuantizedActivations.InScratch(scratch, 1, Columns, GroupSize, ActivationPrecision);
        ActivationQuantizer.Quantize(input, 1, activations, ActivationPrecision, path);
        if (path == KernelPath.Scalar)
        {
            var referenceJob = new ReferenceIntegerMatVecJob(Layout, activations, output);
            pool.Run(ref referenceJob, Rows, grain);
            return;
        }

        void* prepared = IntegerMatVec.PrepareCodes(path, Bits, ActivationPrecision, activations, scratch + bytes);
        var integerJob = new IntegerMatVecJob(Layout, activations, prepared, ActivationPrecision, path, output);
        pool.Run(ref integerJob, Rows, grain);
    }

    protected override void MatMulCore(ReadOnlySpan<float> x, int count, Span<float> y, WorkerPool pool)
    {
        var path = KernelPath;
        if (path == KernelPath.Scalar || count < MinimumTiledCount)
        {
            base.MatMulCore(x, count, y, pool);
            return;
        }

        var plan = Plan;
        int length = plan.PermutedLength;
        int rowTile = Math.Clamp(TileFloats / length / 4 * 4, 4, 256);
        float[] buffer = ArrayPool<float>.Shared.Rent(Math.Min(count, TokensPerPass) * length);
        try
        {
            fixed (float* input = x, output = y, permuted = buffer)
            {
                for (int first = 0; first < count; first += TokensPerPass)
                {
                    int tokens = Math.Min(TokensPerPass, count - first);
                    for (int t = 0; t < tokens; t++)
                    {
                        plan.Permute(input + (long)(first + t) * Columns, permuted + (long)t * length);
                    }

                    var job = new MatMulJob(Layout, plan, path, permuted, tokens, output + (long)first * Rows, rowTile);
                    pool.Run(ref job, Rows, rowTile);
                }
            }
        }
        finally
        {
            ArrayPool<float>.Shared.Return(buffer);
        }
    }

    /// <summary>
    /// Reads row <paramref name="row"/> as stored: one code per column in <paramref name="codes"/>, and the scale and
    /// bias of each group as floats, so that w[c] = codes[c]·scales[g] + biases[g] with g = c / <see cref="GroupSize"/>.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The row is outside the matrix.</exception>
    /// <exception cref="ArgumentException">A span is shorter than <see cref="Columns"/> or <see cref="GroupsPerRow"/>.</exception>
    public void ReadRowCodes(int row, Span<byte> codes, Span<float> scales, Span<float> biases)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(row);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(row, Rows);
        if (codes.Length < Columns || scales.Length < GroupsPerRow || biases.Length < GroupsPerRow)
        {
            throw new ArgumentException(
                $"Row {row} needs {Columns} codes and {GroupsPerRow} scales and biases; the spans have {codes.Length}, {scales.Length} and {biases.Length}.");
        }

        var layout = Layout;
        uint* words = layout.RowWords(row);
        for (int c = 0; c < Columns; c++)
        {
            codes[c] = (byte)QuantizedLayout.ExtractCode(words, c, Bits);
        }

        long groupBase = (long)row * GroupsPerRow;
        for (int g = 0; g < GroupsPerRow; g++)
        {
            scales[g] = layout.LoadParameter(layout.Scales, groupBase + g);
            biases[g] = layout.LoadParameter(layout.Biases, groupBase + g);
        }
    }

    protected override void ReadRowCore(int row, Span<float> destination)
    {
        fixed (float* output = destination)
        {
            QuantizedReference.DequantizeRow(Layout, row, output);
        }
    }

    private static ActivationPrecision CheckPrecision(ActivationPrecision value) =>
        Enum.IsDefined(value)
            ? value
            : throw new ArgumentOutOfRangeException(nameof(value), value, "Activation precision must be Float32, Int32, Int16 or Int8.");

    private readonly struct ReferenceIntegerMatVecJob(QuantizedLayout layout, QuantizedActivations x, float* y) : IRangeJob
    {
        public void Execute(int start, int end)
        {
            for (int row = start; row < end; row++)
            {
                y[row] = QuantizedReference.DotRowQuantized(layout, row, x.Codes, x.LowCodes, x.Scales, x.Sums);
            }
        }
    }

    private readonly struct IntegerMatVecJob(
        QuantizedLayout layout,
        QuantizedActivations x,
        void* prepared,
        ActivationPrecision precision,
        KernelPath path,
        float* y) : IRangeJob
    {
        public void Execute(int start, int end)
        {
            float* scratch = ThreadScratch.RowParameters(IntegerMatVec.ScratchLength(layout));
            IntegerMatVec.MatVecRows(layout, x, prepared, precision, path, start, end, y, scratch);
        }
    }

    private readonly struct ReferenceMatVecJob(QuantizedLayout layout, float* x, float* y) : IRangeJob
    {
        public void Execute(int start, int end)
        {
            for (int row = start; row < end; row++)
            {
                y[row] = QuantizedReference.DotRow(layout, row, x);
            }
        }
    }

    private readonly struct MatVecJob(
        QuantizedLayout layout, CodePlan plan, KernelPath path, float* permutedX, float* groupSums, float* y) : IRangeJob
    {
        public void Execute(int start, int end)
        {
            float* scratch = ThreadScratch.RowParameters(QuantizedKernels.ScratchLength(layout));
            QuantizedKernels.MatVecRows(layout, plan, path, permutedX, groupSums, start, end, y, scratch);
        }
    }

    private readonly struct MatMulJob(
        QuantizedLayout layout, CodePlan plan, KernelPath path, float* permutedX, int count, float* y, int rowTile)
        : IRangeJob
    {
        public void Execute(int start, int end)
        {
            int length = plan.PermutedLength;
            float* scratch = ThreadScratch.RowParameters(QuantizedKernels.ScratchLength(layout));
            float* tile = ThreadScratch.Tile(rowTile * length);
            for (int row = start; row < end; row += rowTile)
            {
                int rows = Math.Min(rowTile, end - row);
                QuantizedKernels.DequantizeRows(layout, plan, path, row, rows, tile, scratch);
                MatMulKernels.MultiplyTransposed(
                    path, tile, length, rows, permutedX, length, count, length, y + row, layout.Rows);
            }
        }
    }
}
