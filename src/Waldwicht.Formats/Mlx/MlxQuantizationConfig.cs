using System.Text.Json;

namespace Waldwicht.Formats.Mlx;

/// <summary>
/// The "quantization" block of an MLX model's config.json: global bits and group size plus
/// per-module overrides keyed by full module path or (as Waldwicht writes them) by leaf name.
/// </summary>
/// <remarks>
/// Resolution for a module follows mlx-lm's loader with the Waldwicht patch: a full-path key
/// first (its value may be an object, true or false), then a leaf-name key whose value is an
/// object, then the global values if the checkpoint stores scales for the module.
/// </remarks>
public sealed class MlxQuantizationConfig
{
    private readonly Dictionary<string, JsonElement> _entries;

    private MlxQuantizationConfig(QuantizationParameters global, string mode, Dictionary<string, JsonElement> entries, string sourceKey)
    {
        Global = global;
        Mode = mode;
        _entries = entries;
        SourceKey = sourceKey;
    }

    /// <summary>Global bits and group size.</summary>
    public QuantizationParameters Global { get; }

    /// <summary>Global mode; only "affine" is supported.</summary>
    public string Mode { get; }

    /// <summary>Name of the config.json key the block was read from.</summary>
    public string SourceKey { get; }

    /// <summary>Keys of per-module entries (everything except bits, group_size and mode).</summary>
    public IEnumerable<string> OverrideKeys => _entries.Keys;

    /// <summary>
    /// Reads the block from a parsed config.json. "quantization" wins over "quantization_config",
    /// which mlx-lm writes as a mirror that may be stale; the latter is used only when it is the
    /// sole block and is in MLX form (no quant_method). Returns null for unquantized configs.
    /// </summary>
    /// <exception cref="FormatException">The block is malformed or uses another quantization method.</exception>
    public static MlxQuantizationConfig? FromConfig(JsonElement config)
    {
        if (config.ValueKind != JsonValueKind.Object)
        {
            return null;
        }

        if (config.TryGetProperty("quantization", out var block) && block.ValueKind == JsonValueKind.Object)
        {
            return Parse(block, "quantization");
        }

        JsonElement fallback = default;
        bool hasFallback = config.TryGetProperty("quantization_config", out fallback)
            || (config.TryGetProperty("text_config", out var text) && text.ValueKind == JsonValueKind.Object
                && text.TryGetProperty("quantization_config", out fallback));
        if (!hasFallback || fallback.ValueKind != JsonValueKind.Object)
        {
            return null;
        }

        if (fallback.TryGetProperty("quant_method", out var method))
        {
            throw new FormatException(
                $"config.json: quantization_config uses quant_method '{method}', which is not MLX affine quantization; convert the model to MLX format first.");
        }

        return Parse(fallback, "quantization_config");
    }

    /// <summary>
    /// Resolves the parameters of a module, or returns null when it is not quantized.
    /// </summary>
    /// <param name="modulePaths">The module's full path in every naming style to try, such as
    /// "language_model.model.layers.3.mlp.down_proj" and "model.language_model.layers.3.mlp.down_proj".</param>
    /// <param name="hasScales">Whether the checkpoint stores a .scales tensor for the module.</param>
    public QuantizationParameters? Resolve(IEnumerable<string> modulePaths, bool hasScales)
    {
        string? leaf = null;
        foreach (var path in modulePaths)
        {
            leaf ??= path[(path.LastIndexOf('.') + 1)..];
            if (_entries.TryGetValue(path, out var entry))
            {
                return entry.ValueKind switch
                {
                    JsonValueKind.False => null,
                    JsonValueKind.True => Global,
                    JsonValueKind.Object => ParseOverride(entry, path),
                    _ => throw new FormatException($"config.json {SourceKey}: entry '{path}' must be an object, true or false."),
                };
            }
        }

        if (leaf != null && _entries.TryGetValue(leaf, out var leafEntry) && leafEntry.ValueKind == JsonValueKind.Object)
        {
            return ParseOverride(leafEntry, leaf);
        }

        return hasScales ? Global : null;
    }

    private static MlxQuantizationConfig Parse(JsonElement block, string sourceKey)
    {
        int bits = ReadInt(block, "bits", QuantizationParameters.MlxDefault.Bits, sourceKey);
        int groupSize = ReadInt(block, "group_size", QuantizationParameters.MlxDefault.GroupSize, sourceKey);
        string mode = block.TryGetProperty("mode", out var modeElement) && modeElement.ValueKind == JsonValueKind.String
            ? modeElement.GetString()!
            : "affine";
        if (mode != "affine")
        {
            throw new FormatException($"config.json {sourceKey}: mode '{mode}' is not supported; only affine quantization is.");
        }

        var global = new QuantizationParameters(bits, groupSize);
        if (!global.IsSupported)
        {
            throw new FormatException(
                $"config.json {sourceKey}: bits {bits} with group_size {groupSize} is not supported; bits must be 2, 3, 4, 5, 6 or 8 and group_size 32, 64 or 128.");
        }

        var entries = new Dictionary<string, JsonElement>(StringComparer.Ordinal);
        foreach (var property in block.EnumerateObject())
        {
            if (property.Name is "bits" or "group_size" or "mode" or "quant_method")
            {
                continue;
            }

            entries[property.Name] = property.Value.Clone();
        }

        return new MlxQuantizationConfig(global, mode, entries, sourceKey);
    }

    private QuantizationParameters ParseOverride(JsonElement entry, string key)
    {
        string where = $"{SourceKey}.{key}";
        var defaults = QuantizationParameters.MlxDefault;
        int bits = ReadInt(entry, "bits", defaults.Bits, where);
        int groupSize = ReadInt(entry, "group_size", defaults.GroupSize, where);
        if (entry.TryGetProperty("mode", out var modeElement) && modeElement.ValueKind == JsonValueKind.String && modeElement.GetString() != "affine")
        {
            throw new FormatException($"config.json {where}: mode '{modeElement.GetString()}' is not supported; only affine quantization is.");
        }

        var parameters = new QuantizationParameters(bits, groupSize);
        if (!parameters.IsSupported)
        {
            throw new FormatException(
                $"config.json {where}: bits {bits} with group_size {groupSize} is not supported; bits must be 2, 3, 4, 5, 6 or 8 and group_size 32, 64 or 128.");
        }

        return parameters;
    }

    private static int ReadInt(JsonElement element, string name, int fallback, string where)
    {
        if (!element.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null)
        {
            return fallback;
        }

        if (value.ValueKind != JsonValueKind.Number || !value.TryGetInt32(out int result))
        {
            throw new FormatException($"config.json {where}: '{name}' must be an integer, found {value}.");
        }

        return result;
    }
}
