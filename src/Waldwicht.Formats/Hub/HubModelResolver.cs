namespace Waldwicht.Formats.Hub;

/// <summary>
/// Finds a hub model's snapshot folder in the cache and downloads what it lacks: lists the revision's files, reads
/// each missing file's ETag and size, downloads the blobs, links them into <c>snapshots/{commit}</c>, and records
/// allow-listed names that the repository does not contain under <c>.no_exist/{commit}</c>.
/// </summary>
internal sealed class HubModelResolver
{
    private const int MaxListedFiles = 20;

    private readonly HubSettings _settings;
    private readonly ModelDownloadOptions _options;
    private readonly FilePatternSet _patterns;

    public HubModelResolver(HubSettings settings, ModelDownloadOptions options)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(options.MaxParallelDownloads, 1, nameof(options.MaxParallelDownloads));
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(options.Timeout, TimeSpan.Zero, nameof(options.Timeout));
        _settings = settings;
        _options = options;
        _patterns = new FilePatternSet(options.AllowPatterns);
    }

    public async Task<string> ResolveAsync(HubModelId id, IProgress<DownloadProgress>? progress, CancellationToken cancellationToken)
    {
        var cache = new HubRepoCache(_settings.CacheRoot, id, _settings.DisableSymlinks);
        var cachedCommit = id.IsCommitHash ? id.Revision : cache.ReadRef(id.Revision);
        var cached = cachedCommit is null ? null : SnapshotInspector.Inspect(cache, cachedCommit, _patterns);
        var cachedFolder = cachedCommit is null ? null : cache.SnapshotFolder(cachedCommit);

        if (cached is { IsComplete: true } && (id.IsCommitHash || !_options.CheckForUpdates))
        {
            return cachedFolder!;
        }

        if (_settings.Offline)
        {
            return cached is { IsUsable: true } ? cachedFolder! : throw OfflineCacheMiss(id, cache, cachedFolder, cached);
        }

        var retry = new RetryPolicy(_options);
        using var client = new HubClient(_settings, _options, retry);
        RepoRevision revision;
        try
        {
            revision = await client.GetRevisionAsync(id, cancellationToken).ConfigureAwait(false);
        }
        catch (ModelSourceException exception) when (
            exception.Error is ModelSourceError.NetworkUnavailable or ModelSourceError.Timeout or ModelSourceError.ServerError
                or ModelSourceError.AccessDenied
            && cached is { IsUsable: true })
        {
            _options.OnWarning?.Invoke($"{exception.Message} Using the cached snapshot {cachedFolder} instead.");
            return cachedFolder!;
        }

        return await DownloadRevisionAsync(client, retry, cache, id, revision, progress, cancellationToken).ConfigureAwait(false);
    }

    private async Task<string> DownloadRevisionAsync(
        HubClient client,
        RetryPolicy retry,
        HubRepoCache cache,
        HubModelId id,
        RepoRevision revision,
        IProgress<DownloadProgress>? progress,
        CancellationToken cancellationToken)
    {
        var commit = revision.Commit;
        var selected = SelectFiles(id, revision);
        if (!id.IsCommitHash)
        {
            cache.WriteRef(id.Revision, commit);
        }

        var parallel = new ParallelOptions { MaxDegreeOfParallelism = _options.MaxParallelDownloads, CancellationToken = cancellationToken };
        var missing = selected.Where(file => !cache.IsSnapshotFilePresent(commit, file)).ToArray();
        var metadata = new HubFileMetadata[missing.Length];
        await Parallel.ForEachAsync(
            Enumerable.Range(0, missing.Length),
            parallel,
            async (index, token) => metadata[index] = await client.GetFileMetadataAsync(id, commit, missing[index], token).ConfigureAwait(false))
            .ConfigureAwait(false);

        // Files with equal contents share one blob, which is downloaded once.
        var blobs = metadata.GroupBy(file => file.Etag, StringComparer.Ordinal).ToArray();
        var toDownload = blobs.Where(blob => !HubRepoCache.IsFilePresent(cache.BlobPath(blob.Key))).Select(blob => blob.First()).ToArray();
        EnsureDiskSpace(cache, id, toDownload);

        var tracker = new DownloadProgressTracker(id.RepoId, toDownload, progress);
        var downloader = new BlobDownloader(client, cache, retry, tracker, _options.OnWarning);
        await Parallel.ForEachAsync(
            blobs,
            parallel,
            async (blob, token) =>
            {
                var files = blob.ToArray();
                var isNewBlob = toDownload.Contains(files[0])
                    && await downloader.DownloadAsync(id, commit, files[0], token).ConfigureAwait(false);
                for (var i = 0; i < files.Length; i++)
                {
                    // Without symbolic links the last file takes over a new blob instead of copying it.
                    cache.LinkSnapshotFile(commit, files[i].FileName, blob.Key, isNewBlob && i == files.Length - 1);
                }
            })
            .ConfigureAwait(false);

        foreach (var name in _patterns.ExactNames.Where(name => !revision.Files.Contains(name, StringComparer.Ordinal)))
        {
            cache.MarkMissing(commit, name);
        }

        var status = SnapshotInspector.Inspect(cache, commit, _patterns);
        if (!status.IsUsable)
        {
            throw new ModelSourceException(
                ModelSourceError.NotAModel,
                $"{id} at commit {commit} is incomplete: it lacks {string.Join(", ", status.MissingRequired)}, which "
                + $"its {SnapshotInspector.IndexFileName} names.");
        }

        return cache.SnapshotFolder(commit);
    }

    private List<string> SelectFiles(HubModelId id, RepoRevision revision)
    {
        var selected = revision.Files.Where(_patterns.Matches).ToList();
        var unsafeName = selected.FirstOrDefault(file => !HubRepoCache.IsSafeRelativePath(file));
        if (unsafeName is not null)
        {
            throw new ModelSourceException(
                ModelSourceError.InvalidServerResponse,
                $"The hub's file list for {id} contains the invalid path '{unsafeName}'. Check HF_ENDPOINT.");
        }

        if (!selected.Contains(SnapshotInspector.ConfigFileName, StringComparer.Ordinal))
        {
            throw new ModelSourceException(
                ModelSourceError.NotAModel,
                $"{id} (commit {revision.Commit}) has no {SnapshotInspector.ConfigFileName}, so it is not a model in "
                + $"Hugging Face format. Files in the repository: {Describe(revision.Files)}.");
        }

        if (SnapshotInspector.WeightsRequested(_patterns) && !selected.Any(file => file.EndsWith(".safetensors", StringComparison.Ordinal)))
        {
            throw new ModelSourceException(
                ModelSourceError.NotAModel,
                $"{id} (commit {revision.Commit}) has no .safetensors weights. Files in the repository: {Describe(revision.Files)}. "
                + "Convert the weights to safetensors, or choose a repository that provides them.");
        }

        return selected;
    }

    private static void EnsureDiskSpace(HubRepoCache cache, HubModelId id, IReadOnlyList<HubFileMetadata> files)
    {
        Directory.CreateDirectory(cache.BlobsFolder);
        var needed = files.Sum(file => file.Size - ExistingLength(cache.IncompletePath(file.Etag)));
        long available;
        try
        {
            var drive = OperatingSystem.IsWindows() ? Path.GetPathRoot(cache.BlobsFolder)! : cache.BlobsFolder;
            available = new DriveInfo(drive).AvailableFreeSpace;
        }
        catch (Exception exception) when (exception is IOException or ArgumentException or UnauthorizedAccessException)
        {
            // Some file systems report no free space figure. The write then fails with a disk-full error if space runs out.
            return;
        }

        if (needed > available)
        {
            throw new ModelSourceException(
                ModelSourceError.DiskFull,
                $"Not enough disk space for {id}: the download needs {FormatBytes(needed)}, but {cache.BlobsFolder} has "
                + $"{FormatBytes(available)} free. Free disk space, or set HF_HUB_CACHE to a folder on a larger disk.");
        }
    }

    private ModelSourceException OfflineCacheMiss(HubModelId id, HubRepoCache cache, string? cachedFolder, SnapshotStatus? cached)
    {
        const string Remedy = "Turn offline mode off (unset HF_HUB_OFFLINE) to download them, or pass the path of a local model folder.";
        if (cached is null)
        {
            return new ModelSourceException(
                ModelSourceError.OfflineCacheMiss,
                $"{id} is not in the Hugging Face cache at {cache.CacheRoot} (no {Path.Combine(cache.RepoFolder, "refs", id.Revision)}), "
                + $"and offline mode is on, so {SnapshotInspector.ConfigFileName} and the weights cannot be downloaded. {Remedy}");
        }

        return new ModelSourceException(
            ModelSourceError.OfflineCacheMiss,
            $"The cached snapshot {cachedFolder} of {id} lacks {string.Join(", ", cached.MissingRequired)}, and offline mode "
            + $"is on. {Remedy}");
    }

    private static long ExistingLength(string path) => File.Exists(path) ? new FileInfo(path).Length : 0;

    // Lists at most MaxListedFiles names, so that an error about a large repository stays readable.
    private static string Describe(IReadOnlyList<string> files)
    {
        if (files.Count == 0)
        {
            return "none";
        }

        var listed = string.Join(", ", files.Take(MaxListedFiles));
        return files.Count <= MaxListedFiles ? listed : $"{listed} and {files.Count - MaxListedFiles} more";
    }

    internal static string FormatBytes(long bytes) => bytes switch
    {
        >= 1L << 30 => $"{bytes / (double)(1L << 30):0.0} GiB",
        >= 1L << 20 => $"{bytes / (double)(1L << 20):0.0} MiB",
        >= 1L << 10 => $"{bytes / (double)(1L << 10):0.0} KiB",
        _ => $"{bytes} bytes",
    };
}
