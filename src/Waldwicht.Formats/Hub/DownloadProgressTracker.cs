namespace Waldwicht.Formats.Hub;

/// <summary>
/// Adds up the bytes of concurrent file downloads and reports <see cref="DownloadProgress"/>: when a file starts,
/// when its size on disk crosses a multiple of <see cref="ReportInterval"/>, and when it is complete and verified. Reports are made under
/// a lock, so they arrive in order.
/// </summary>
internal sealed class DownloadProgressTracker
{
    public const long ReportInterval = 1 << 20;

    private readonly Lock _gate = new();
    private readonly string _repoId;
    private readonly IProgress<DownloadProgress>? _progress;
    private readonly Dictionary<string, FileState> _files = new(StringComparer.Ordinal);
    private readonly long _totalSize;
    private long _totalBytes;
    private int _filesCompleted;

    public DownloadProgressTracker(string repoId, IEnumerable<HubFileMetadata> files, IProgress<DownloadProgress>? progress)
    {
        _repoId = repoId;
        _progress = progress;
        foreach (var file in files)
        {
            _files[file.FileName] = new FileState { Size = file.Size };
            _totalSize += file.Size;
        }
    }

    /// <summary>Sets the bytes of a file on disk, which drop when a download restarts from the beginning.</summary>
    public void Update(string fileName, long bytes)
    {
        lock (_gate)
        {
            var file = _files[fileName];
            _totalBytes += bytes - file.Bytes;
            file.Bytes = bytes;
            // Report on the first update, on a restart, and whenever a multiple of the interval is crossed.
            if (file.Reported >= 0 && bytes >= file.Reported && bytes / ReportInterval == file.Reported / ReportInterval)
            {
                return;
            }

            file.Reported = bytes;
            Report(fileName, file);
        }
    }

    /// <summary>Marks a file complete and verified.</summary>
    public void Complete(string fileName)
    {
        lock (_gate)
        {
            var file = _files[fileName];
            _totalBytes += file.Size - file.Bytes;
            file.Bytes = file.Size;
            file.Reported = file.Size;
            _filesCompleted++;
            Report(fileName, file);
        }
    }

    private void Report(string fileName, FileState file) =>
        _progress?.Report(new DownloadProgress(
            _repoId, fileName, file.Bytes, file.Size, _totalBytes, _totalSize, _filesCompleted, _files.Count));

    private sealed class FileState
    {
        public long Size { get; init; }

        public long Bytes { get; set; }

        // Bytes at the last report, or -1 before the first report.
        public long Reported { get; set; } = -1;
    }
}
