namespace Waldwicht.Formats.Hub;

/// <summary>
/// Exclusive lock on a lock file, held across processes until disposed. On Linux and macOS .NET takes an advisory
/// <c>flock</c> for <see cref="FileShare.None"/>, the same lock that Python's filelock (used by huggingface_hub)
/// takes, so downloads by both exclude each other. The operating system drops the lock when its process dies.
/// Setting DOTNET_SYSTEM_IO_DISABLEFILELOCKING turns the <c>flock</c> off, and with it this exclusion.
/// </summary>
internal sealed class FileLock : IDisposable
{
    private static readonly TimeSpan FirstPollDelay = TimeSpan.FromMilliseconds(50);
    private static readonly TimeSpan MaxPollDelay = TimeSpan.FromSeconds(1);

    private readonly FileStream _stream;

    private FileLock(FileStream stream)
    {
        _stream = stream;
    }

    /// <summary>Waits until the lock is free and takes it. <paramref name="onWait"/> runs once if the lock is busy.</summary>
    public static async Task<FileLock> AcquireAsync(string path, Action? onWait, CancellationToken cancellationToken)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        var delay = FirstPollDelay;
        var waited = false;
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            try
            {
                return new FileLock(new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None));
            }
            catch (IOException exception) when (IsHeldByOther(exception))
            {
                if (!waited)
                {
                    waited = true;
                    onWait?.Invoke();
                }

                await Task.Delay(delay, cancellationToken).ConfigureAwait(false);
                delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, MaxPollDelay.Ticks));
            }
        }
    }

    // The lock file stays: deleting it while another process waits on it would let a third process lock a new file
    // of the same name, and two downloads would run at once.
    public void Dispose() => _stream.Dispose();

    private static bool IsHeldByOther(IOException exception)
    {
        // flock fails with EWOULDBLOCK: 11 on Linux, 35 on macOS. Windows reports ERROR_SHARING_VIOLATION (32) and
        // ERROR_LOCK_VIOLATION (33) in the low word of the HRESULT.
        var code = exception.HResult & 0xFFFF;
        return OperatingSystem.IsWindows() ? code is 32 or 33 : code is 11 or 35;
    }
}
