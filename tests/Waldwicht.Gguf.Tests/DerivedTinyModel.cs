using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Waldwicht.Formats.Safetensors;
using Waldwicht.Tests;

namespace Waldwicht.Gguf.Tests;

/// <summary>
/// Writes a 9-layer variant of the committed tiny Gemma 4 checkpoint: layer 5 is removed and the
/// later layers are renumbered. The four KV-shared layers (5 to 8) then take their keys and
/// values from layer 3 (sliding) and layer 4 (full) under both rules in use: "last earlier layer
/// of the same type" and llama.cpp's fixed "first shared layer − 2 / − 1". The per-layer
/// embedding table and its projection lose the slice of layer 5 as well.
/// </summary>
internal static partial class DerivedTinyModel
{
    public const int RemovedLayer = 5;

    /// <summary>Creates the derived model folder inside <paramref name="folder"/> and returns its path.</summary>
    public static string Write(string folder)
    {
        string source = TestData.Path("tiny-gemma4");
        string target = Path.Combine(folder, "tiny-gemma4-9-layers");
        Directory.CreateDirectory(target);
        foreach (string file in new[] { "tokenizer.json", "tokenizer_config.json", "generation_config.json" })
        {
            File.Copy(Path.Combine(source, file), Path.Combine(target, file));
        }

        int layers = WriteConfig(Path.Combine(source, "config.json"), Path.Combine(target, "config.json"));
        WriteWeights(Path.Combine(source, "model.safetensors"), Path.Combine(target, "model.safetensors"), layers);
        return target;
    }

    // Returns the layer count of the source model.
    private static int WriteConfig(string sourcePath, string targetPath)
    {
        var root = JsonNode.Parse(File.ReadAllText(sourcePath))!.AsObject();
        var text = root["text_config"]!.AsObject();
        int layers = text["num_hidden_layers"]!.GetValue<int>();
        text["num_hidden_layers"] = layers - 1;
        text["layer_types"]!.AsArray().RemoveAt(RemovedLayer);
        File.WriteAllText(targetPath, root.ToJsonString());
        return layers;
    }

    private static void WriteWeights(string sourcePath, string targetPath, int layers)
    {
        using var source = SafetensorsFile.Open(sourcePath);
        var kept = new List<(TensorInfo Info, string Name)>();
        foreach (var info in source.Tensors)
        {
            var match = LayerName().Match(info.Name);
            if (!match.Success)
            {
                kept.Add((info, info.Name));
                continue;
            }

            int layer = int.Parse(match.Groups[2].Value);
            if (layer == RemovedLayer)
            {
                continue;
            }

            int renumbered = layer > RemovedLayer ? layer - 1 : layer;
            kept.Add((info, $"{match.Groups[1].Value}{renumbered}{match.Groups[3].Value}"));
        }

        var tensors = kept.Select(k => (k.Name, k.Info, Data: RemoveLayerSlice(k.Name, k.Info, source.GetBytes(k.Info).ToArray(), layers))).ToList();
        var declarations = tensors.Select(t => new TensorDeclaration(t.Name, t.Info.DType, t.Data.Shape));
        using var writer = SafetensorsWriter.Create(targetPath, declarations, source.Metadata);
        foreach (var (name, _, data) in tensors)
        {
            writer.Write(name, data.Bytes);
        }

        writer.Complete();
    }

    // The per-layer embedding table [V, N·P] stores its columns layer by layer, and the projection
    // [N·P, H] its rows. Both drop the P entries of the removed layer.
    private static (long[] Shape, byte[] Bytes) RemoveLayerSlice(string name, TensorInfo info, byte[] bytes, int layers)
    {
        bool table = name.EndsWith("embed_tokens_per_layer.weight", StringComparison.Ordinal);
        bool projection = name.EndsWith("per_layer_model_projection.weight", StringComparison.Ordinal);
        if (!table && !projection)
        {
            return ((long[])info.Shape.Clone(), bytes);
        }

        int elementSize = info.DType.Size();
        int rows = (int)info.Shape[0];
        int columns = (int)info.Shape[1];
        if (table)
        {
            int width = columns / layers;
            int rowBytes = columns * elementSize;
            var result = new List<byte>();
            for (int r = 0; r < rows; r++)
            {
                var row = bytes.AsSpan(r * rowBytes, rowBytes);
                result.AddRange(row[..(RemovedLayer * width * elementSize)]);
                result.AddRange(row[((RemovedLayer + 1) * width * elementSize)..]);
            }

            return ([rows, columns - width], result.ToArray());
        }

        int height = rows / layers;
        int bytesPerRow = columns * elementSize;
        var kept = bytes[..(RemovedLayer * height * bytesPerRow)].Concat(bytes[((RemovedLayer + 1) * height * bytesPerRow)..]).ToArray();
        return ([rows - height, columns], kept);
    }

    [GeneratedRegex(@"^(.*\.layers\.)(\d+)(\..*)$")]
    private static partial Regex LayerName();
}
