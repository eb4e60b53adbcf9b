using System.Buffers.Binary;
using System.Globalization;
using System.Reflection;
using System.Runtime.ExceptionServices;
using System.Runtime.InteropServices;
using System.Text;
using Waldwicht.Formats.Safetensors;
using Waldwicht.Quantization.Conversion;
using Waldwicht.Quantization.IO;

namespace Waldwicht.Quantization.Synthetic;

/// <summary>Progress of <see cref="SyntheticCheckpoint.Write(SyntheticPreset, string, SyntheticOptions, IProgress{SyntheticProgress}?, CancellationToken)"/> in bytes of tensor data.</summary>
/// <param name="Tensor">Name of the tensor being generated.</param>
/// <param name="Done">Bytes written so far.</param>
/// <param name="Total">Bytes of all tensors.</param>
public readonly record struct SyntheticProgress(string Tensor, long Done, long Total);

/// <summary>Settings of a synthetic checkpoint.</summary>
public sealed record SyntheticOptions
{
    /// <summary>Seed of the random weights; the same seed gives the same bytes.</summary>
    public int Seed { get; init; }

    /// <summary>Replaces an existing output folder (only after the new one is complete).</summary>
    public bool Force { get; init; }

    /// <summary>
    /// A full Gemma 4 tokenizer.json, or a folder that contains one, for the e2b and e4b presets.
    /// When null, .cache/gemma4-tokenizer/tokenizer.json is searched from the current folder
    /// upwards; without one, the 512-piece test tokenizer is written and a warning returned.
    /// </summary>
    public string? TokenizerPath { get; init; }

    /// <summary>Worker threads (null: all processors).</summary>
    public int? Threads { get; init; }
}

/// <summary>The outcome of writing a synthetic checkpoint.</summary>
/// <param name="OutputDirectory">Full path of the written folder.</param>
/// <param name="Files">Names of the files in the folder, sorted.</param>
/// <param name="TensorBytes">Bytes of tensor data.</param>
/// <param name="TokenizerSource">Where tokenizer.json came from: a path, or "built-in 512-piece test tokenizer".</param>
/// <param name="Warnings">Conditions worth a warning, such as a missing full tokenizer.</param>
public sealed record SyntheticResult(
    string OutputDirectory, IReadOnlyList<string> Files, long TensorBytes, string TokenizerSource, IReadOnlyList<string> Warnings);

/// <summary>
/// Writes random-weight BF16 Gemma 4 checkpoints with the real tensor names, shapes, config.json
/// and file layout, for tests and benchmarks without downloading a model. The weights are random:
/// such a model produces meaningless text.
/// </summary>
/// <remarks>
/// The tensors go into one model.safetensors file in name order with metadata format = pt, as in
/// the google/gemma-4-E2B-it release (without its vision and audio towers). Generation streams
/// block by block in parallel, and the output folder appears only when complete.
/// </remarks>
public static class SyntheticCheckpoint
{
    /// <summary>Name of the tokenizer that <see cref="SyntheticResult.TokenizerSource"/> reports when the built-in one was written.</summary>
    public const string BuiltInTokenizer = "built-in 512-piece test tokenizer";

    private const string FullTokenizerFolder = "gemma4-tokenizer";
    private const int BlockBytes = 32 << 20;

    /// <summary>Writes a synthetic checkpoint with the given seed into a new folder.</summary>
    /// <inheritdoc cref="Write(SyntheticPreset, string, SyntheticOptions, IProgress{SyntheticProgress}?, CancellationToken)"/>
    public static SyntheticResult Write(
        SyntheticPreset preset, string outputDirectory, int seed, IProgress<SyntheticProgress>? progress = null, CancellationToken cancellationToken = default) =>
        Write(preset, outputDirectory, new SyntheticOptions { Seed = seed }, progress, cancellationToken);

    /// <summary>Writes a synthetic checkpoint into a new folder.</summary>
    /// <param name="preset">Architecture: <see cref="SyntheticPreset.Tiny"/>, <see cref="SyntheticPreset.E2B"/> or <see cref="SyntheticPreset.E4B"/>.</param>
    /// <param name="outputDirectory">The folder to create.</param>
    /// <param name="options">Seed, replacement and tokenizer settings.</param>
    /// <param name="progress">Receives progress after every block of every tensor.</param>
    /// <param name="cancellationToken">Cancels the run; nothing is left behind.</param>
    /// <exception cref="IOException">The output exists without Force, or writing failed.</exception>
    /// <exception cref="FileNotFoundException">The given tokenizer path does not exist.</exception>
    /// <exception cref="OperationCanceledException">The run was cancelled.</exception>
    public static SyntheticResult Write(
        SyntheticPreset preset,
        string outputDirectory,
        SyntheticOptions options,
        IProgress<SyntheticProgress>? progress = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(preset);
        ArgumentNullException.ThrowIfNull(options);
        if (options.Threads is int threads && threads <= 0)
        {
            throw new ArgumentException($"The thread count must be positive; got {threads}.");
        }

        var warnings = new List<string>();
        string? tokenizer = ResolveTokenizer(preset, options.TokenizerPath, warnings);
        var tensors = preset.Tensors();
        using var output = AtomicOutputDirectory.Create(outputDirectory, options.Force);
        WriteWeights(Path.Combine(output.TemporaryPath, "model.safetensors"), tensors, options, progress, cancellationToken);
        WriteSupportFiles(preset, output.TemporaryPath, tokenizer, options.Seed);
        cancellationToken.ThrowIfCancellationRequested();
        output.Commit();

        var files = Directory.GetFiles(output.TargetPath).Select(Path.GetFileName).Order(StringComparer.Ordinal).ToList();
        return new SyntheticResult(output.TargetPath, files!, tensors.Sum(t => t.ByteLength), tokenizer ?? BuiltInTokenizer, warnings);
    }

    /// <summary>
    /// Finds a full Gemma 4 tokenizer: .cache/gemma4-tokenizer/tokenizer.json in
    /// <paramref name="startDirectory"/> (default: the current folder) or any folder above it.
    /// </summary>
    /// <returns>The path, or null when there is none.</returns>
    public static string? FindFullTokenizer(string? startDirectory = null)
    {
        for (var directory = new DirectoryInfo(startDirectory ?? Environment.CurrentDirectory); directory != null; directory = directory.Parent)
        {
            string candidate = Path.Combine(directory.FullName, ".cache", FullTokenizerFolder, "tokenizer.json");
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        return null;
    }

    /// <summary>
    /// Writes config.json and a model.safetensors that contains only the length prefix and the header
    /// (about 160 kB for E2B), for tests that plan from headers; see <see cref="SourceCheckpoint.OpenHeadersOnly"/>.
    /// </summary>
    internal static void WriteHeaderOnly(SyntheticPreset preset, string directory)
    {
        Directory.CreateDirectory(directory);
        var tensors = preset.Tensors();
        QuantizedConfigWriter.WriteJson(Path.Combine(directory, "config.json"), preset.ConfigJson(), 2, trailingNewline: true);
        byte[] header = SafetensorsWriter.EncodeHeader(tensors, Metadata);
        using var stream = new FileStream(Path.Combine(directory, "model.safetensors"), FileMode.CreateNew, FileAccess.Write);
        Span<byte> prefix = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(prefix, (ulong)header.LongLength);
        stream.Write(prefix);
        stream.Write(header);
    }

    private static IReadOnlyList<KeyValuePair<string, string>> Metadata { get; } = [new("format", "pt")];

    // Generates block k + 1 on worker threads while this thread writes block k, so that the
    // random number generation hides behind the disk writes.
    private static void WriteWeights(
        string path, IReadOnlyList<TensorDeclaration> tensors, SyntheticOptions options, IProgress<SyntheticProgress>? progress, CancellationToken cancellationToken)
    {
        var parallel = new ParallelOptions
        {
            MaxDegreeOfParallelism = options.Threads ?? Environment.ProcessorCount,
            CancellationToken = cancellationToken,
        };
        var blocks = Blocks(tensors, options.Seed).ToList();
        long total = tensors.Sum(t => t.ByteLength);
        long done = 0;
        int capacity = blocks.Count == 0 ? 0 : blocks.Max(b => b.Rows * b.Weights.Columns);
        ushort[] current = GC.AllocateUninitializedArray<ushort>(capacity);
        ushort[] next = GC.AllocateUninitializedArray<ushort>(capacity);

        using var writer = SafetensorsWriter.Create(path, tensors, Metadata);
        Task? pending = blocks.Count == 0 ? null : Task.Run(() => Generate(blocks[0], current, parallel), cancellationToken);
        for (int i = 0; i < blocks.Count; i++)
        {
            pending!.GetAwaiter().GetResult();
            if (i + 1 < blocks.Count)
            {
                var following = blocks[i + 1];
                var target = next;
                pending = Task.Run(() => Generate(following, target, parallel), cancellationToken);
            }

            var block = blocks[i];
            int count = block.Rows * block.Weights.Columns;
            try
            {
                writer.Write(block.Weights.TensorName, MemoryMarshal.AsBytes(current.AsSpan(0, count)));
            }
            catch
            {
                WaitQuietly(pending);
                throw;
            }

            done += 2L * count;
            progress?.Report(new SyntheticProgress(block.Weights.TensorName, done, total));
            (current, next) = (next, current);
        }

        writer.Complete();
    }

    private static IEnumerable<Block> Blocks(IReadOnlyList<TensorDeclaration> tensors, int seed)
    {
        foreach (var tensor in tensors)
        {
            var weights = new SyntheticWeights(seed, tensor.Name, tensor.Shape);
            int blockRows = (int)Math.Clamp(BlockBytes / (2L * weights.Columns), 1, weights.Rows);
            for (long start = 0; start < weights.Rows; start += blockRows)
            {
                yield return new Block(weights, start, (int)Math.Min(blockRows, weights.Rows - start));
            }
        }
    }

    private static void Generate(Block block, ushort[] buffer, ParallelOptions parallel)
    {
        int columns = block.Weights.Columns;
        int slices = Math.Min(block.Rows, parallel.MaxDegreeOfParallelism * 4);
        RunParallel(slices, parallel, slice =>
        {
            int first = (int)((long)block.Rows * slice / slices);
            int last = (int)((long)block.Rows * (slice + 1) / slices);
            for (int row = first; row < last; row++)
            {
                block.Weights.FillRow(block.FirstRow + row, buffer.AsSpan(row * columns, columns));
            }
        });
    }

    private static void WaitQuietly(Task? task)
    {
        try
        {
            task?.Wait();
        }
        catch (AggregateException)
        {
            // The write failure that stopped the run is the error to report.
        }
    }

    private static void RunParallel(int count, ParallelOptions options, Action<int> body)
    {
        if (count == 1)
        {
            body(0);
            return;
        }

        try
        {
            Parallel.For(0, count, options, body);
        }
        catch (AggregateException ex) when (ex.InnerExceptions.Count > 0)
        {
            ExceptionDispatchInfo.Capture(ex.InnerExceptions[0]).Throw();
        }
    }

    // Returns the full tokenizer to copy, or null for the built-in one.
    private static string? ResolveTokenizer(SyntheticPreset preset, string? requested, List<string> warnings)
    {
        if (requested != null)
        {
            string path = Directory.Exists(requested) ? Path.Combine(requested, "tokenizer.json") : requested;
            if (!File.Exists(path))
            {
                throw new FileNotFoundException($"Tokenizer not found: {path}; give a tokenizer.json file or a folder that contains one.", path);
            }

            return Path.GetFullPath(path);
        }

        if (preset.VocabSize <= SyntheticPreset.Tiny.VocabSize)
        {
            return null;
        }

        string? found = FindFullTokenizer();
        if (found == null)
        {
            warnings.Add(
                $"No full Gemma 4 tokenizer found (.cache/{FullTokenizerFolder}/tokenizer.json); wrote the {BuiltInTokenizer}, which covers ids 0 to 511 only. "
                + "Pass --tokenizer PATH or run scripts/fetch-test-assets.sh for the full vocabulary.");
        }

        return found;
    }

    private static void WriteSupportFiles(SyntheticPreset preset, string directory, string? tokenizer, int seed)
    {
        QuantizedConfigWriter.WriteJson(Path.Combine(directory, "config.json"), preset.ConfigJson(), 2, trailingNewline: true);
        CopyResource("generation_config.json", directory);
        CopyResource("tokenizer_config.json", directory);
        if (tokenizer == null)
        {
            CopyResource("tokenizer.json", directory);
        }
        else
        {
            File.Copy(tokenizer, Path.Combine(directory, "tokenizer.json"));
        }

        string card = string.Create(
            CultureInfo.InvariantCulture,
            $"""
            # Synthetic Gemma 4 {preset.Name.ToUpperInvariant()} (random weights)

            Written by `waldwicht synth --config {preset.Name} --seed {seed}`. The tensor names, shapes and
            config.json follow the Gemma 4 {preset.Name.ToUpperInvariant()} text decoder ({preset.NumHiddenLayers} layers, hidden size
            {preset.HiddenSize}), but the weights are random, so the model produces meaningless text. Use it to test
            conversion, loading and speed, not quality. The same seed always gives the same bytes.

            """);
        File.WriteAllText(Path.Combine(directory, ModelCard.FileName), card, new UTF8Encoding(encoderShouldEmitUTF8Identifier: false));
    }

    private readonly record struct Block(SyntheticWeights Weights, long FirstRow, int Rows);

    private static void CopyResource(string name, string directory)
    {
        using var resource = Assembly.GetExecutingAssembly().GetManifestResourceStream("Waldwicht.Quantization.Synthetic.Assets." + name)
            ?? throw new InvalidOperationException($"The embedded resource {name} is missing from {Assembly.GetExecutingAssembly().GetName().Name}.");
        using var file = new FileStream(Path.Combine(directory, name), FileMode.CreateNew, FileAccess.Write);
        resource.CopyTo(file);
    }
}
