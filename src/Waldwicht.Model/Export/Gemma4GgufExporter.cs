using Waldwicht.Formats.Gguf;
using Waldwicht.Model.Gemma4;
using Waldwicht.Numerics.Matrices;

namespace Waldwicht.Model.Export;

/// <summary>
/// Writes a loaded Gemma 4 model as a GGUF file for llama.cpp. Quantized (MLX affine) matrices
/// are dequantized row by row and re-encoded in the requested GGML type, so memory use is bounded
/// by a few megabytes of rows regardless of the model size. Q4_1 and Q5_1 share the affine form
/// w = code·scale + bias, so matrices whose codes fit those widths keep their codes, and only their
/// scales and biases are rounded to binary16 (see <see cref="KeepsCodes"/>).
/// </summary>
public static class Gemma4GgufExporter
{
    // Output bytes converted per parallel step; large enough to keep all threads busy, small
    // enough to keep memory flat.
    private const int ChunkBytes = 4 << 20;

    /// <summary>Exports <paramref name="model"/> to <paramref name="outputPath"/>.</summary>
    /// <remarks>
    /// The file appears only when it is complete: data goes to a temporary file in the same folder,
    /// which is renamed at the end and deleted on failure or cancellation.
    /// </remarks>
    /// <exception cref="IOException">The output exists and <see cref="GgufExportOptions.Force"/> is not set, or writing failed.</exception>
    /// <exception cref="DirectoryNotFoundException">The output folder does not exist.</exception>
    /// <exception cref="ModelFormatException">The model cannot be expressed as a llama.cpp gemma4 file.</exception>
    /// <exception cref="OperationCanceledException">The token was cancelled.</exception>
    public static GgufExportResult Export(
        Gemma4Model model,
        string outputPath,
        GgufExportOptions options,
        IProgress<GgufExportProgress>? progress = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(outputPath);
        ArgumentNullException.ThrowIfNull(options);
        if (options.Threads is int threads && threads <= 0)
        {
            throw new ArgumentOutOfRangeException(nameof(options), threads, "Threads must be positive.");
        }

        string path = Path.GetFullPath(outputPath);
        CheckOutputLocation(path, options.Force);
        var plan = Gemma4GgufPlan.Create(model, options);
        var parallel = new ParallelOptions
        {
            MaxDegreeOfParallelism = options.Threads ?? Environment.ProcessorCount,
            CancellationToken = cancellationToken,
        };

        long total = plan.TensorBytes;
        long done = 0;
        using var writer = GgufWriter.Create(path, plan.Metadata, plan.Tensors.Select(t => t.Declaration));
        for (int i = 0; i < plan.Tensors.Count; i++)
        {
            var tensor = plan.Tensors[i];
            var declaration = tensor.Declaration;
            void Report(long bytes)
            {
                done += bytes;
                progress?.Report(new GgufExportProgress(i + 1, plan.Tensors.Count, declaration.Name, done, total));
            }

            if (tensor.Matrix != null)
            {
                WriteMatrix(writer, declaration, tensor.Matrix, parallel, Report);
            }
            else
            {
                var bytes = new byte[declaration.ByteLength];
                GgmlQuantization.Quantize(declaration.Type, tensor.Vector!, bytes);
                writer.Write(declaration.Name, bytes);
                Report(bytes.Length);
            }
        }

        cancellationToken.ThrowIfCancellationRequested();
        writer.Complete();
        var keptCodes = plan.Tensors
            .Where(t => t.Matrix is QuantizedMatrix quantized && KeepsCodes(t.Declaration.Type, quantized.Bits))
            .Select(t => t.Declaration.Name)
            .ToList();
        return new GgufExportResult(path, writer.FileLength, plan.Tensors.Select(t => t.Declaration).ToList(), plan.Warnings, keptCodes);
    }

    /// <summary>Checks that the output folder exists and that an existing file may be replaced.</summary>
    /// <exception cref="IOException">The file exists and <paramref name="force"/> is false, the path is a folder, or its folder is a file.</exception>
    /// <exception cref="DirectoryNotFoundException">The folder does not exist.</exception>
    public static void CheckOutputLocation(string outputPath, bool force)
    {
        string path = Path.GetFullPath(outputPath);
        string? folder = Path.GetDirectoryName(path);
        if (folder != null && File.Exists(folder))
        {
            throw new IOException($"The output's folder {folder} is a file; give a path inside an existing folder.");
        }

        if (folder != null && !Directory.Exists(folder))
        {
            throw new DirectoryNotFoundException($"Output folder not found: {folder}. Create it first.");
        }

        if (Directory.Exists(path))
        {
            throw new IOException($"The output path {path} is a folder; give a file name such as model-q4_0.gguf.");
        }

        if (File.Exists(path) && !force)
        {
            throw new IOException($"Output file {path} already exists; pass --force to replace it.");
        }
    }

    private static void WriteMatrix(GgufWriter writer, GgufTensorDeclaration declaration, WeightMatrix matrix, ParallelOptions parallel, Action<long> report)
    {
        var type = declaration.Type;
        int columns = matrix.Columns;
        int rowBytes = checked((int)type.RowBytes(columns));
        int chunkRows = Math.Clamp(ChunkBytes / rowBytes, 1, matrix.Rows);
        var buffer = new byte[(long)chunkRows * rowBytes];
        Func<RowEncoder> createEncoder = matrix is QuantizedMatrix quantized && KeepsCodes(type, quantized.Bits)
            ? () => new CodeCopier(quantized, type)
            : () => new RowQuantizer(matrix, type);
        for (int start = 0; start < matrix.Rows; start += chunkRows)
        {
            parallel.CancellationToken.ThrowIfCancellationRequested();
            int count = Math.Min(chunkRows, matrix.Rows - start);
            int first = start;
            Parallel.For(
                0,
                count,
                parallel,
                createEncoder,
                (r, _, rowEncoder) =>
                {
                    rowEncoder.Encode(first + r, buffer.AsSpan(r * rowBytes, rowBytes));
                    return rowEncoder;
                },
                _ => { });
            writer.Write(declaration.Name, buffer.AsSpan(0, count * rowBytes));
            report((long)count * rowBytes);
        }
    }

    /// <summary>
    /// True when a matrix of <paramref name="bits"/>-bit MLX codes is written as <paramref name="type"/> by copying
    /// its codes: codes of up to 4 bits into Q4_1 and of up to 5 bits into Q5_1. Every MLX group size (32, 64, 128)
    /// is a multiple of the 32-weight GGML block, so each block takes its group's scale and bias, and the weights
    /// change only by the binary16 rounding of those two. Quantizing the dequantized weights again would add
    /// rounding error wherever a block does not use the whole code range.
    /// </summary>
    public static bool KeepsCodes(GgmlType type, int bits) =>
        (type == GgmlType.Q4_1 && bits <= 4) || (type == GgmlType.Q5_1 && bits <= 5);

    // Encodes rows of one matrix in its GGUF type, with buffers for one thread.
    private abstract class RowEncoder
    {
        public abstract void Encode(int row, Span<byte> destination);
    }

    // Dequantizes (or reads) a row as floats and quantizes it as ggml's reference quantizer does.
    private sealed class RowQuantizer(WeightMatrix matrix, GgmlType type) : RowEncoder
    {
        private readonly float[] _row = new float[matrix.Columns];

        public override void Encode(int row, Span<byte> destination)
        {
            matrix.ReadRow(row, _row);
            GgmlQuantization.Quantize(type, _row, destination);
        }
    }

    // Copies a quantized row's codes into Q4_1 or Q5_1 blocks, each with its group's scale and bias.
    private sealed class CodeCopier(QuantizedMatrix matrix, GgmlType type) : RowEncoder
    {
        private readonly byte[] _codes = new byte[matrix.Columns];
        private readonly float[] _scales = new float[matrix.GroupsPerRow];
        private readonly float[] _biases = new float[matrix.GroupsPerRow];

        public override void Encode(int row, Span<byte> destination)
        {
            matrix.ReadRowCodes(row, _codes, _scales, _biases);
            int blockSize = type.BlockSize();
            int blockBytes = type.BlockBytes();
            for (int block = 0; block < matrix.Columns / blockSize; block++)
            {
                int group = block * blockSize / matrix.GroupSize;
                GgmlQuantization.EncodeBlockWithMinimum(
                    type,
                    _codes.AsSpan(block * blockSize, blockSize),
                    _scales[group],
                    _biases[group],
                    destination.Slice(block * blockBytes, blockBytes));
            }
        }
    }
}
