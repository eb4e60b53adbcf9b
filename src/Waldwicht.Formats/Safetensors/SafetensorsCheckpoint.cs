using System.Text.Json;

namespace Waldwicht.Formats.Safetensors;

/// <summary>
/// All safetensors shards of a model folder, addressed by tensor name. Shards are found through
/// model.safetensors.index.json when present, otherwise as every model*.safetensors file.
/// Thread-safe for reads.
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

    /// <summary>
    /// Opens every shard of a model folder, or a single .safetensors file. With an index, the
    /// shards it names are opened and every tensor it lists must be in the shard it names.
    /// </summary>
    /// <exception cref="FileNotFoundException">The path does not exist, or the folder has no model*.safetensors file.</exception>
    /// <exception cref="SafetensorsFormatException">A shard or the index is malformed, a shard named in the index is missing, or two shards contain the same tensor.</exception>
    public static SafetensorsCheckpoint Open(string path)
    {
        path = Path.GetFullPath(path);
        if (File.Exists(path))
        {
            return FromFiles(Path.GetDirectoryName(path)!, [path]);
        }

        if (!System.IO.Directory.Exists(path))
        {
            throw new FileNotFoundException($"Model folder or safetensors file not found: {path}", path);
        }

        string indexPath = Path.Combine(path, IndexFileName);
        if (!File.Exists(indexPath))
        {
            var shardPaths = ListShards(path);
            if (shardPaths.Count == 0)
            {
                throw new FileNotFoundException(
                    $"No model*.safetensors files and no {IndexFileName} in {path}; point to a folder that contains the model weights.");
            }

            return FromFiles(path, shardPaths);
        }

        var weightMap = ReadWeightMap(indexPath);
        var checkpoint = FromFiles(path, ShardPathsOf(path, indexPath, weightMap));
        try
        {
            foreach (var (name, file) in weightMap)
            {
                var owner = checkpoint.FindFile(name);
                if (owner == null || Path.GetFileName(owner.Path) != file)
                {
                    string found = owner == null ? "no shard contains it" : $"it is in {Path.GetFileName(owner.Path)}";
                    throw new SafetensorsFormatException(
                        $"{indexPath}: weight_map places tensor '{name}' in {file}, but {found}; the index does not match the shards, so re-download or regenerate it.");
                }
            }
        }
        catch
        {
            checkpoint.Dispose();
            throw;
        }

        return checkpoint;
    }

    /// <summary>
    /// Lists the shard files of a folder: the files the index names (all must exist), or every
    /// model*.safetensors file in ordinal order when there is no index.
    /// </summary>
    /// <exception cref="SafetensorsFormatException">The index is malformed or names a missing shard.</exception>
    public static IReadOnlyList<string> ListShards(string directory)
    {
        directory = Path.GetFullPath(directory);
        string indexPath = Path.Combine(directory, IndexFileName);
        if (!File.Exists(indexPath))
        {
            return System.IO.Directory.GetFiles(directory, "model*.safetensors")
                .Order(StringComparer.Ordinal)
                .ToList();
        }

        return ShardPathsOf(directory, indexPath, ReadWeightMap(indexPath));
    }

    /// <summary>
    /// Reads the weight_map of a shard index as (tensor name, shard file name) pairs in file order.
    /// </summary>
    /// <exception cref="SafetensorsFormatException">
    /// The index is not valid JSON, has no weight_map object, lists no tensor, lists a tensor twice,
    /// or maps a tensor to something other than a file name in the same folder.
    /// </exception>
    public static IReadOnlyList<(string Name, string File)> ReadWeightMap(string indexPath)
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(File.ReadAllBytes(indexPath));
        }
        catch (JsonException ex)
        {
            throw new SafetensorsFormatException($"{indexPath}: invalid JSON: {ex.Message}", ex);
        }

        using (document)
        {
            if (document.RootElement.ValueKind != JsonValueKind.Object
                || !document.RootElement.TryGetProperty("weight_map", out var map)
                || map.ValueKind != JsonValueKind.Object)
            {
                throw new SafetensorsFormatException(
                    $"{indexPath}: missing 'weight_map' object; a shard index maps each tensor name to its shard file.");
            }

            var entries = new List<(string, string)>();
            var seen = new HashSet<string>(StringComparer.Ordinal);
            foreach (var entry in map.EnumerateObject())
            {
                if (entry.Value.ValueKind != JsonValueKind.String)
                {
                    throw new SafetensorsFormatException(
                        $"{indexPath}: weight_map entry '{entry.Name}' must be a file name string, found {entry.Value.ValueKind}.");
                }

                string file = entry.Value.GetString()!;
                if (file.Length == 0 || Path.GetFileName(file) != file || file is "." or "..")
                {
                    throw new SafetensorsFormatException(
                        $"{indexPath}: weight_map entry '{entry.Name}' names '{file}', which is not a file name in the model folder.");
                }

                if (!seen.Add(entry.Name))
                {
                    throw new SafetensorsFormatException($"{indexPath}: weight_map lists tensor '{entry.Name}' twice.");
                }

                entries.Add((entry.Name, file));
            }

            if (entries.Count == 0)
            {
                throw new SafetensorsFormatException($"{indexPath}: weight_map is empty; the index lists no tensors.");
            }

            return entries;
        }
    }

    private static List<string> ShardPathsOf(string directory, string indexPath, IReadOnlyList<(string Name, string File)> weightMap)
    {
        var paths = new List<string>();
        foreach (var file in weightMap.Select(e => e.File).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal))
        {
            string full = Path.Combine(directory, file);
            if (!File.Exists(full))
            {
                throw new SafetensorsFormatException(
                    $"{indexPath}: shard '{file}' is listed in the index but missing from {directory}; download or copy the missing shard.");
            }

            paths.Add(full);
        }

        return paths;
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
                            $"Tensor '{tensor.Name}' appears in both {Path.GetFileName(owner[tensor.Name].Path)} and {Path.GetFileName(path)} in {directory}; remove the stale shard.");
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

    /// <summary>A byte range of a tensor's data, for reading large tensors block by block.</summary>
    public ReadOnlySpan<byte> GetBytes(string name, long offset, int length)
    {
        var file = GetFile(name);
        return file.GetBytes(file.GetInfo(name), offset, length);
    }

    /// <summary>
    /// The data of a tensor reinterpreted as elements of <typeparamref name="T"/>, which must be
    /// <see cref="byte"/> or have the size of the tensor's dtype.
    /// </summary>
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
