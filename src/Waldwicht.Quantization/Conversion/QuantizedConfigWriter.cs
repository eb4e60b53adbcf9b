using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;
using Waldwicht.Formats.Mlx;
using Waldwicht.Formats.Safetensors;

namespace Waldwicht.Quantization.Conversion;

/// <summary>Writes config.json and the shard index of a quantized checkpoint in the layout's conventions.</summary>
public static class QuantizedConfigWriter
{
    private const string QuantizationKey = "quantization";
    private const string MirrorKey = "quantization_config";

    // Config keys of the multimodal towers, removed with --text-only.
    private static readonly string[] MultimodalConfigKeys = ["vision_config", "audio_config"];

    /// <summary>
    /// Builds the quantization block: the global bits and group size plus one object per entry.
    /// The mlx-lm layout writes group_size, bits and mode in every object; the Waldwicht layout
    /// writes bits and group_size only, as the published configs do.
    /// </summary>
    public static JsonObject QuantizationBlock(
        QuantizeOptions options, IEnumerable<KeyValuePair<string, QuantizationParameters>> entries, bool includeMode)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(entries);
        var block = Parameters(options.Recipe.Default, includeMode);
        foreach (var (key, parameters) in entries)
        {
            block[key] = Parameters(parameters, includeMode);
        }

        return block;
    }

    /// <summary>
    /// Builds the output config.json from the source config: the quantization block and an
    /// identical quantization_config mirror are added, and the towers' settings are removed with
    /// --text-only. The Waldwicht layout keeps the source key order; the mlx-lm layout sorts the
    /// top-level keys, as mlx-lm's save_config does.
    /// </summary>
    /// <remarks>
    /// The published Waldwicht configs carry a mirror with only the global values, and a stale
    /// one (3 bits for 5-bit models). Tools that read quantization_config would load those
    /// models wrongly, so the mirror written here always equals the quantization block.
    /// </remarks>
    public static JsonObject BuildConfig(QuantizationPlan plan)
    {
        ArgumentNullException.ThrowIfNull(plan);
        var options = plan.Options;
        var config = (JsonObject)plan.Source.ConfigJson.DeepClone();
        config.Remove(QuantizationKey);
        config.Remove(MirrorKey);
        if (options.TextOnly)
        {
            foreach (var key in MultimodalConfigKeys)
            {
                config.Remove(key);
            }
        }

        if (options.Layout == CheckpointLayout.Waldwicht)
        {
            var leafBlock = QuantizationBlock(options, plan.ConfigEntries, includeMode: false);
            config[QuantizationKey] = leafBlock;
            config[MirrorKey] = leafBlock.DeepClone();
            return config;
        }

        config.Remove("_name_or_path");
        var block = QuantizationBlock(options, plan.ConfigEntries, includeMode: true);
        config[QuantizationKey] = block;
        config[MirrorKey] = block.DeepClone();
        var sorted = new JsonObject();
        foreach (var key in config.Select(p => p.Key).Order(StringComparer.Ordinal).ToList())
        {
            var value = config[key];
            config.Remove(key);
            sorted[key] = value;
        }

        return sorted;
    }

    /// <summary>
    /// Builds the shard index, or returns null when the layout writes none (Waldwicht with one
    /// shard). mlx-lm: total_size and total_parameters, indent 4; Waldwicht: total_size, indent 2.
    /// </summary>
    public static JsonObject? BuildIndex(QuantizationPlan plan)
    {
        ArgumentNullException.ThrowIfNull(plan);
        bool mlx = plan.Options.Layout == CheckpointLayout.MlxLm;
        if (!mlx && plan.Shards.Count == 1)
        {
            return null;
        }

        var metadata = new JsonObject { ["total_size"] = plan.TensorBytes };
        if (mlx)
        {
            metadata["total_parameters"] = plan.TotalParameters;
        }

        var weightMap = new JsonObject();
        foreach (var (name, file) in plan.Shards
                     .SelectMany(s => s.Tensors.Select(t => (t.Name, s.FileName)))
                     .OrderBy(e => e.Name, StringComparer.Ordinal))
        {
            weightMap[name] = file;
        }

        return new JsonObject { ["metadata"] = metadata, ["weight_map"] = weightMap };
    }

    /// <summary>Writes config.json (and the index when the layout has one) into a folder.</summary>
    public static void Write(QuantizationPlan plan, string directory)
    {
        int indent = plan.Options.Layout == CheckpointLayout.MlxLm ? 4 : 2;
        WriteJson(Path.Combine(directory, "config.json"), BuildConfig(plan), indent, trailingNewline: true);
        if (BuildIndex(plan) is { } index)
        {
            WriteJson(Path.Combine(directory, SafetensorsCheckpoint.IndexFileName), index, indent, trailingNewline: false);
        }
    }

    /// <summary>Writes JSON with the given indent and "\n" line breaks; non-ASCII text is written unescaped.</summary>
    internal static void WriteJson(string path, JsonNode node, int indent, bool trailingNewline)
    {
        var options = new JsonWriterOptions
        {
            Indented = true,
            IndentSize = indent,
            NewLine = "\n",
            Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        };
        using (var stream = new FileStream(path, FileMode.CreateNew, FileAccess.Write))
        {
            using (var writer = new Utf8JsonWriter(stream, options))
            {
                node.WriteTo(writer);
            }

            if (trailingNewline)
            {
                stream.WriteByte((byte)'\n');
            }
        }
    }

    private static JsonObject Parameters(QuantizationParameters parameters, bool includeMode) =>
        includeMode
            ? new JsonObject { ["group_size"] = parameters.GroupSize, ["bits"] = parameters.Bits, ["mode"] = "affine" }
            : new JsonObject { ["bits"] = parameters.Bits, ["group_size"] = parameters.GroupSize };
}
