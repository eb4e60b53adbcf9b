namespace Waldwicht.Formats.Hub;

/// <summary>
/// One repository's folder in the hub cache, laid out as huggingface_hub lays it out:
/// <code>
/// {cache}/models--org--name/refs/{revision}             commit hash of a branch or tag
/// {cache}/models--org--name/blobs/{etag}                file contents, named by ETag (git SHA-1, or SHA-256 for LFS files)
/// {cache}/models--org--name/blobs/{etag}.incomplete     partial download, resumed by the next download
/// {cache}/models--org--name/snapshots/{commit}/{file}   relative symbolic link to ../../blobs/{etag}
/// {cache}/models--org--name/.no_exist/{commit}/{file}   empty marker: the file does not exist at that commit
/// {cache}/.locks/models--org--name/{etag}.lock          held while one process downloads that blob
/// </code>
/// </summary>
internal sealed class HubRepoCache
{
    private readonly bool _disableSymlinks;

    public HubRepoCache(string cacheRoot, HubModelId id, bool disableSymlinks = false)
    {
        CacheRoot = cacheRoot;
        RepoFolder = Path.Combine(cacheRoot, id.CacheFolderName);
        LocksFolder = Path.Combine(cacheRoot, ".locks", id.CacheFolderName);
        _disableSymlinks = disableSymlinks;
    }

    public string CacheRoot { get; }

    public string RepoFolder { get; }

    public string LocksFolder { get; }

    public string BlobsFolder => Path.Combine(RepoFolder, "blobs");

    public string SnapshotFolder(string commit) => Path.Combine(RepoFolder, "snapshots", commit);

    public string SnapshotFile(string commit, string fileName) => Path.Combine(SnapshotFolder(commit), ToNativePath(fileName));

    public string BlobPath(string etag) => Path.Combine(BlobsFolder, etag);

    public string IncompletePath(string etag) => BlobPath(etag) + ".incomplete";

    public string LockPath(string etag) => Path.Combine(LocksFolder, etag + ".lock");

    /// <summary>Returns the commit hash that refs/{revision} records, or null when the cache has no such ref.</summary>
    public string? ReadRef(string revision)
    {
        var path = Path.Combine(RepoFolder, "refs", ToNativePath(revision));
        if (!File.Exists(path))
        {
            return null;
        }

        var commit = File.ReadAllText(path).Trim();
        return commit.Length == 40 && commit.All(char.IsAsciiHexDigitLower) ? commit : null;
    }

    /// <summary>Records the commit of a branch or tag, through a temporary file and a rename, so readers never see half a hash.</summary>
    public void WriteRef(string revision, string commit)
    {
        var path = Path.Combine(RepoFolder, "refs", ToNativePath(revision));
        if (ReadRef(revision) == commit)
        {
            return;
        }

        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        var temporary = $"{path}.{Guid.NewGuid():N}.tmp";
        File.WriteAllText(temporary, commit);
        File.Move(temporary, path, overwrite: true);
    }

    /// <summary>Whether the snapshot contains the file with readable contents. A link to a deleted blob does not count.</summary>
    public bool IsSnapshotFilePresent(string commit, string fileName) => IsFilePresent(SnapshotFile(commit, fileName));

    public bool IsMarkedMissing(string commit, string fileName) =>
        File.Exists(Path.Combine(RepoFolder, ".no_exist", commit, ToNativePath(fileName)));

    /// <summary>Records that the file does not exist at the commit, so later lookups need not ask the hub.</summary>
    public void MarkMissing(string commit, string fileName)
    {
        var path = Path.Combine(RepoFolder, ".no_exist", commit, ToNativePath(fileName));
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        if (!File.Exists(path))
        {
            File.WriteAllBytes(path, []);
        }
    }

    /// <summary>
    /// Creates snapshots/{commit}/{fileName} as a relative symbolic link to the blob. Where links cannot be created,
    /// a blob that this download just created is moved into the snapshot. An older blob, which other snapshots may
    /// share, is copied. Both end in a rename, so the snapshot never shows a partial file.
    /// </summary>
    public void LinkSnapshotFile(string commit, string fileName, string etag, bool isNewBlob)
    {
        var linkPath = SnapshotFile(commit, fileName);
        var blobPath = BlobPath(etag);
        Directory.CreateDirectory(Path.GetDirectoryName(linkPath)!);
        DeleteIfExists(linkPath);

        if (!_disableSymlinks && TryCreateSymbolicLink(linkPath, blobPath))
        {
            return;
        }

        if (isNewBlob)
        {
            File.Move(blobPath, linkPath, overwrite: true);
            return;
        }

        var temporary = $"{blobPath}.{Guid.NewGuid():N}.copy";
        try
        {
            File.Copy(blobPath, temporary);
            File.Move(temporary, linkPath, overwrite: true);
        }
        finally
        {
            File.Delete(temporary);
        }
    }

    /// <summary>Whether the path is a file, or a link whose final target is an existing file.</summary>
    public static bool IsFilePresent(string path)
    {
        var info = new FileInfo(path);
        if (!info.Exists)
        {
            return false;
        }

        if (info.LinkTarget is null)
        {
            return true;
        }

        try
        {
            return info.ResolveLinkTarget(returnFinalTarget: true) is FileInfo { Exists: true };
        }
        catch (IOException)
        {
            return false;
        }
    }

    private static bool TryCreateSymbolicLink(string linkPath, string blobPath)
    {
        var relativeTarget = Path.GetRelativePath(Path.GetDirectoryName(linkPath)!, blobPath);
        try
        {
            File.CreateSymbolicLink(linkPath, relativeTarget);
            return true;
        }
        catch (IOException) when (IsFilePresent(linkPath) && SameTarget(linkPath, blobPath))
        {
            // Another process linked the same blob between the delete and the create.
            return true;
        }
        catch (Exception exception) when (exception is IOException or UnauthorizedAccessException or PlatformNotSupportedException)
        {
            // Windows without developer mode, and file systems such as FAT, reject symbolic links.
            return false;
        }
    }

    private static bool SameTarget(string linkPath, string blobPath) =>
        new FileInfo(linkPath).ResolveLinkTarget(returnFinalTarget: true)?.FullName == Path.GetFullPath(blobPath);

    private static void DeleteIfExists(string path)
    {
        // File.Delete removes a link itself, not its target, and ignores a missing file.
        if (new FileInfo(path).Exists)
        {
            File.Delete(path);
        }
    }

    /// <summary>
    /// Whether a repository path (from the hub's file list or a shard index) stays inside the snapshot folder:
    /// '/'-separated, relative, with no empty, '.' or '..' segment and no backslash, colon or control character.
    /// </summary>
    public static bool IsSafeRelativePath(string repositoryPath) =>
        repositoryPath.Length > 0
        && !repositoryPath.Any(c => c == '\\' || char.IsControl(c))
        && !Path.IsPathRooted(repositoryPath)
        && repositoryPath.Split('/').All(segment => segment.Length > 0 && segment != "." && segment != ".." && !segment.Contains(':'));

    private static string ToNativePath(string repositoryPath) => repositoryPath.Replace('/', Path.DirectorySeparatorChar);
}
