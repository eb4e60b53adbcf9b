namespace Waldwicht.Formats.Hub;

/// <summary>
/// Snapshot of a model download, reported after every mebibyte of a file, when a file starts and when it completes.
/// Byte counts include data that an earlier, interrupted download left on disk and that is being resumed.
/// </summary>
/// <param name="RepoId">Repository being downloaded, such as <c>google/gemma-4-e2b-it</c>.</param>
/// <param name="FileName">Repository-relative name of the file this report is about.</param>
/// <param name="FileBytesDownloaded">Bytes of <paramref name="FileName"/> on disk so far.</param>
/// <param name="FileSize">Size of <paramref name="FileName"/> in bytes, as the hub announced it.</param>
/// <param name="TotalBytesDownloaded">Bytes on disk so far, summed over every file of this download.</param>
/// <param name="TotalSize">Size in bytes of every file of this download, not counting files already in the cache.</param>
/// <param name="FilesCompleted">Files of this download that are complete and verified.</param>
/// <param name="FileCount">Files this download fetches, not counting files already in the cache.</param>
public readonly record struct DownloadProgress(
    string RepoId,
    string FileName,
    long FileBytesDownloaded,
    long FileSize,
    long TotalBytesDownloaded,
    long TotalSize,
    int FilesCompleted,
    int FileCount);
