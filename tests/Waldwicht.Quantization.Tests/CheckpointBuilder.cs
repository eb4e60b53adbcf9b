using System.Runtime.InteropServices;
using System.Text.Json.Nodes;
using Waldwicht.Formats.Safetensors;
using Waldwicht.Numerics;

namespace Waldwicht.Quantization.Tests;

/// <summary>Writes small Gemma 4 checkpoints for tests: the tiny model with changes, or hand-made tensors.</summary>
internal sealed class CheckpointBuilder
{
    private readonly SortedDictionary<string, (SafetensorsDType DType, long[] Shape, byte[] Data)> _tensors = new(StringComparer.Ordinal);

    public JsonObject Config { get; set; } = JsonNode.Parse(File.ReadAllText(Path.Combine(TinyModel.Folder, "config.json")))!.AsObject();

    /// <summary>A builder holding every tensor of the committed tiny BF16 model.</summary>
    public static CheckpointBuilder FromTinyModel()
    {
        var builder = new CheckpointBuilder();
        using var file = SafetensorsFile.Open(Path.Combine(TinyModel.Folder, "model.safetensors"));
        foreach (var tensor in file.Tensors)
        {
            builder._tensors[tensor.Name] = (tensor.DType, tensor.Shape, file.GetBytes(tensor).ToArray());
        }

        return builder;
    }

    public CheckpointBuilder Add(string name, SafetensorsDType dtype, long[] shape, byte[] data)
    {
        _tensors[name] = (dtype, shape, data);
        return this;
    }

    /// <summary>Adds a BF16 tensor whose values are a simple deterministic pattern.</summary>
    public CheckpointBuilder AddBf16(string name, params long[] shape)
    {
        long count = shape.Aggregate(1L, (a, b) => a * b);
        var values = new ushort[count];
        for (long i = 0; i < count; i++)
        {
            values[i] = BFloat16.FromSingle(MathF.Sin(i * 0.37f) * 0.05f);
        }

        return Add(name, SafetensorsDType.BF16, shape, MemoryMarshal.AsBytes(values.AsSpan()).ToArray());
    }

    public CheckpointBuilder Remove(string name)
    {
        _tensors.Remove(name);
        return this;
    }

    /// <summary>Overwrites one BF16 element of a tensor.</summary>
    public CheckpointBuilder SetBf16(string name, long index, float value)
    {
        var data = _tensors[name].Data;
        ushort bits = BFloat16.FromSingle(value);
        data[index * 2] = (byte)bits;
        data[(index * 2) + 1] = (byte)(bits >> 8);
        return this;
    }

    /// <summary>Writes config.json, the support files of the tiny model and the tensors, in one file or split into shards with an index.</summary>
    public string Write(string directory, int shards = 1)
    {
        Directory.CreateDirectory(directory);
        File.WriteAllText(Path.Combine(directory, "config.json"), Config.ToJsonString());
        foreach (var name in new[] { "tokenizer.json", "tokenizer_config.json", "generation_config.json" })
        {
            File.Copy(Path.Combine(TinyModel.Folder, name), Path.Combine(directory, name));
        }

        var names = _tensors.Keys.ToList();
        var weightMap = new JsonObject();
        for (int shard = 0; shard < shards; shard++)
        {
            string fileName = shards == 1 ? "model.safetensors" : $"model-{shard + 1:D5}-of-{shards:D5}.safetensors";
            var part = names.Skip(shard * names.Count / shards).Take(((shard + 1) * names.Count / shards) - (shard * names.Count / shards)).ToList();
            var declarations = part.Select(n => new TensorDeclaration(n, _tensors[n].DType, _tensors[n].Shape)).ToList();
            using var writer = SafetensorsWriter.Create(Path.Combine(directory, fileName), declarations, [new("format", "pt")]);
            foreach (var name in part)
            {
                writer.Write(name, _tensors[name].Data);
                weightMap[name] = fileName;
            }

            writer.Complete();
        }

        if (shards > 1)
        {
            var index = new JsonObject { ["metadata"] = new JsonObject { ["total_size"] = _tensors.Values.Sum(t => (long)t.Data.Length) }, ["weight_map"] = weightMap };
            File.WriteAllText(Path.Combine(directory, SafetensorsCheckpoint.IndexFileName), index.ToJsonString());
        }

        return directory;
    }
}
