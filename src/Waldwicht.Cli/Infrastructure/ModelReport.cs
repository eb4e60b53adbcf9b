using Spectre.Console;
using Waldwicht.Formats.Safetensors;
using Waldwicht.Model.Gemma4;
using Waldwicht.Numerics.Matrices;
using Waldwicht.Quantization.Recipes;

namespace Waldwicht.Cli.Infrastructure;

/// <summary>One row of the per-component report: how a group of tensors is stored.</summary>
internal sealed record ComponentRow(string Component, int Modules, SortedSet<int> Bits, SortedSet<int> GroupSizes, long Parameters, long Bytes);

/// <summary>Builds and prints the architecture and per-component storage of a model folder.</summary>
internal static class ModelReport
{
    /// <summary>
    /// Report rows in display order, named as recipes and `quantize --plan` name them. Matrices of a
    /// quantized checkpoint that stay unquantized join the norms and scalars in "kept".
    /// </summary>
    public static readonly IReadOnlyList<string> ComponentOrder =
        ["attention", "mlp", "ple_embeddings", "ple_gate_proj", "main_embed_lmhead", "default", "kept"];

    public static void Print(string folder)
    {
        using var model = Gemma4Model.Load(folder);
        var config = model.Config;
        var console = AnsiConsole.Console;
        if (Console.IsOutputRedirected)
        {
            // Spectre.Console assumes 80 columns without a terminal, which wraps the tables.
            console.Profile.Width = Math.Max(console.Profile.Width, 120);
        }

        var architecture = new Table().Border(TableBorder.Rounded).Title($"[bold]{Markup.Escape(Path.GetFileName(folder))}[/]");
        architecture.AddColumn("setting");
        architecture.AddColumn("value");
        void Row(string name, object value) => architecture.AddRow(Markup.Escape(name), Markup.Escape(value.ToString() ?? ""));
        int full = config.LayerTypes.Count(t => t == AttentionKind.Full);
        Row("model type", config.ModelType);
        Row("layers", $"{config.NumHiddenLayers} ({config.NumHiddenLayers - full} sliding, {full} full attention)");
        Row("hidden size", config.HiddenSize);
        Row("attention heads / KV heads", $"{config.NumAttentionHeads} / {config.NumKeyValueHeads}");
        Row("head dim sliding / full", $"{config.HeadDim} / {config.GlobalHeadDim}");
        Row("sliding window", config.SlidingWindow);
        Row("KV-shared layers", config.NumKvSharedLayers == 0 ? "none" : $"{config.FirstKvSharedLayer}-{config.NumHiddenLayers - 1}");
        Row("MLP width", config.UseDoubleWideMlp && config.NumKvSharedLayers > 0
            ? $"{config.IntermediateSize} ({2 * config.IntermediateSize} on KV-shared layers)"
            : config.IntermediateSize.ToString());
        Row("per-layer embedding width", config.HiddenSizePerLayerInput);
        Row("vocabulary", config.VocabSize);
        Row("final logit softcap", config.FinalLogitSoftcapping?.ToString() ?? "none");
        console.Write(architecture);

        var rows = Components(folder, model);
        var table = new Table().Border(TableBorder.Rounded).Title("[bold]storage per component[/]");
        foreach (var column in new[] { "component", "modules", "bits", "group size", "parameters", "bytes", "bits/weight" })
        {
            table.AddColumn(column, c => c.Alignment = column == "component" ? Justify.Left : Justify.Right);
        }

        foreach (var row in rows)
        {
            table.AddRow(
                row.Component,
                row.Modules.ToString("N0"),
                row.Bits.Count == 0 ? "-" : string.Join(", ", row.Bits.Select(b => b == 16 ? "bf16" : b.ToString())),
                row.GroupSizes.Count == 0 ? "-" : string.Join(", ", row.GroupSizes),
                row.Parameters.ToString("N0"),
                FormatBytes(row.Bytes),
                row.Parameters > 0 ? (row.Bytes * 8.0 / row.Parameters).ToString("F2") : "-");
        }

        long parameters = rows.Sum(r => r.Parameters);
        long bytes = rows.Sum(r => r.Bytes);
        table.AddRow("[bold]total[/]", "", "", "", $"[bold]{parameters:N0}[/]", $"[bold]{FormatBytes(bytes)}[/]",
            parameters > 0 ? (bytes * 8.0 / parameters).ToString("F2") : "-");
        console.Write(table);

        if (model.Weights.IgnoredTensors.Count > 0)
        {
            console.MarkupLine($"[grey]{model.Weights.IgnoredTensors.Count} tensors are stored but not used (for example the key/value projections of KV-shared layers); they are included above.[/]");
        }

        console.MarkupLine($"[grey]Weights read per decoded token: {FormatBytes(model.WeightBytesPerToken)}.[/]");
    }

    /// <summary>Groups every text-model tensor of the checkpoint into the report's components.</summary>
    public static IReadOnlyList<ComponentRow> Components(string folder, Gemma4Model model)
    {
        using var checkpoint = SafetensorsCheckpoint.Open(folder);
        var bound = model.Weights.Matrices.ToDictionary(m => m.Module, m => m.Matrix, StringComparer.Ordinal);
        var rows = ComponentOrder.ToDictionary(name => name, name => new ComponentRow(name, 0, [], [], 0, 0));
        var tensors = checkpoint.Tensors.Where(t => !Gemma4TensorNames.IsMultimodal(t.Name)).ToList();
        var names = tensors.Select(t => t.Name).ToHashSet(StringComparer.Ordinal);
        bool anyQuantized = names.Any(n => n.EndsWith(".scales", StringComparison.Ordinal));

        foreach (var tensor in tensors)
        {
            if (tensor.Name.EndsWith(".scales", StringComparison.Ordinal) || tensor.Name.EndsWith(".biases", StringComparison.Ordinal))
            {
                continue;
            }

            string stem = tensor.Name.EndsWith(".weight", StringComparison.Ordinal) ? tensor.Name[..^".weight".Length] : tensor.Name;
            bool quantized = names.Contains(stem + ".scales");
            bool matrix = tensor.Rank == 2;
            string component = matrix && (quantized || !anyQuantized) ? Classify(stem) : "kept";
            long bytes = tensor.ByteLength;
            long parameters = tensor.ElementCount;
            int bits = 16;
            int groupSize = 0;
            if (quantized)
            {
                var scales = checkpoint.GetInfo(stem + ".scales");
                bytes += scales.ByteLength + checkpoint.GetInfo(stem + ".biases").ByteLength;
                long columns = bound.TryGetValue(stem, out var m) ? m.Columns : model.Config.HiddenSize;
                bits = (int)(tensor.Shape[1] * 32 / columns);
                groupSize = (int)(columns / scales.Shape[1]);
                parameters = tensor.Shape[0] * columns;
            }
            else if (tensor.DType == SafetensorsDType.F32)
            {
                bits = 32;
            }

            var row = rows[component];
            if (matrix)
            {
                row.Bits.Add(bits);
                if (groupSize > 0)
                {
                    row.GroupSizes.Add(groupSize);
                }
            }

            rows[component] = row with { Modules = row.Modules + 1, Parameters = row.Parameters + parameters, Bytes = row.Bytes + bytes };
        }

        return ComponentOrder.Select(name => rows[name]).Where(r => r.Modules > 0).ToList();
    }

    private static string Classify(string stem)
    {
        // The same order of checks as the quantizer's recipes, so both place every tensor alike.
        foreach (var component in QuantizationComponents.All)
        {
            if (component.Matches(stem))
            {
                return component.Name();
            }
        }

        return "default";
    }

    public static string FormatBytes(long bytes) => bytes switch
    {
        >= 1_000_000_000 => $"{bytes / 1e9:F3} GB",
        >= 1_000_000 => $"{bytes / 1e6:F2} MB",
        >= 1_000 => $"{bytes / 1e3:F1} kB",
        _ => $"{bytes} B",
    };
}
