using System.Text.Json;
using Waldwicht.Model.Gemma4;

namespace Waldwicht.Runtime;

/// <summary>
/// The model folder's generation_config.json: stop token ids and recommended sampling values.
/// Falls back to config.json's eos_token_id when the file is absent.
/// </summary>
public sealed record GenerationConfig
{
    /// <summary>Token ids that end generation (for Gemma 4: eos, turn end and tool response start).</summary>
    public required IReadOnlyList<int> StopTokenIds { get; init; }

    /// <summary>Recommended temperature, or null.</summary>
    public float? Temperature { get; init; }

    /// <summary>Recommended top-k, or null.</summary>
    public int? TopK { get; init; }

    /// <summary>Recommended top-p, or null.</summary>
    public float? TopP { get; init; }

    /// <summary>Reads generation_config.json of a model folder.</summary>
    /// <exception cref="Model.ModelFormatException">The file exists but is not valid JSON.</exception>
    public static GenerationConfig Load(string modelDirectory, Gemma4Config config)
    {
        string path = Path.Combine(modelDirectory, "generation_config.json");
        if (!File.Exists(path))
        {
            return new GenerationConfig { StopTokenIds = config.EosTokenIds };
        }

        try
        {
            using var document = JsonDocument.Parse(File.ReadAllBytes(path));
            var root = document.RootElement;
            var stops = new List<int>();
            if (root.TryGetProperty("eos_token_id", out var eos))
            {
                if (eos.ValueKind == JsonValueKind.Number)
                {
                    stops.Add(eos.GetInt32());
                }
                else if (eos.ValueKind == JsonValueKind.Array)
                {
                    stops.AddRange(eos.EnumerateArray().Where(e => e.ValueKind == JsonValueKind.Number).Select(e => e.GetInt32()));
                }
            }

            return new GenerationConfig
            {
                StopTokenIds = stops.Count > 0 ? stops : config.EosTokenIds,
                Temperature = ReadFloat(root, "temperature"),
                TopK = root.TryGetProperty("top_k", out var k) && k.ValueKind == JsonValueKind.Number ? k.GetInt32() : null,
                TopP = ReadFloat(root, "top_p"),
            };
        }
        catch (JsonException ex)
        {
            throw new Model.ModelFormatException($"{path} is not valid JSON: {ex.Message}", ex);
        }
    }

    private static float? ReadFloat(JsonElement root, string name) =>
        root.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.Number ? value.GetSingle() : null;
}
