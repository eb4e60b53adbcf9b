using Waldwicht.Formats.Safetensors;
using Waldwicht.Quantization.IO;

namespace Waldwicht.Quantization.Conversion;

/// <summary>
/// Converts an unquantized Gemma 4 checkpoint folder into an MLX affine-quantized one, streaming
/// tensor by tensor and block by block, into a temporary folder that is renamed to the output
/// only when everything has been written. The input is only read.
/// </summary>
public static class CheckpointQuantizer
{
    /// <summary>Files copied from the source folder when present: generation settings, tokenizer and chat template.</summary>
    public static IReadOnlyList<string> SupportFiles { get; } =
    [
        "generation_config.json", "tokenizer.json", "tokenizer_config.json", "tokenizer.model",
        "special_tokens_map.json", "added_tokens.json", "chat_template.jinja", "chat_template.json",
    ];

    /// <summary>Plans and runs the quantization of <paramref name="sourceDirectory"/> into <paramref name="outputDirectory"/>.</summary>
    /// <inheritdoc cref="Execute"/>
    public static QuantizationResult Quantize(
        string sourceDirectory,
        string outputDirectory,
        QuantizeOptions options,
        IProgress<QuantizationProgress>? progress = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        CheckOutputLocation(sourceDirectory, outputDirectory, options.Force);
        var plan = QuantizationPlanner.Plan(sourceDirectory, options);
        return Execute(plan, outputDirectory, progress, cancellationToken);
    }

    /// <summary>Runs a plan, writing the quantized checkpoint to <paramref name="outputDirectory"/>.</summary>
    /// <param name="plan">The plan, from <see cref="QuantizationPlanner"/>.</param>
    /// <param name="outputDirectory">The folder to create (replaced only after success when the options allow it).</param>
    /// <param name="progress">Receives progress on the converting thread, after every block and tensor.</param>
    /// <param name="cancellationToken">Cancels the run; nothing is left behind.</param>
    /// <exception cref="IOException">The output exists without Force, lies inside the input (or the input inside it), or writing failed.</exception>
    /// <exception cref="Model.ModelFormatException">A weight contains NaN or infinity.</exception>
    /// <exception cref="OperationCanceledException">The run was cancelled.</exception>
    public static QuantizationResult Execute(
        QuantizationPlan plan,
        string outputDirectory,
        IProgress<QuantizationProgress>? progress = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(plan);
        var options = plan.Options;
        CheckOutputLocation(plan.Source.Directory, outputDirectory, options.Force);

        var warnings = new List<string>(plan.Warnings);
        using var output = AtomicOutputDirectory.Create(outputDirectory, options.Force);
        using (var reader = new TensorReader(plan.Source.ShardPaths))
        {
            var run = new ConversionRun(plan, reader, progress, cancellationToken);
            foreach (var shard in plan.Shards)
            {
                run.WriteShard(Path.Combine(output.TemporaryPath, shard.FileName), shard);
            }
        }

        QuantizedConfigWriter.Write(plan, output.TemporaryPath);
        CopySupportFiles(plan.Source.Directory, output.TemporaryPath, warnings);
        ModelCard.Write(plan, Path.GetFileName(output.TargetPath), Path.Combine(output.TemporaryPath, ModelCard.FileName));
        cancellationToken.ThrowIfCancellationRequested();

        output.Commit();
        var files = Directory.GetFiles(output.TargetPath).Select(Path.GetFileName).Order(StringComparer.Ordinal).ToList();
        long safetensorsBytes = plan.Shards.Sum(s => new FileInfo(Path.Combine(output.TargetPath, s.FileName)).Length);
        return new QuantizationResult(plan, output.TargetPath, files!, safetensorsBytes, warnings);
    }

    /// <summary>
    /// Rejects an output folder that would modify the input: the input folder itself, a folder
    /// inside it, or (when replacing) a folder that contains the input.
    /// </summary>
    /// <exception cref="IOException">The output overlaps the input, or exists without <paramref name="force"/>.</exception>
    public static void CheckOutputLocation(string sourceDirectory, string outputDirectory, bool force)
    {
        ArgumentNullException.ThrowIfNull(sourceDirectory);
        ArgumentNullException.ThrowIfNull(outputDirectory);
        string source = Path.TrimEndingDirectorySeparator(Path.GetFullPath(sourceDirectory));
        string output = Path.TrimEndingDirectorySeparator(Path.GetFullPath(outputDirectory));
        var comparison = OperatingSystem.IsLinux() ? StringComparison.Ordinal : StringComparison.OrdinalIgnoreCase;
        if (string.Equals(source, output, comparison))
        {
            throw new IOException($"--output {output} is the input folder; write the quantized model to a new folder.");
        }

        if (output.StartsWith(source + Path.DirectorySeparatorChar, comparison))
        {
            throw new IOException($"--output {output} lies inside the input folder {source}; choose a folder outside it, so the input stays unchanged.");
        }

        if (source.StartsWith(output + Path.DirectorySeparatorChar, comparison))
        {
            throw new IOException($"The input folder {source} lies inside --output {output}; writing there would replace the input, so choose another output folder.");
        }

        AtomicOutputDirectory.CheckTarget(output, force);
    }

    private static void CopySupportFiles(string sourceDirectory, string outputDirectory, List<string> warnings)
    {
        foreach (var name in SupportFiles)
        {
            string path = Path.Combine(sourceDirectory, name);
            if (File.Exists(path))
            {
                File.Copy(path, Path.Combine(outputDirectory, name));
            }
        }

        if (!File.Exists(Path.Combine(sourceDirectory, "tokenizer.json")))
        {
            warnings.Add($"{sourceDirectory} has no tokenizer.json; copy the tokenizer files into the output folder before running the model.");
        }
    }

    /// <summary>Writes the shards of one plan, tracking progress per source tensor.</summary>
    private sealed class ConversionRun
    {
        private readonly QuantizationPlan _plan;
        private readonly TensorReader _reader;
        private readonly StreamingQuantizer _quantizer;
        private readonly IProgress<QuantizationProgress>? _progress;
        private readonly CancellationToken _cancellationToken;
        private readonly Dictionary<string, (PlannedTensor Tensor, string Role)> _outputs = new(StringComparer.Ordinal);
        private readonly Dictionary<PlannedTensor, GroupTables> _groups = [];
        private readonly Dictionary<PlannedTensor, long> _workDone = [];
        private readonly int _tensorCount;
        private readonly long _totalWork;
        private byte[] _copyBuffer = [];
        private int _tensorNumber;
        private long _done;

        public ConversionRun(QuantizationPlan plan, TensorReader reader, IProgress<QuantizationProgress>? progress, CancellationToken cancellationToken)
        {
            _plan = plan;
            _reader = reader;
            _progress = progress;
            _cancellationToken = cancellationToken;
            _quantizer = new StreamingQuantizer(reader, plan.Options, cancellationToken);
            foreach (var tensor in plan.Tensors)
            {
                switch (tensor.Action)
                {
                    case TensorAction.Keep:
                        _outputs[tensor.OutputName] = (tensor, "copy");
                        break;
                    case TensorAction.Quantize:
                        _outputs[tensor.Module + ".weight"] = (tensor, "weight");
                        _outputs[tensor.Module + ".scales"] = (tensor, "scales");
                        _outputs[tensor.Module + ".biases"] = (tensor, "biases");
                        break;
                }

                if (tensor.Action != TensorAction.Drop)
                {
                    _tensorCount++;
                    _totalWork += Work(tensor);
                }
            }
        }

        public void WriteShard(string path, PlannedShard shard)
        {
            using var writer = SafetensorsWriter.Create(path, shard.Tensors, shard.Metadata);
            foreach (var declaration in shard.Tensors)
            {
                _cancellationToken.ThrowIfCancellationRequested();
                var (tensor, role) = _outputs[declaration.Name];
                switch (role)
                {
                    case "copy":
                        Copy(tensor, writer, declaration.Name);
                        break;
                    case "weight":
                        _quantizer.WritePacked(tensor, writer, declaration.Name, bytes => Advance(tensor, bytes));
                        break;
                    default:
                        var groups = GroupsOf(tensor);
                        writer.Write(declaration.Name, role == "scales" ? groups.Scales : groups.Biases);
                        break;
                }
            }

            writer.Complete();
        }

        private static long Work(PlannedTensor tensor) =>
            tensor.Action == TensorAction.Quantize ? 2 * tensor.Source.Info.ByteLength : tensor.Source.Info.ByteLength;

        // The first of scales and biases computes both; the tables are released once both are written.
        private GroupTables GroupsOf(PlannedTensor tensor)
        {
            if (_groups.Remove(tensor, out var groups))
            {
                return groups;
            }

            groups = _quantizer.ComputeGroups(tensor, bytes => Advance(tensor, bytes));
            _groups[tensor] = groups;
            return groups;
        }

        private void Copy(PlannedTensor tensor, SafetensorsWriter writer, string outputName)
        {
            long length = tensor.Source.Info.ByteLength;
            if (length == 0)
            {
                Advance(tensor, 0);
                return;
            }

            const int chunk = 16 << 20;
            if (_copyBuffer.Length < Math.Min(chunk, length))
            {
                _copyBuffer = GC.AllocateUninitializedArray<byte>((int)Math.Min(chunk, length));
            }

            for (long offset = 0; offset < length; offset += chunk)
            {
                _cancellationToken.ThrowIfCancellationRequested();
                int count = (int)Math.Min(chunk, length - offset);
                _reader.Read(tensor.Source, offset, _copyBuffer.AsSpan(0, count));
                writer.Write(outputName, _copyBuffer.AsSpan(0, count));
                Advance(tensor, count);
            }
        }

        private void Advance(PlannedTensor tensor, long bytes)
        {
            if (!_workDone.TryGetValue(tensor, out long tensorDone))
            {
                _tensorNumber++;
            }

            tensorDone += bytes;
            _workDone[tensor] = tensorDone;
            _done += bytes;
            _progress?.Report(new QuantizationProgress(
                tensor.Source.Name, _tensorNumber, _tensorCount, tensorDone, Work(tensor), _done, _totalWork));
        }
    }
}
