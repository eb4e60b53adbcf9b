using System.Text.Json;

namespace Waldwicht.Formats.Mlx;

/// <summary>
/// The "quantization" block of an MLX model's config.json: global bits and group size plus
/// per-module overrides keyed by full module path or (as Waldwicht writes them) by leaf name.
/// </summary>
/// <remarks>
/// Resolution for a module follows mlx-lm's loader with the Waldwicht patch (mlx-lm 0.31,
/// mlx_lm/utils.py): a full-path key first (its value may be an object, true or false), then a
/// key equal to the module's last path component whose value is an object, then the global
/// values. A module counts as quantized only when the checkpoint stores its .scales tensor, so an
/// entry never forces quantization onto a module that is stored as a float matrix.
/// Instances are immutable and thread-safe.
/// </remarks>
public sealed class MlxQuantizationConfig
{
    private const string QuantizationKey = "quantization";
    private const string MirrorKey = "quantization_config";

    private readonly Dictionary<string, Entry> _entries;

    private MlxQuantizationConfig(QuantizationParameters global, string mode, Dictionary<string, Entry> entries, string sourceKey, string? warning)
    {
        Global = global;
        Mode = mode;
        _entries = entries;
        SourceKey = sourceKey;
        Warning = warning;
    }

    /// <summary>Global bits and group size.</summary>
    public QuantizationParameters Global { get; }

    /// <summary>Global mode; only "affine" is supported.</summary>
    public string Mode { get; }

    /// <summary>Name of the config.json key the block was read from.</summary>
    public string SourceKey { get; }

    /// <summary>Keys of per-module entries (everything except bits, group_size and mode), in file order.</summary>
    public IEnumerable<string> OverrideKeys => _entries.Keys;

    /// <summary>
    /// A warning for the log, or null: set when config.json also has a "quantization_config" that
    /// differs from the "quantization" block used (released Waldwicht configs carry a stale one).
    /// </summary>
    public string? Warning { get; }

    /// <summary>Reads the block from a config.json file; returns null for unquantized models.</summary>
    /// <exception cref="FormatException">The file is not valid JSON or the block is invalid.</exception>
    public static MlxQuantizationConfig? FromConfigFile(string configPath)
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(File.ReadAllBytes(configPath));
        }
        catch (JsonException ex)
        {
            throw new FormatException($"{configPath}: invalid JSON: {ex.Message}", ex);
        }

        using (document)
        {
            return FromConfig(document.RootElement);
        }
    }

    /// <summary>
    /// Reads the block from a parsed config.json. "quantization" wins over "quantization_config",
    /// which mlx-lm writes as a mirror that may be stale. The latter (top level, or in text_config)
    /// is used only when it is the sole block and is in MLX form (no quant_method). Returns null
    /// for unquantized configs.
    /// </summary>
    /// <exception cref="FormatException">The block is malformed or uses another quantization method.</exception>
    public static MlxQuantizationConfig? FromConfig(JsonElement config)
    {
        if (config.ValueKind != JsonValueKind.Object)
        {
            throw new FormatException($"config.json must be a JSON object, found {config.ValueKind}.");
        }

        bool hasMirror = config.TryGetProperty(MirrorKey, out var mirror) && mirror.ValueKind != JsonValueKind.Null;
        if (!hasMirror && config.TryGetProperty("text_config", out var text) && text.ValueKind == JsonValueKind.Object)
        {
            hasMirror = text.TryGetProperty(MirrorKey, out mirror) && mirror.ValueKind != JsonValueKind.Null;
        }

        if (config.TryGetProperty(QuantizationKey, out var block) && block.ValueKind != JsonValueKind.Null)
        {
            if (block.ValueKind != JsonValueKind.Object)
            {
                throw new FormatException($"config.json {QuantizationKey}: must be an object, found {block.ValueKind}.");
            }

            string? warning = hasMirror && !JsonElement.DeepEquals(block, mirror)
                ? $"config.json: {MirrorKey} ({Describe(mirror)}) differs from {QuantizationKey} ({Describe(block)}); {QuantizationKey} is used, as mlx-lm does."
                : null;
            return Parse(block, QuantizationKey, warning);
        }

        if (!hasMirror)
        {
            return null;
        }

        if (mirror.ValueKind != JsonValueKind.Object)
        {
            throw new FormatException($"config.json {MirrorKey}: must be an object, found {mirror.ValueKind}.");
        }

        if (mirror.TryGetProperty("quant_method", out var method))
        {
            throw new FormatException(
                $"config.json: {MirrorKey} uses quant_method {method.GetRawText()}, which is not MLX affine quantization; convert the model to MLX format first.");
        }

        return Parse(mirror, MirrorKey, null);
    }

    /// <summary>
    /// Parses a quantization block. The global "bits" and "group_size" are required; override
    /// objects are validated when a module resolves to them.
    /// </summary>
    /// <param name="block">The JSON object.</param>
    /// <param name="sourceKey">The config.json key it came from, for error messages.</param>
    /// <exception cref="FormatException">The global values are missing, not integers or not supported, or the mode is not affine.</exception>
    public static MlxQuantizationConfig Parse(JsonElement block, string sourceKey = QuantizationKey) => Parse(block, sourceKey, null);

    /// <summary>
    /// Resolves the parameters of a module, or returns null when it is stored unquantized.
    /// </summary>
    /// <param name="modulePaths">The module's full path in every naming style to try, such as
    /// "language_model.model.layers.3.mlp.down_proj" and "model.language_model.layers.3.mlp.down_proj";
    /// the first path that is a key wins, and the leaf name is taken from the first path.</param>
    /// <param name="hasScales">Whether the checkpoint stores a .scales tensor for the module.</param>
    /// <exception cref="FormatException">The matching entry is invalid, or it is false although the checkpoint stores scales.</exception>
    public QuantizationParameters? Resolve(IEnumerable<string> modulePaths, bool hasScales)
    {
        ArgumentNullException.ThrowIfNull(modulePaths);
        string? leaf = null;
        foreach (var path in modulePaths)
        {
            leaf ??= path[(path.LastIndexOf('.') + 1)..];
            if (_entries.TryGetValue(path, out var entry))
            {
                return ResolveFullPath(entry, path, hasScales);
            }
        }

        if (leaf == null)
        {
            throw new ArgumentException("At least one module path is required.", nameof(modulePaths));
        }

        // Leaf names match only object entries, and only by equality: "per_layer_projection" does
        // not match "per_layer_model_projection".
        if (_entries.TryGetValue(leaf, out var leafEntry) && leafEntry.Kind is EntryKind.Parameters or EntryKind.Invalid)
        {
            return hasScales ? leafEntry.GetParameters(SourceKey) : null;
        }

        return hasScales ? Global : null;
    }

    /// <summary>Resolves the parameters of a module known by one path.</summary>
    /// <inheritdoc cref="Resolve(IEnumerable{string}, bool)"/>
    public QuantizationParameters? Resolve(string modulePath, bool hasScales) => Resolve([modulePath], hasScales);

    private QuantizationParameters? ResolveFullPath(Entry entry, string path, bool hasScales)
    {
        switch (entry.Kind)
        {
            case EntryKind.Excluded when hasScales:
                throw new FormatException(
                    $"config.json {SourceKey}: entry '{path}' is false (not quantized), but the checkpoint stores {path}.scales; remove the entry or the quantized tensors.");
            case EntryKind.Excluded:
                return null;
            case EntryKind.Included:
                return hasScales ? Global : null;
            case EntryKind.Other:
                throw new FormatException(
                    $"config.json {SourceKey}: entry '{path}' is {entry.RawText}, but must be an object with bits and group_size, true or false.");
            default:
                return hasScales ? entry.GetParameters(SourceKey) : null;
        }
    }

    private static MlxQuantizationConfig Parse(JsonElement block, string sourceKey, string? warning)
    {
        if (block.ValueKind != JsonValueKind.Object)
        {
            throw new FormatException($"config.json {sourceKey}: must be an object, found {block.ValueKind}.");
        }

        int bits = ReadInt(block, "bits", null, sourceKey);
        int groupSize = ReadInt(block, "group_size", null, sourceKey);
        string mode = ReadMode(block, sourceKey);
        var global = new QuantizationParameters(bits, groupSize);
        if (!global.IsSupported)
        {
            throw new FormatException(
                $"config.json {sourceKey}: bits {bits} with group_size {groupSize} is not supported; bits must be 2, 3, 4, 5, 6 or 8 and group_size 32, 64 or 128.");
        }

        var entries = new Dictionary<string, Entry>(StringComparer.Ordinal);
        foreach (var property in block.EnumerateObject())
        {
            if (property.Name is "bits" or "group_size" or "mode" or "quant_method")
            {
                continue;
            }

            entries[property.Name] = Entry.From(property.Value, $"{sourceKey}.{property.Name}");
        }

        return new MlxQuantizationConfig(global, mode, entries, sourceKey, warning);
    }

    private static string ReadMode(JsonElement element, string where)
    {
        if (!element.TryGetProperty("mode", out var value) || value.ValueKind == JsonValueKind.Null)
        {
            return "affine";
        }

        if (value.ValueKind != JsonValueKind.String || value.GetString() != "affine")
        {
            throw new FormatException(
                $"config.json {where}: mode {value.GetRawText()} is not supported; only \"affine\" quantization can be loaded.");
        }

        return "affine";
    }

    // fallback == null makes the value required.
    private static int ReadInt(JsonElement element, string name, int? fallback, string where)
    {
        if (!element.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null)
        {
            return fallback ?? throw new FormatException(
                $"config.json {where}: '{name}' is missing; the quantization block needs the global bits and group_size.");
        }

        if (value.ValueKind != JsonValueKind.Number || !value.TryGetInt32(out int result))
        {
            throw new FormatException($"config.json {where}: '{name}' must be an integer, found {value.GetRawText()}.");
        }

        return result;
    }

    private static string Describe(JsonElement block)
    {
        if (block.ValueKind != JsonValueKind.Object)
        {
            return block.GetRawText();
        }

        string bits = block.TryGetProperty("bits", out var b) ? b.GetRawText() : "none";
        string groupSize = block.TryGetProperty("group_size", out var g) ? g.GetRawText() : "none";
        return $"bits {bits}, group_size {groupSize}";
    }

    private enum EntryKind
    {
        Parameters,
        Included,
        Excluded,
        Invalid,
        Other,
    }

    // One per-module entry, parsed once. Errors of object entries are kept and raised only when a
    // module resolves to the entry, because mlx-lm ignores entries that match no module.
    private sealed record Entry(EntryKind Kind, QuantizationParameters Parameters, string? Error, string RawText)
    {
        public static Entry From(JsonElement value, string where)
        {
            string raw = value.GetRawText();
            switch (value.ValueKind)
            {
                case JsonValueKind.True:
                    return new Entry(EntryKind.Included, default, null, raw);
                case JsonValueKind.False:
                    return new Entry(EntryKind.Excluded, default, null, raw);
                case JsonValueKind.Object:
                    try
                    {
                        // Fields missing from an override take MLX's defaults, not the globals.
                        var defaults = QuantizationParameters.MlxDefault;
                        int bits = ReadInt(value, "bits", defaults.Bits, where);
                        int groupSize = ReadInt(value, "group_size", defaults.GroupSize, where);
                        ReadMode(value, where);
                        var parameters = new QuantizationParameters(bits, groupSize);
                        if (!parameters.IsSupported)
                        {
                            throw new FormatException(
                                $"config.json {where}: bits {bits} with group_size {groupSize} is not supported; bits must be 2, 3, 4, 5, 6 or 8 and group_size 32, 64 or 128.");
                        }

                        return new Entry(EntryKind.Parameters, parameters, null, raw);
                    }
                    catch (FormatException ex)
                    {
                        return new Entry(EntryKind.Invalid, default, ex.Message, raw);
                    }

                default:
                    return new Entry(EntryKind.Other, default, null, raw);
            }
        }

        public QuantizationParameters GetParameters(string sourceKey) =>
            Kind == EntryKind.Parameters
                ? Parameters
                : throw new FormatException(Error ?? $"config.json {sourceKey}: invalid entry {RawText}.");
    }
}
