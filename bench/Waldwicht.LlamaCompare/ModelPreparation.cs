using Waldwicht.Model.Export;
using Waldwicht.Model.Gemma4;
using Waldwicht.Quantization.Conversion;
using Waldwicht.Quantization.Recipes;
using Waldwicht.Quantization.Synthetic;

namespace Waldwicht.LlamaCompare;

/// <summary>One comparison: an MLX-quantized variant for this engine and a GGUF type for llama.cpp.</summary>
/// <param name="Name">Name on the command line and in the table.</param>
/// <param name="Recipe">Quantization recipe of the MLX variant (see `waldwicht quantize --recipe`).</param>
/// <param name="GgufType">GGUF type for llama.cpp, or null to take the one whose file size is nearest to the MLX variant's.</param>
internal sealed record PairDefinition(string Name, string Recipe, GgufExportType? GgufType)
{
    public static IReadOnlyList<PairDefinition> All { get; } =
    [
        new("q4", "uniform-4", GgufExportType.Q4_0),
        new("q5", "uniform-5", GgufExportType.Q5_0),
        new("winzling", "winzling", null),
        new("sproessling", "sproessling", null),
    ];

    public static PairDefinition Parse(string name) =>
        All.FirstOrDefault(p => p.Name == name.Trim().ToLowerInvariant())
        ?? throw new ArgumentException($"Unknown pair '{name}'; use {string.Join(", ", All.Select(p => p.Name))}.");
}

/// <summary>The two model files of a pair, ready for the workers.</summary>
internal sealed record PreparedPair(PairDefinition Pair, string MlxFolder, string GgufPath, GgufExportType GgufType);

/// <summary>
/// Creates the inputs of the comparison in the work folder, reusing what exists: the synthetic
/// BF16 source (when asked for), the MLX-quantized variants and the GGUF files. Both engines'
/// files are quantized from the same BF16 weights, each with its own format.
/// </summary>
internal static class ModelPreparation
{
    // GGUF types a size-matched pair may pick from.
    private static readonly GgufExportType[] Candidates =
        [GgufExportType.Q4_0, GgufExportType.Q4_1, GgufExportType.Q5_0, GgufExportType.Q5_1, GgufExportType.Q8_0];

    public static string EnsureSource(string? source, string? synth, string workFolder, int threads)
    {
        if (source != null)
        {
            if (!File.Exists(Path.Combine(source, "config.json")))
            {
                throw new DirectoryNotFoundException($"No config.json in --source {source}; give a BF16 Gemma 4 model folder.");
            }

            return Path.GetFullPath(source);
        }

        if (synth == null)
        {
            throw new ArgumentException("Give --source (a BF16 Gemma 4 folder) or --synth tiny|e2b.");
        }

        string folder = Path.Combine(workFolder, $"synth-{synth}");
        if (!File.Exists(Path.Combine(folder, "config.json")))
        {
            Console.Error.WriteLine($"Writing synthetic {synth} weights to {folder} …");
            SyntheticCheckpoint.Write(SyntheticPreset.Parse(synth), folder, new SyntheticOptions { Threads = threads });
        }

        return folder;
    }

    public static PreparedPair Prepare(PairDefinition pair, string source, string workFolder, int threads)
    {
        string mlx = Path.Combine(workFolder, $"mlx-{pair.Recipe}-g64");
        if (!File.Exists(Path.Combine(mlx, "config.json")))
        {
            Console.Error.WriteLine($"Quantizing {source} with {pair.Recipe} (group size 64) into {mlx} …");
            CheckpointQuantizer.Quantize(source, mlx, new QuantizeOptions
            {
                Recipe = QuantizationRecipe.Parse(pair.Recipe, QuantizationRecipe.DefaultGroupSize),
                Threads = threads,
            });
        }

        using var model = Gemma4Model.Load(source);
        CheckKvSharingLayout(model.Config);
        var type = pair.GgufType ?? NearestBySize(model, mlx);
        string gguf = Path.Combine(workFolder, $"gguf-{type.DisplayName()}.gguf");
        if (!File.Exists(gguf))
        {
            Console.Error.WriteLine($"Exporting {source} as {type.DisplayName()} GGUF to {gguf} …");
            var result = Gemma4GgufExporter.Export(model, gguf, new GgufExportOptions { Type = type, Threads = threads });
            foreach (string warning in result.Warnings)
            {
                Console.Error.WriteLine($"warning: {warning}");
            }
        }

        return new PreparedPair(pair, mlx, gguf, type);
    }

    // The llama.cpp build in LLamaSharp 0.30.0 takes a KV-shared layer's keys and values from the
    // first shared layer − 2 (sliding) or − 1 (full). It aborts in its KV-cache setup when those
    // layers have the other attention type, so such layouts are rejected before measuring.
    private static void CheckKvSharingLayout(Gemma4Config config)
    {
        int first = config.FirstKvSharedLayer;
        for (int layer = first; layer < config.NumHiddenLayers && config.NumKvSharedLayers > 0; layer++)
        {
            int fixedSource = first - (config.LayerType(layer) == AttentionKind.Sliding ? 2 : 1);
            if (config.KvSourceLayer(layer) != fixedSource)
            {
                throw new InvalidOperationException(
                    $"Layer {layer} shares keys and values with layer {config.KvSourceLayer(layer)}, but llama.cpp uses layer {fixedSource}; "
                    + "llama.cpp cannot run this layout. Use a model whose last two non-shared layers are sliding, then full (as Gemma 4 E2B).");
            }
        }
    }

    private static GgufExportType NearestBySize(Gemma4Model model, string mlxFolder)
    {
        long mlxBytes = Directory.GetFiles(mlxFolder, "*.safetensors").Sum(f => new FileInfo(f).Length);
        return Candidates
            .OrderBy(type => Math.Abs(Gemma4GgufPlan.Create(model, new GgufExportOptions { Type = type }).TensorBytes - mlxBytes))
            .First();
    }
}
