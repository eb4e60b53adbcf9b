using System.Globalization;
using System.Text.Json.Nodes;
using Waldwicht.Formats.Mlx;
using Waldwicht.Formats.Safetensors;
using Waldwicht.Model.Gemma4;
using Waldwicht.Numerics.Matrices;
using Waldwicht.Quantization.Recipes;

namespace Waldwicht.Quantization.Conversion;

/// <summary>
/// Decides, from headers alone, what happens to every tensor of a source checkpoint, how the output
/// is named and sharded, and which overrides config.json needs.
/// </summary>
/// <remarks>
/// The rules follow the Waldwicht exporter. A tensor is a candidate when its name ends in ".weight"
/// and it contains floats. Its component is the first listed one whose pattern is a substring of
/// its name, else the default. It is quantized when it is 2-D and its last dimension is a multiple
/// of that component's group size, and copied unchanged otherwise, so a recipe entry never forces
/// quantization.
/// </remarks>
public static class QuantizationPlanner
{
    /// <summary>Shard limit of the Waldwicht exporter: 2 GiB.</summary>
    public const long WaldwichtShardBytes = 2L << 30;

    /// <summary>Shard limit of mlx-lm's save_model: 5 GiB.</summary>
    public const long MlxLmShardBytes = 5L << 30;

    private static readonly string[] MlxSanitizedSubstrings = ["self_attn.rotary_emb", "input_max", "input_min", "output_max", "output_min"];

    // Order of a decoder layer's modules in mlx-lm's module tree, which orders its config entries.
    private static readonly string[] LayerModuleOrder =
    [
        "self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
        "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj", "per_layer_input_gate", "per_layer_projection",
    ];

    /// <summary>Reads the headers of a checkpoint folder and plans its quantization.</summary>
    /// <inheritdoc cref="SourceCheckpoint.Open"/>
    /// <exception cref="InvalidOperationException">The recipe quantizes no tensor at all.</exception>
    public static QuantizationPlan Plan(string sourceDirectory, QuantizeOptions options) =>
        Plan(SourceCheckpoint.Open(sourceDirectory), options);

    /// <summary>Plans the quantization of an opened source checkpoint.</summary>
    /// <exception cref="InvalidOperationException">The recipe quantizes no tensor at all.</exception>
    public static QuantizationPlan Plan(SourceCheckpoint source, QuantizeOptions options)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();

        var outputNames = new OutputNaming(source, options);
        var tensors = source.Tensors.Select(t => PlanTensor(t, options, outputNames)).ToList();
        if (!tensors.Any(t => t.Action == TensorAction.Quantize))
        {
            throw new InvalidOperationException(
                $"Recipe {options.Recipe} quantizes no tensor of {source.Directory}: no weight matrix has a last dimension that is a multiple of its group size. "
                + "Choose a group size that divides the input dimensions, such as --group-size 32.");
        }

        var warnings = new List<string>();
        AddUnquantizedWarnings(tensors, source, options, warnings);

        var outputNamesInUse = new HashSet<string>(StringComparer.Ordinal);
        var declarations = new List<TensorDeclaration>();
        foreach (var tensor in tensors)
        {
            foreach (var declaration in Declare(tensor, options.ScaleType))
            {
                if (!outputNamesInUse.Add(declaration.Name))
                {
                    throw new InvalidOperationException(
                        $"Two source tensors map to the output tensor '{declaration.Name}' in the {options.Layout} layout; the checkpoint mixes naming styles.");
                }

                declarations.Add(declaration);
            }
        }

        declarations.Sort((a, b) => string.CompareOrdinal(a.Name, b.Name));
        var shards = Shard(declarations, options.Layout);
        var entries = options.Layout == CheckpointLayout.Waldwicht
            ? LeafEntries(tensors, options, outputNames, warnings)
            : FullPathEntries(tensors, options, outputNames);
        CheckResolution(tensors, source, options, outputNames, entries);
        long totalParameters = CountParameters(tensors);
        return new QuantizationPlan(source, options, tensors, shards, entries, totalParameters, warnings);
    }

    /// <summary>Bytes of one quantized matrix: packed codes plus scales and biases.</summary>
    public static long QuantizedBytes(long rows, long columns, QuantizationParameters parameters, ElementType scaleType) =>
        (rows * columns / 32 * parameters.Bits * 4) + (2L * rows * (columns / parameters.GroupSize) * scaleType.Size());

    private static PlannedTensor PlanTensor(SourceTensor tensor, QuantizeOptions options, OutputNaming naming)
    {
        var info = tensor.Info;
        string? outputName = naming.OutputName(tensor.Name, out string? dropReason);
        if (outputName == null)
        {
            return new PlannedTensor(tensor, TensorAction.Drop, null, null, "", 0, dropReason);
        }

        bool candidate = tensor.Name.EndsWith(".weight", StringComparison.Ordinal)
            && info.DType is SafetensorsDType.BF16 or SafetensorsDType.F16 or SafetensorsDType.F32;
        if (!candidate)
        {
            return Keep(tensor, outputName, tensor.Name.EndsWith(".weight", StringComparison.Ordinal) ? $"dtype {info.DType.HeaderName()}" : "not a weight");
        }

        var component = options.Recipe.Classify(tensor.Name);
        var parameters = options.Recipe.ParametersFor(component);
        if (info.Rank != 2)
        {
            return Keep(tensor, outputName, $"{info.Rank}-D");
        }

        long rows = info.Shape[0];
        long columns = info.Shape[1];
        if (rows == 0 || columns == 0)
        {
            return Keep(tensor, outputName, "empty");
        }

        if (columns % parameters.GroupSize != 0)
        {
            return Keep(tensor, outputName, $"last dimension {columns} is not a multiple of group size {parameters.GroupSize}");
        }

        if (rows > int.MaxValue || columns > int.MaxValue / 4)
        {
            throw new InvalidOperationException($"Tensor '{tensor.Name}' {info.ShapeText} is too large to quantize.");
        }

        return new PlannedTensor(
            tensor, TensorAction.Quantize, component, parameters, outputName, QuantizedBytes(rows, columns, parameters, options.ScaleType), null);
    }

    private static PlannedTensor Keep(SourceTensor tensor, string outputName, string reason) =>
        new(tensor, TensorAction.Keep, null, null, outputName, tensor.Info.ByteLength, reason);

    private static IEnumerable<TensorDeclaration> Declare(PlannedTensor tensor, ElementType scaleType)
    {
        var info = tensor.Source.Info;
        switch (tensor.Action)
        {
            case TensorAction.Keep:
                yield return new TensorDeclaration(tensor.OutputName, info.DType, (long[])info.Shape.Clone());
                break;
            case TensorAction.Quantize:
                var parameters = tensor.Parameters!.Value;
                long rows = info.Shape[0];
                long columns = info.Shape[1];
                var scaleDType = scaleType == ElementType.BF16 ? SafetensorsDType.BF16 : SafetensorsDType.F32;
                yield return new TensorDeclaration(tensor.Module + ".weight", SafetensorsDType.U32, [rows, columns / 32 * parameters.Bits]);
                yield return new TensorDeclaration(tensor.Module + ".scales", scaleDType, [rows, columns / parameters.GroupSize]);
                yield return new TensorDeclaration(tensor.Module + ".biases", scaleDType, [rows, columns / parameters.GroupSize]);
                break;
        }
    }

    // Waldwicht: start a new shard when the next tensor would exceed the limit, never leaving an
    // empty shard. mlx-lm uses the same rule with its own limit.
    private static List<PlannedShard> Shard(List<TensorDeclaration> declarations, CheckpointLayout layout)
    {
        long limit = layout == CheckpointLayout.Waldwicht ? WaldwichtShardBytes : MlxLmShardBytes;
        var groups = new List<List<TensorDeclaration>>();
        var current = new List<TensorDeclaration>();
        long size = 0;
        foreach (var declaration in declarations)
        {
            long bytes = declaration.ByteLength;
            if (current.Count > 0 && size + bytes > limit)
            {
                groups.Add(current);
                current = [];
                size = 0;
            }

            current.Add(declaration);
            size += bytes;
        }

        groups.Add(current);
        IReadOnlyList<KeyValuePair<string, string>>? metadata = layout == CheckpointLayout.MlxLm
            ? [new KeyValuePair<string, string>("format", "mlx")]
            : null;
        var shards = new List<PlannedShard>();
        for (int i = 0; i < groups.Count; i++)
        {
            string fileName = groups.Count == 1
                ? "model.safetensors"
                : string.Create(CultureInfo.InvariantCulture, $"model-{i + 1:D5}-of-{groups.Count:D5}.safetensors");
            long headerBytes = SafetensorsWriter.EncodeHeader(groups[i], metadata).LongLength;
            long dataBytes = groups[i].Sum(t => t.ByteLength);
            shards.Add(new PlannedShard(fileName, groups[i], metadata, 8 + headerBytes + dataBytes));
        }

        return shards;
    }

    // One entry per pattern of every listed component whose parameters differ from the default,
    // as the Waldwicht exporter writes them, except leaves whose text modules all stay
    // unquantized: the Waldwicht-patched mlx-lm loader would force quantization onto them.
    private static List<KeyValuePair<string, QuantizationParameters>> LeafEntries(
        List<PlannedTensor> tensors, QuantizeOptions options, OutputNaming naming, List<string> warnings)
    {
        var entries = new List<KeyValuePair<string, QuantizationParameters>>();
        var recipe = options.Recipe;
        foreach (var setting in recipe.Components)
        {
            if (setting.Parameters == recipe.Default)
            {
                continue;
            }

            foreach (var leaf in setting.Component.Patterns())
            {
                var modules = tensors
                    .Where(t => t.Action != TensorAction.Drop && naming.IsTextModuleWeight(t.OutputName) && Leaf(t.Module) == leaf)
                    .ToList();
                int quantized = modules.Count(t => t.Action == TensorAction.Quantize);
                if (modules.Count > 0 && quantized == 0)
                {
                    continue;
                }

                if (quantized < modules.Count)
                {
                    warnings.Add(
                        $"{modules.Count - quantized} of {modules.Count} '{leaf}' modules stay unquantized while the others are quantized; "
                        + "Waldwicht loads this model, but mlx-lm with the Waldwicht leaf-name patch does not.");
                }

                entries.Add(new KeyValuePair<string, QuantizationParameters>(leaf, setting.Parameters));
            }
        }

        return entries;
    }

    // mlx-lm writes a full-path entry for every quantized module whose parameters differ from the
    // global ones, in the order of its module tree.
    private static List<KeyValuePair<string, QuantizationParameters>> FullPathEntries(
        List<PlannedTensor> tensors, QuantizeOptions options, OutputNaming naming)
    {
        var global = options.Recipe.Default;
        return tensors
            .Where(t => t.Action == TensorAction.Quantize && t.Parameters != global)
            .OrderBy(t => t.Module, Comparer<string>.Create((a, b) => CompareModules(a, b, naming.OutputPrefix)))
            .Select(t => new KeyValuePair<string, QuantizationParameters>(t.Module, t.Parameters!.Value))
            .ToList();
    }

    // Resolves every quantized decoder module through the loader's own rules and checks that the
    // config entries give back the parameters it was quantized with.
    private static void CheckResolution(
        List<PlannedTensor> tensors, SourceCheckpoint source, QuantizeOptions options, OutputNaming naming,
        List<KeyValuePair<string, QuantizationParameters>> entries)
    {
        var block = QuantizedConfigWriter.QuantizationBlock(options, entries, includeMode: options.Layout == CheckpointLayout.MlxLm);
        var config = MlxQuantizationConfig.Parse(System.Text.Json.JsonSerializer.SerializeToElement(block));
        var names = new Gemma4TensorNames(naming.OutputPrefix, source.Config.ModelType);
        foreach (var tensor in tensors)
        {
            if (tensor.Action != TensorAction.Quantize || !naming.IsTextModuleWeight(tensor.OutputName))
            {
                continue;
            }

            string relative = tensor.Module[naming.OutputPrefix.Length..];
            var resolved = config.Resolve(names.QuantizationKeys(relative), hasScales: true);
            if (resolved != tensor.Parameters)
            {
                throw new InvalidOperationException(
                    $"The config.json entries would load '{tensor.Module}' as {resolved}, but it is quantized as {tensor.Parameters}; the recipe cannot be expressed in the {options.Layout} layout.");
            }
        }
    }

    private static void AddUnquantizedWarnings(List<PlannedTensor> tensors, SourceCheckpoint source, QuantizeOptions options, List<string> warnings)
    {
        var recipe = options.Recipe;
        var skipped = tensors
            .Where(t => t.Action == TensorAction.Keep && t.Source.Info.Rank == 2
                && t.Source.Name.EndsWith(".weight", StringComparison.Ordinal) && t.Reason!.StartsWith("last dimension", StringComparison.Ordinal))
            .GroupBy(t => recipe.Classify(t.Source.Name));
        foreach (var group in skipped)
        {
            var parameters = recipe.ParametersFor(group.Key);
            string label = group.Key?.Name() ?? QuantizationPlan.DefaultLabel;
            string dimensions = string.Join(", ", group.Select(t => t.Source.Info.Shape[1]).Distinct().Order());
            warnings.Add(
                $"{group.Count()} {label} tensor(s) stay unquantized because their last dimension ({dimensions}) is not a multiple of group size {parameters.GroupSize}, "
                + $"for example {group.First().Source.Name}.");
        }

        if (options.TextOnly && !tensors.Any(t => t.Action == TensorAction.Drop))
        {
            warnings.Add($"--text-only drops nothing: {source.Directory} has no vision or audio tensors.");
        }
    }

    // mlx-lm's count: leaf modules only (a quantized module counts rows × columns), so a layer's
    // own parameters such as layer_scalar are not included.
    private static long CountParameters(List<PlannedTensor> tensors)
    {
        long total = 0;
        foreach (var tensor in tensors)
        {
            if (tensor.Action == TensorAction.Drop)
            {
                continue;
            }

            string leaf = Leaf(tensor.OutputName);
            if (tensor.Action == TensorAction.Quantize || leaf is "weight" or "bias")
            {
                total += tensor.Source.Info.ElementCount;
            }
        }

        return total;
    }

    private static string Leaf(string path) => path[(path.LastIndexOf('.') + 1)..];

    private static int CompareModules(string a, string b, string prefix)
    {
        var (topA, layerA, rankA, restA) = ModuleSortKey(a, prefix);
        var (topB, layerB, rankB, restB) = ModuleSortKey(b, prefix);
        int order = string.CompareOrdinal(topA, topB);
        if (order != 0)
        {
            return order;
        }

        order = layerA.CompareTo(layerB);
        if (order != 0)
        {
            return order;
        }

        order = rankA.CompareTo(rankB);
        return order != 0 ? order : string.CompareOrdinal(restA, restB);
    }

    private static (string Top, int Layer, int Rank, string Remainder) ModuleSortKey(string module, string prefix)
    {
        string relative = module.StartsWith(prefix, StringComparison.Ordinal) ? module[prefix.Length..] : module;
        const string layers = "layers.";
        if (relative.StartsWith(layers, StringComparison.Ordinal))
        {
            int dot = relative.IndexOf('.', layers.Length);
            if (dot > 0 && int.TryParse(relative.AsSpan(layers.Length, dot - layers.Length), NumberStyles.None, CultureInfo.InvariantCulture, out int layer))
            {
                string rest = relative[(dot + 1)..];
                int rank = Array.IndexOf(LayerModuleOrder, rest);
                return ("layers", layer, rank < 0 ? LayerModuleOrder.Length : rank, rest);
            }
        }

        return (relative, -1, 0, "");
    }

    /// <summary>Maps source tensor names to output names for a layout.</summary>
    private sealed class OutputNaming
    {
        private readonly CheckpointLayout _layout;
        private readonly bool _textOnly;
        private readonly string _modelType;

        public OutputNaming(SourceCheckpoint source, QuantizeOptions options)
        {
            _layout = options.Layout;
            _textOnly = options.TextOnly;
            _modelType = source.Config.ModelType;
            SourcePrefix = source.Names.Prefix;
            OutputPrefix = _layout == CheckpointLayout.Waldwicht ? SourcePrefix : MlxName(SourcePrefix + "x")[..^1];
        }

        public string SourcePrefix { get; }

        /// <summary>Prefix of the text decoder's tensors in the output.</summary>
        public string OutputPrefix { get; }

        /// <summary>True for the .weight of a decoder module in the output naming.</summary>
        public bool IsTextModuleWeight(string outputName) =>
            outputName.StartsWith(OutputPrefix, StringComparison.Ordinal)
            && outputName.EndsWith(".weight", StringComparison.Ordinal)
            && !SourceCheckpoint.IsMultimodal(outputName);

        /// <summary>The output name of a source tensor, or null (with a reason) when it is dropped.</summary>
        public string? OutputName(string sourceName, out string? dropReason)
        {
            dropReason = null;
            bool multimodal = SourceCheckpoint.IsMultimodal(sourceName);
            if (multimodal && _textOnly)
            {
                dropReason = "multimodal (--text-only)";
                return null;
            }

            if (_layout == CheckpointLayout.Waldwicht)
            {
                return sourceName;
            }

            if (multimodal)
            {
                dropReason = "multimodal (dropped by mlx-lm)";
                return null;
            }

            if (MlxSanitizedSubstrings.Any(s => sourceName.Contains(s, StringComparison.Ordinal)))
            {
                dropReason = "dropped by mlx-lm's sanitizer";
                return null;
            }

            return MlxName(sourceName);
        }

        // mlx-lm's Gemma 4 sanitizer: "model.language_model.X" becomes "language_model.model.X";
        // other keys lose a leading "model." in the multimodal wrapper and stay unchanged in gemma4_text.
        private string MlxName(string name)
        {
            if (_modelType != "gemma4" || !name.StartsWith("model.", StringComparison.Ordinal))
            {
                return name;
            }

            string rest = name["model.".Length..];
            const string language = "language_model.";
            return rest.StartsWith(language, StringComparison.Ordinal)
                ? "language_model.model." + rest[language.Length..]
                : rest;
        }
    }
}
