using Waldwicht.Formats.Mlx;
using Waldwicht.Formats.Safetensors;
using Waldwicht.Quantization.Recipes;

namespace Waldwicht.Quantization.Conversion;

/// <summary>What the converter does with one source tensor.</summary>
public enum TensorAction
{
    /// <summary>Written as packed weight, scales and biases.</summary>
    Quantize,

    /// <summary>Copied unchanged (norms, scalars, matrices the group size does not divide).</summary>
    Keep,

    /// <summary>Left out of the output (multimodal towers with --text-only or the mlx-lm layout).</summary>
    Drop,
}

/// <summary>The decision for one source tensor.</summary>
/// <param name="Source">The source tensor.</param>
/// <param name="Action">Quantize, keep or drop.</param>
/// <param name="Component">Component of a quantized tensor, or null for the recipe's default.</param>
/// <param name="Parameters">Bits and group size of a quantized tensor, else null.</param>
/// <param name="OutputName">Name of the output tensor (the packed .weight when quantized); empty when dropped.</param>
/// <param name="OutputBytes">Bytes of the output tensors (packed weight, scales and biases when quantized).</param>
/// <param name="Reason">Why a tensor is kept or dropped, for reports; null when quantized.</param>
public sealed record PlannedTensor(
    SourceTensor Source,
    TensorAction Action,
    QuantizationComponent? Component,
    QuantizationParameters? Parameters,
    string OutputName,
    long OutputBytes,
    string? Reason)
{
    /// <summary>Output module path of a quantized tensor: the output name without ".weight".</summary>
    public string Module => OutputName.EndsWith(".weight", StringComparison.Ordinal) ? OutputName[..^".weight".Length] : OutputName;
}

/// <summary>One output safetensors file: its tensors in file order and its exact size.</summary>
/// <param name="FileName">File name, such as model.safetensors or model-00001-of-00002.safetensors.</param>
/// <param name="Tensors">Declarations in data order (sorted by name).</param>
/// <param name="Metadata">The __metadata__ entries, or null for none.</param>
/// <param name="FileBytes">Size of the finished file: length prefix, padded header and data.</param>
public sealed record PlannedShard(
    string FileName, IReadOnlyList<TensorDeclaration> Tensors, IReadOnlyList<KeyValuePair<string, string>>? Metadata, long FileBytes)
{
    /// <summary>Bytes of tensor data.</summary>
    public long DataBytes => Tensors.Sum(t => t.ByteLength);
}

/// <summary>One row of a plan's size table: a component, the default, kept or dropped tensors.</summary>
/// <param name="Label">attention, mlp, ple_embeddings, ple_gate_proj, main_embed_lmhead, default, kept or dropped.</param>
/// <param name="Parameters">Bits and group size of the quantized rows, else null.</param>
/// <param name="TensorCount">Source tensors in the row.</param>
/// <param name="ElementCount">Weights (elements) of those tensors.</param>
/// <param name="OutputBytes">Bytes the row adds to the output tensors (0 for dropped).</param>
public sealed record PlanRow(string Label, QuantizationParameters? Parameters, int TensorCount, long ElementCount, long OutputBytes);

/// <summary>
/// The complete, header-only description of a quantization run: every tensor's fate, the output
/// files with their exact sizes, the config.json overrides and the warnings. The converter
/// executes exactly this plan.
/// </summary>
public sealed class QuantizationPlan
{
    internal QuantizationPlan(
        SourceCheckpoint source,
        QuantizeOptions options,
        IReadOnlyList<PlannedTensor> tensors,
        IReadOnlyList<PlannedShard> shards,
        IReadOnlyList<KeyValuePair<string, QuantizationParameters>> configEntries,
        long totalParameters,
        IReadOnlyList<string> warnings)
    {
        Source = source;
        Options = options;
        Tensors = tensors;
        Shards = shards;
        ConfigEntries = configEntries;
        TotalParameters = totalParameters;
        Warnings = warnings;
    }

    /// <summary>Labels of <see cref="Rows"/>, in report order.</summary>
    public static IReadOnlyList<string> RowLabels { get; } =
        [.. QuantizationComponents.All.Select(c => c.Name()), DefaultLabel, KeptLabel, DroppedLabel];

    /// <summary>Row label of quantized tensors outside every component.</summary>
    public const string DefaultLabel = "default";

    /// <summary>Row label of tensors copied unquantized.</summary>
    public const string KeptLabel = "kept";

    /// <summary>Row label of tensors left out.</summary>
    public const string DroppedLabel = "dropped";

    /// <summary>The source checkpoint (headers and config only).</summary>
    public SourceCheckpoint Source { get; }

    /// <summary>The options the plan was made for.</summary>
    public QuantizeOptions Options { get; }

    /// <summary>Every source tensor with its decision, sorted by source name.</summary>
    public IReadOnlyList<PlannedTensor> Tensors { get; }

    /// <summary>Output safetensors files in order.</summary>
    public IReadOnlyList<PlannedShard> Shards { get; }

    /// <summary>
    /// Per-module overrides of the config.json quantization block in write order: leaf names for
    /// the Waldwicht layout, full module paths for the mlx-lm layout.
    /// </summary>
    public IReadOnlyList<KeyValuePair<string, QuantizationParameters>> ConfigEntries { get; }

    /// <summary>Parameter count as mlx-lm reports it (total_parameters of its index file).</summary>
    public long TotalParameters { get; }

    /// <summary>Conditions worth a warning, such as components whose tensors all stay unquantized.</summary>
    public IReadOnlyList<string> Warnings { get; }

    /// <summary>Bytes of tensor data in all output files.</summary>
    public long TensorBytes => Shards.Sum(s => s.DataBytes);

    /// <summary>Total size of the output safetensors files, headers included.</summary>
    public long FileBytes => Shards.Sum(s => s.FileBytes);

    /// <summary>The size table: one row per non-empty label of <see cref="RowLabels"/>, in that order.</summary>
    public IReadOnlyList<PlanRow> Rows
    {
        get
        {
            var rows = new List<PlanRow>();
            foreach (var label in RowLabels)
            {
                var members = Tensors.Where(t => RowLabel(t) == label).ToList();
                if (members.Count == 0)
                {
                    continue;
                }

                QuantizationParameters? parameters = members[0].Action == TensorAction.Quantize ? members[0].Parameters : null;
                rows.Add(new PlanRow(
                    label, parameters, members.Count, members.Sum(t => t.Source.Info.ElementCount), members.Sum(t => t.OutputBytes)));
            }

            return rows;
        }
    }

    /// <summary>The row label of a planned tensor.</summary>
    public static string RowLabel(PlannedTensor tensor) => tensor.Action switch
    {
        TensorAction.Quantize => tensor.Component?.Name() ?? DefaultLabel,
        TensorAction.Keep => KeptLabel,
        _ => DroppedLabel,
    };
}
