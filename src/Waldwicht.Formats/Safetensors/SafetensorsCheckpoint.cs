using System.Text.Json;

namespace Waldwicht.Formats.Safetensors;

/// <summary>
/// All safetensors shards of a model folder, addressed by tensor name. Shards are found through
/// model.safetensors.index.json when present, otherwise as every model*.safetensors file.
/// </summary>
public sealed class SafetensorsCheckpoint : IDisposable
{
    /// <summary>File name of the shard index written by Hugging Face and mlx-lm.</summary>
    public const string IndexFileName = "model.safetensors.index.json";

    private readonly List<SafetensorsFile> _files;
    private readonly Dictionary<string, SafetensorsFile> _owner;

    private SafetensorsCheckpoint(string directory, List<SafetensorsFile> files, Dictionary<string, SafetensorsFile> owner)
    {
        Directory = directory;
        _files = files;
        _owner = owner;
    }

    /// <summary>The model folder.</summary>
    public string Directory { get; }

    /// <summary>The open shards.</summary>
    public IReadOnlyList<SafetensorsFile> Files => _files;

    /// <summary>Every tensor name, in shard and data order.</summary>
    public IEnumerable<string> Names => _files.SelectMany(f => f.Tensors).Select(t => t.Name);

    /// <summary>Every tensor entry, in shard and data order.</summary>
    public IEnumerable<TensorInfo> Tensors => _files.SelectMany(f => f.Tensors);

    /// <summary>Total bytes of tensor data in all shards.</summary>
    public long TotalTensorBytes => _files.Sum(f => f.Header.DataLength);

    /// <summary>Opens every shard of a model folder (or a single .safetensors file).</summary>
    /// <exception cref="SafetensorsFormatException">A shard is malformed, missing, or two shards contain the same tensor.</exception>
    public static SafetensorsCheckpoint Open(string path)
    {
        path = Path.GetFullPath(path);
        if (File.Exists(path))
        {
            return FromFiles(Path.GetDirectoryName(path)!, [path]);
        }

        if (!System.IO.Directory.Exists(path))
        {
            throw new DirectoryNotFoundException($"Model folder not found: {path}");
        }

        var shardPaths = ListShards(path);
        if (shardPaths.Count == 0)
        {
            throw new FileNotFoundException($"No model*.safetensors files in {path}.");
        }

        return FromFiles(path, shardPaths);
    }

    /// <summary>
    /// Lists the shard files of a folder: the files the index names (all must exist), or every
    /// model*.safetensors file when there is no index.
    /// </summary>
    public static IReadOnlyList<string> ListShards(string directory)
    {
        string indexPath = Path.Combine(directory, IndexFileName);
        if (!File.Exists(indexPath))
        {
            return System.IO.Directory.GetFiles(directory, "model*.safetensors")
                .Order(StringComparer.Ordinal)
                .ToList();
        }

        var files = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var (_, file) in ReadWeightMap(indexPath))
        {
            files.Add(file);
        }

        var paths = new List<string>();
        foreach (var file in files)
        {
            string full = Path.GetFullPath(Path.Combine(directory, file));
            if (!File.Exists(full))
            {
                throw new SafetensorsFormatException(
                    $"{indexPath}: shard '{file}' is listed in the index but missing from {directory}; download or copy the missing shard.");
            }

            paths.Add(full);
        }

        return paths;
    }

    /// <summary>Reads the weight_map of a shard index as (tensor name, shard file name) pairs.</summary>
    public static IReadOnlyList<(string Name, string File)> ReadWeightMap(string indexPath)
    {
        try
        {
            using var document = JsonDocument.Parse(File.ReadAllBytes(indexPath));
            if (document.RootElement.ValueKind != JsonValueKind.Object
                || !document.RootElement.TryGetProperty("weight_map", out var map)
                || map.ValueKind != JsonValueKind.Object)
            {
                throw new SafetensorsFormatException($"{indexPath}: missing 'weight_map' object.");
            }

            var entries = new List<(string, string)>();
            foreach (var entry in map.EnumerateObject())
            {
                if (entry.Value.ValueKind != JsonValueKind.String)
                {
                    throw new SafetensorsFormatException($"{indexPath}: weight_map entry '{entry.Name}' must be a file name string.");
                }

                entries.Add((entry.Name, entry.Value.GetString()!));
            }

            return entries;
        }
        catch (JsonException ex)
        {
            throw new SafetensorsFormatException($"{indexPath}: invalid JSON: {ex.Message}", ex);
        }
    }

    private static SafetensorsCheckpoint FromFiles(string directory, IReadOnlyList<string> paths)
    {
        var files = new List<SafetensorsFile>();
        var owner = new Dictionary<string, SafetensorsFile>(StringComparer.Ordinal);
        try
        {
            foreach (var path in paths)
            {
                var file = SafetensorsFile.Open(path);
                files.Add(file);
                foreach (var tensor in file.Tensors)
                {
                    if (!owner.TryAdd(tensor.Name, file))
                    {
                        throw new SafetensorsFormatException(
                            $"Tensor '{tensor.Name}' appears in both {Path.GetFileName(owner[tensor.Name].Path)} and {Path.GetFileName(path)}.");
                    }
                }
            }
        }
        catch
        {
            foreach (var file in files)
            {
                file.Dispose();
            }

            throw;
        }

        return new SafetensorsCheckpoint(directory, files, owner);
    }

    /// <summary>True if some shard contains this tensor.</summary>
    public bool Contains(string name) => _owner.ContainsKey(name);

    /// <summary>Returns the shard that contains a tensor, or null.</summary>
    public SafetensorsFile? FindFile(string name) => _owner.GetValueOrDefault(name);

    /// <summary>Returns the header entry of a tensor.</summary>
    /// <exception cref="KeyNotFoundException">No shard contains the tensor.</exception>
    public TensorInfo GetInfo(string name) => GetFile(name).GetInfo(name);

    /// <summary>Address of a tensor's data in its mapped shard.</summary>
    public nint GetPointer(string name) => GetFile(name).GetPointer(name);

    /// <summary>The data of a tensor reinterpreted as elements of <typeparamref name="T"/>.</summary>
    public ReadOnlySpan<T> GetSpan<T>(string name)
        where T : unmanaged => GetFile(name).GetSpan<T>(name);

    private SafetensorsFile GetFile(string name) =>
        _owner.TryGetValue(name, out var file)
            ? file
            : throw new KeyNotFoundException($"Tensor '{name}' not found in the checkpoint at {Directory}.");

    public void Dispose()
    {
        foreach (var file in _files)
        {
            file.Dispose();
        }
    }
}
