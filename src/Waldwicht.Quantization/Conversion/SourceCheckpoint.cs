using System.Text.Json;
using System.Text.Json.Nodes;
using Waldwicht.Formats.Safetensors;
using Waldwicht.Model;
using Waldwicht.Model.Gemma4;

namespace Waldwicht.Quantization.Conversion;

/// <summary>One tensor of a source checkpoint: its header entry and the shard file that contains it.</summary>
public sealed record SourceTensor(TensorInfo Info, string ShardPath, long DataOffset)
{
    /// <summary>Tensor name.</summary>
    public string Name => Info.Name;
}

/// <summary>
/// The headers and config.json of an unquantized Gemma 4 checkpoint folder, read without mapping
/// or reading any tensor data.
/// </summary>
public sealed class SourceCheckpoint
{
    private SourceCheckpoint(
        string directory, JsonObject configJson, Gemma4Config config, Gemma4TensorNames names, IReadOnlyList<string> shardPaths, IReadOnlyList<SourceTensor> tensors)
    {
        Directory = directory;
        ConfigJson = configJson;
        Config = config;
        Names = names;
        ShardPaths = shardPaths;
        Tensors = tensors;
    }

    /// <summary>Full path of the model folder.</summary>
    public string Directory { get; }

    /// <summary>config.json as parsed, with key order and number spellings preserved.</summary>
    public JsonObject ConfigJson { get; }

    /// <summary>The text decoder settings.</summary>
    public Gemma4Config Config { get; }

    /// <summary>Naming style of the decoder's tensors.</summary>
    public Gemma4TensorNames Names { get; }

    /// <summary>Full paths of the shard files, in ordinal order.</summary>
    public IReadOnlyList<string> ShardPaths { get; }

    /// <summary>Every tensor of every shard, sorted by name (ordinal).</summary>
    public IReadOnlyList<SourceTensor> Tensors { get; }

    /// <summary>Total bytes of tensor data.</summary>
    public long TensorBytes => Tensors.Sum(t => t.Info.ByteLength);

    /// <summary>
    /// Reads config.json and the safetensors headers of a model folder and checks that it contains an
    /// unquantized Gemma 4 checkpoint.
    /// </summary>
    /// <exception cref="DirectoryNotFoundException">The folder does not exist.</exception>
    /// <exception cref="FileNotFoundException">The folder has no model*.safetensors files.</exception>
    /// <exception cref="ModelFormatException">config.json is missing or not Gemma 4, or the checkpoint is already quantized or has no embedding table.</exception>
    /// <exception cref="SafetensorsFormatException">A shard or the index is malformed, or a shard named in the index is missing.</exception>
    public static SourceCheckpoint Open(string directory) => Open(directory, SafetensorsHeader.Read);

    /// <summary>
    /// Reads a checkpoint whose files contain only their headers (no data section), for planning
    /// without the data. Such a checkpoint can be planned but not converted.
    /// </summary>
    internal static SourceCheckpoint OpenHeadersOnly(string directory) => Open(directory, ReadHeaderOnly);

    private static SourceCheckpoint Open(string directory, Func<string, SafetensorsHeader> readHeader)
    {
        ArgumentNullException.ThrowIfNull(directory);
        directory = Path.GetFullPath(directory);
        if (!System.IO.Directory.Exists(directory))
        {
            string hint = File.Exists(directory) ? " It is a file; give the folder that contains config.json and the model*.safetensors files." : "";
            throw new DirectoryNotFoundException($"Model folder not found: {directory}.{hint}");
        }

        var config = Gemma4Config.Load(directory);
        var configJson = ReadConfigJson(directory);
        RejectQuantizedConfig(directory, configJson);

        var shardPaths = SafetensorsCheckpoint.ListShards(directory);
        if (shardPaths.Count == 0)
        {
            throw new FileNotFoundException(
                $"No model*.safetensors files in {directory}; point --model to a folder that contains the BF16 model weights.");
        }

        var tensors = new List<SourceTensor>();
        var owner = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var shard in shardPaths)
        {
            var header = readHeader(shard);
            foreach (var info in header.Tensors)
            {
                if (!owner.TryAdd(info.Name, shard))
                {
                    throw new SafetensorsFormatException(
                        $"Tensor '{info.Name}' appears in both {Path.GetFileName(owner[info.Name])} and {Path.GetFileName(shard)} in {directory}; remove the stale shard.");
                }

                tensors.Add(new SourceTensor(info, shard, header.DataOffset));
            }
        }

        CheckIndex(directory, owner);
        tensors.Sort((a, b) => string.CompareOrdinal(a.Name, b.Name));
        RejectQuantizedTensors(directory, tensors);
        var names = Gemma4TensorNames.Detect(owner.ContainsKey, config.ModelType);
        return new SourceCheckpoint(directory, configJson, config, names, shardPaths, tensors);
    }

    /// <summary>True for tensors of the vision and audio towers and the multimodal embedders.</summary>
    public static bool IsMultimodal(string tensorName) => Gemma4TensorNames.IsMultimodal(tensorName);

    private static SafetensorsHeader ReadHeaderOnly(string path)
    {
        using var stream = File.OpenRead(path);
        Span<byte> prefix = stackalloc byte[8];
        stream.ReadExactly(prefix);
        var json = new byte[System.Buffers.Binary.BinaryPrimitives.ReadUInt64LittleEndian(prefix)];
        stream.ReadExactly(json);
        return SafetensorsHeader.Parse(json, path);
    }

    private static JsonObject ReadConfigJson(string directory)
    {
        string path = Path.Combine(directory, "config.json");
        try
        {
            var options = new JsonNodeOptions { PropertyNameCaseInsensitive = false };
            return JsonNode.Parse(File.ReadAllBytes(path), options) as JsonObject
                ?? throw new ModelFormatException($"{path} must contain a JSON object.");
        }
        catch (JsonException ex)
        {
            throw new ModelFormatException($"{path} is not valid JSON: {ex.Message}", ex);
        }
    }

    private static void RejectQuantizedConfig(string directory, JsonObject config)
    {
        foreach (var key in new[] { "quantization", "quantization_config" })
        {
            bool atTop = config[key] is not null;
            bool inText = config["text_config"] is JsonObject text && text[key] is not null;
            if (atTop || inText)
            {
                throw new ModelFormatException(
                    $"{directory} is already quantized (config.json has a '{key}' block); quantize the original BF16 checkpoint instead.");
            }
        }
    }

    private static void RejectQuantizedTensors(string directory, List<SourceTensor> tensors)
    {
        foreach (var tensor in tensors)
        {
            if (tensor.Name.EndsWith(".scales", StringComparison.Ordinal) || tensor.Name.EndsWith(".biases", StringComparison.Ordinal)
                || tensor.Info.DType == SafetensorsDType.U32)
            {
                throw new ModelFormatException(
                    $"{directory} is already quantized (tensor '{tensor.Name}' is {tensor.Info.DType.HeaderName()} {tensor.Info.ShapeText}); quantize the original BF16 checkpoint instead.");
            }
        }
    }

    // The index must not list tensors that no shard contains; shards it names were checked by ListShards.
    private static void CheckIndex(string directory, Dictionary<string, string> owner)
    {
        string indexPath = Path.Combine(directory, SafetensorsCheckpoint.IndexFileName);
        if (!File.Exists(indexPath))
        {
            return;
        }

        foreach (var (name, file) in SafetensorsCheckpoint.ReadWeightMap(indexPath))
        {
            if (!owner.TryGetValue(name, out var shard) || Path.GetFileName(shard) != file)
            {
                string found = shard == null ? "no shard contains it" : $"it is in {Path.GetFileName(shard)}";
                throw new SafetensorsFormatException(
                    $"{indexPath}: weight_map places tensor '{name}' in {file}, but {found}; the index does not match the shards, so re-download or regenerate it.");
            }
        }
    }
}
