namespace Waldwicht.Formats.Hub;

/// <summary>
/// Turns what a user typed for a model into a local folder that contains config.json: either a folder path, or a
/// Hugging Face repo id (<c>org/name</c> or <c>org/name@revision</c>) that is looked up in the shared hub cache and
/// downloaded into it when files are missing. Safe to call from several threads and processes at once.
/// </summary>
public static class ModelLocator
{
    /// <summary>
    /// Returns the full path of the model folder for <paramref name="modelOrRepoId"/>.
    /// <list type="bullet">
    /// <item>An existing folder, or text that looks like a path (starts with '.', '/', '~' or a drive letter, contains
    /// '\', or has more than one '/' before any '@'), names a local folder ('~' is the home folder). The folder
    /// must exist and contain config.json.</item>
    /// <item>Anything else must be a repo id. A complete cached snapshot is returned without network access. Otherwise
    /// the missing files of <see cref="ModelDownloadOptions.AllowPatterns"/> are downloaded (unless offline).</item>
    /// </list>
    /// </summary>
    /// <param name="modelOrRepoId">Folder path or repo id with an optional <c>@revision</c>.</param>
    /// <param name="options">Cache, endpoint, token and retry settings, or null for the defaults and the environment.</param>
    /// <param name="progress">Receives download progress. It is not called when nothing is downloaded.</param>
    /// <param name="cancellationToken">Stops the download. Partial data stays in the cache and is resumed next time.</param>
    /// <exception cref="ModelSourceException">The folder or repository is invalid or unavailable. The message names the cause and the fix.</exception>
    public static async Task<string> ResolveAsync(
        string modelOrRepoId,
        ModelDownloadOptions? options = null,
        IProgress<DownloadProgress>? progress = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(modelOrRepoId);
        options ??= new ModelDownloadOptions();
        var homeFolder = Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
        var localFolder = TryResolveLocalFolder(modelOrRepoId, homeFolder);
        if (localFolder is not null)
        {
            return localFolder;
        }

        var id = ParseRepoId(modelOrRepoId);
        var resolver = new HubModelResolver(HubSettings.FromOptions(options), options);
        return await resolver.ResolveAsync(id, progress, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Resolves a repo id with settings that are already complete, so that tests can vary internal settings.</summary>
    internal static Task<string> ResolveAsync(
        string repoId, HubSettings settings, ModelDownloadOptions options, IProgress<DownloadProgress>? progress, CancellationToken cancellationToken) =>
        new HubModelResolver(settings, options).ResolveAsync(ParseRepoId(repoId), progress, cancellationToken);

    /// <summary>
    /// Returns the full path of the folder that <paramref name="text"/> names, or null when the text names no
    /// existing folder and does not look like a path (so it may be a repo id).
    /// </summary>
    /// <exception cref="ModelSourceException">The text names a file, a folder without config.json, or a path that does not exist.</exception>
    internal static string? TryResolveLocalFolder(string text, string homeFolder)
    {
        var path = HubSettings.ExpandHome(text.Trim(), homeFolder);
        if (Directory.Exists(path))
        {
            var folder = Path.GetFullPath(path);
            if (!HubRepoCache.IsFilePresent(Path.Combine(folder, SnapshotInspector.ConfigFileName)))
            {
                throw new ModelSourceException(
                    ModelSourceError.NotAModel,
                    $"The model folder {folder} has no {SnapshotInspector.ConfigFileName}. Pass the folder that contains "
                    + "config.json and the .safetensors weights (a Hugging Face model folder).");
            }

            return folder;
        }

        if (File.Exists(path))
        {
            throw new ModelSourceException(
                ModelSourceError.InvalidReference,
                $"{Path.GetFullPath(path)} is a file. Pass the folder that contains config.json and the .safetensors weights.");
        }

        if (LooksLikePath(text.Trim()))
        {
            throw new ModelSourceException(
                ModelSourceError.LocalFolderNotFound,
                $"Model folder not found: {Path.GetFullPath(path)}. Check the path, or pass a Hugging Face repo id such as "
                + "google/gemma-4-e2b-it.");
        }

        return null;
    }

    private static HubModelId ParseRepoId(string text)
    {
        if (HubModelId.TryParse(text.Trim(), out var id, out var problem))
        {
            return id;
        }

        throw new ModelSourceException(
            ModelSourceError.InvalidReference,
            $"'{text}' is neither an existing folder nor a valid Hugging Face repo id: {problem}. Pass a model folder that "
            + "contains config.json, or a repo id such as google/gemma-4-e2b-it, optionally with @revision.");
    }

    private static bool LooksLikePath(string text) =>
        text.StartsWith('.')
        || text.StartsWith('/')
        || text.StartsWith('~')
        || text.Contains('\\', StringComparison.Ordinal)
        || (text.Length >= 2 && char.IsAsciiLetter(text[0]) && text[1] == ':')
        || text.Split('@')[0].Count(c => c == '/') > 1
        || FirstSegmentIsLocalFolder(text);

    // "models/e2b" reads as a repo id, but when ./models exists the user almost certainly means a folder in it.
    private static bool FirstSegmentIsLocalFolder(string text)
    {
        int slash = text.IndexOf('/', StringComparison.Ordinal);
        return slash > 0 && Directory.Exists(text[..slash]);
    }
}
