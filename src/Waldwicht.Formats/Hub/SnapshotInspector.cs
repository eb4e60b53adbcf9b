using System.Text.Json;

namespace Waldwicht.Formats.Hub;

/// <summary>
/// What a cached snapshot lacks. <see cref="MissingRequired"/> lists files without which the model cannot load
/// (config.json and the safetensors weights). <see cref="Unconfirmed"/> lists allow-listed files that are neither
/// in the snapshot nor recorded under <c>.no_exist</c> as absent from the repository.
/// </summary>
internal sealed record SnapshotStatus(IReadOnlyList<string> MissingRequired, IReadOnlyList<string> Unconfirmed)
{
    /// <summary>Whether the model can load from the snapshot.</summary>
    public bool IsUsable => MissingRequired.Count == 0;

    /// <summary>Whether the snapshot has every allow-listed file, so the hub need not be asked.</summary>
    public bool IsComplete => IsUsable && Unconfirmed.Count == 0;
}

/// <summary>
/// Decides from the cache alone whether a snapshot contains a model. The cache records no file list, so weights count as
/// complete when every shard named by model.safetensors.index.json is present, or, without an index, when at least one
/// .safetensors file is.
/// </summary>
internal static class SnapshotInspector
{
    public const string ConfigFileName = "config.json";
    public const string IndexFileName = "model.safetensors.index.json";

    // Text shown for missing weights when there is no index to name the shards.
    public const string AnyWeightsFile = "*.safetensors";

    public static SnapshotStatus Inspect(HubRepoCache cache, string commit, FilePatternSet patterns)
    {
        var missingRequired = new List<string>();
        var unconfirmed = new List<string>();
        if (!cache.IsSnapshotFilePresent(commit, ConfigFileName))
        {
            missingRequired.Add(ConfigFileName);
        }

        if (WeightsRequested(patterns))
        {
            if (cache.IsSnapshotFilePresent(commit, IndexFileName))
            {
                var shards = ReadShardNames(cache.SnapshotFile(commit, IndexFileName), cache.RepoFolder);
                missingRequired.AddRange(shards.Where(shard => patterns.Matches(shard) && !cache.IsSnapshotFilePresent(commit, shard)));
            }
            else if (!HasAnyWeightsFile(cache.SnapshotFolder(commit)))
            {
                missingRequired.Add(AnyWeightsFile);
            }
        }

        foreach (var name in patterns.ExactNames)
        {
            if (name != ConfigFileName && !cache.IsSnapshotFilePresent(commit, name) && !cache.IsMarkedMissing(commit, name))
            {
                unconfirmed.Add(name);
            }
        }

        return new SnapshotStatus(missingRequired, unconfirmed);
    }

    /// <summary>Whether the allow-list downloads safetensors weights at all.</summary>
    public static bool WeightsRequested(FilePatternSet patterns) => patterns.Matches("model.safetensors");

    /// <summary>Returns the distinct shard file names of a model.safetensors.index.json, in order of first use.</summary>
    public static IReadOnlyList<string> ReadShardNames(string indexPath, string repoFolder)
    {
        try
        {
            using var document = JsonDocument.Parse(File.ReadAllBytes(indexPath));
            if (!document.RootElement.TryGetProperty("weight_map", out var weightMap) || weightMap.ValueKind != JsonValueKind.Object)
            {
                throw InvalidIndex(indexPath, repoFolder, "it has no \"weight_map\" object");
            }

            var shards = new List<string>();
            foreach (var entry in weightMap.EnumerateObject())
            {
                var shard = entry.Value.ValueKind == JsonValueKind.String ? entry.Value.GetString()! : "";
                if (!HubRepoCache.IsSafeRelativePath(shard))
                {
                    throw InvalidIndex(indexPath, repoFolder, $"tensor '{entry.Name}' names an invalid shard file '{shard}'");
                }

                if (!shards.Contains(shard))
                {
                    shards.Add(shard);
                }
            }

            return shards;
        }
        catch (JsonException exception)
        {
            throw InvalidIndex(indexPath, repoFolder, $"it is not valid JSON ({exception.Message})");
        }
    }

    private static bool HasAnyWeightsFile(string snapshotFolder) =>
        Directory.Exists(snapshotFolder)
        && Directory.EnumerateFiles(snapshotFolder, "*.safetensors").Any(HubRepoCache.IsFilePresent);

    private static ModelSourceException InvalidIndex(string indexPath, string repoFolder, string problem) =>
        new(ModelSourceError.NotAModel,
            $"The shard index {indexPath} is invalid: {problem}. Delete {repoFolder} to download the model again.");
}
