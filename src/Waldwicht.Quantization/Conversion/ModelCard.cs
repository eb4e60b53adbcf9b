using System.Globalization;
using System.Text;
using Waldwicht.Numerics.Matrices;

namespace Waldwicht.Quantization.Conversion;

/// <summary>Writes the README.md of a quantized checkpoint: source, recipe, conventions and the size table.</summary>
public static class ModelCard
{
    /// <summary>File name of the model card.</summary>
    public const string FileName = "README.md";

    /// <summary>Renders the model card of a plan.</summary>
    /// <param name="plan">The executed plan.</param>
    /// <param name="modelName">Name shown as the title, usually the output folder's name.</param>
    public static string Render(QuantizationPlan plan, string modelName)
    {
        ArgumentNullException.ThrowIfNull(plan);
        var options = plan.Options;
        var recipe = options.Recipe;
        var text = new StringBuilder();
        text.Append("# ").Append(modelName).Append("\n\n");
        text.Append("Gemma 4 text model quantized with MLX affine quantization by `waldwicht quantize`, ")
            .Append("with bits and group size chosen per component.\n\n");
        text.Append("| Setting | Value |\n|---|---|\n");
        Row(text, "Source", $"`{Path.GetFileName(plan.Source.Directory)}` ({Gb(plan.Source.TensorBytes)} of tensors)");
        Row(text, "Recipe", recipe.Name == recipe.Entries ? $"`{recipe.Entries}`" : $"{recipe.Name} (`{recipe.Entries}`)");
        Row(text, "Default", $"{recipe.Default.Bits} bits, group size {recipe.Default.GroupSize}");
        Row(text, "Layout", options.Layout == CheckpointLayout.Waldwicht
            ? "Waldwicht (Hugging Face tensor names, leaf-name overrides in config.json)"
            : "mlx-lm (mlx-lm module names, full-path overrides in config.json)");
        Row(text, "Scales and biases", options.ScaleType == ElementType.F32 ? "float32" : "bfloat16");
        Row(text, "Rounding", options.Rounding == Formats.Mlx.MlxQuantizerSemantics.Gpu
            ? "MLX Metal/GPU kernel (ties away from zero, group maximum at least 0)"
            : "MLX CPU kernel (ties to even)");
        Row(text, "Multimodal towers", DescribeTowers(plan));
        Row(text, "Weights", $"{plan.Shards.Count} safetensors file(s), {Gb(plan.FileBytes)} ({plan.FileBytes.ToString("N0", CultureInfo.InvariantCulture)} bytes)");
        text.Append('\n');

        text.Append("## Size by component\n\n");
        text.Append("| Component | Bits | Group size | Tensors | Parameters | Bytes |\n|---|---:|---:|---:|---:|---:|\n");
        foreach (var row in plan.Rows)
        {
            text.Append("| ").Append(row.Label)
                .Append(" | ").Append(row.Parameters?.Bits.ToString(CultureInfo.InvariantCulture) ?? "-")
                .Append(" | ").Append(row.Parameters?.GroupSize.ToString(CultureInfo.InvariantCulture) ?? "-")
                .Append(" | ").Append(row.TensorCount.ToString(CultureInfo.InvariantCulture))
                .Append(" | ").Append(row.ElementCount.ToString("N0", CultureInfo.InvariantCulture))
                .Append(" | ").Append(row.OutputBytes.ToString("N0", CultureInfo.InvariantCulture))
                .Append(" |\n");
        }

        long elements = plan.Rows.Where(r => r.Label != QuantizationPlan.DroppedLabel).Sum(r => r.ElementCount);
        text.Append("| total | | | ")
            .Append(plan.Tensors.Count(t => t.Action != TensorAction.Drop).ToString(CultureInfo.InvariantCulture))
            .Append(" | ").Append(elements.ToString("N0", CultureInfo.InvariantCulture))
            .Append(" | ").Append(plan.TensorBytes.ToString("N0", CultureInfo.InvariantCulture))
            .Append(" |\n\n");
        text.Append("Bytes count tensor data; the safetensors headers add ")
            .Append((plan.FileBytes - plan.TensorBytes).ToString("N0", CultureInfo.InvariantCulture))
            .Append(" bytes. A quantized matrix stores bits / 8 bytes per weight plus a scale and a bias per group.\n");
        return text.ToString();
    }

    /// <summary>Writes the model card of a plan to <paramref name="path"/>.</summary>
    public static void Write(QuantizationPlan plan, string modelName, string path) =>
        File.WriteAllText(path, Render(plan, modelName), new UTF8Encoding(encoderShouldEmitUTF8Identifier: false));

    /// <summary>Formats bytes as decimal gigabytes with three decimals, such as "2.600 GB".</summary>
    public static string Gb(long bytes) => (bytes / 1e9).ToString("0.000", CultureInfo.InvariantCulture) + " GB";

    private static string DescribeTowers(QuantizationPlan plan)
    {
        int dropped = plan.Tensors.Count(t => t.Action == TensorAction.Drop);
        int kept = plan.Tensors.Count(t => t.Action != TensorAction.Drop && SourceCheckpoint.IsMultimodal(t.Source.Name));
        if (dropped == 0 && kept == 0)
        {
            return "none in the source";
        }

        return kept > 0 ? $"kept ({kept} tensors, quantized with the default where eligible)" : $"dropped ({dropped} tensors)";
    }

    private static void Row(StringBuilder text, string name, string value) =>
        text.Append("| ").Append(name).Append(" | ").Append(value).Append(" |\n");
}
