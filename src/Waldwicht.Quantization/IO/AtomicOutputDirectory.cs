namespace Waldwicht.Quantization.IO;

/// <summary>
/// A folder that is written under a temporary name next to its target and renamed to the target
/// by <see cref="Commit"/>. Disposing without a commit deletes the temporary folder, so failures
/// and cancellation leave nothing behind. An existing target is replaced only at commit time.
/// </summary>
/// <remarks>
/// The temporary folder is ".NAME.tmp-XXXXXXXX" in the target's parent, on the same file system,
/// so the final rename is atomic. A process killed outright (SIGKILL, power loss) can leave that
/// folder behind; its name shows what it was.
/// </remarks>
internal sealed class AtomicOutputDirectory : IDisposable
{
    private readonly bool _replace;
    private readonly IReadOnlyList<string> _createdParents;
    private bool _committed;
    private bool _disposed;

    private AtomicOutputDirectory(string target, string temporary, bool replace, IReadOnlyList<string> createdParents)
    {
        TargetPath = target;
        TemporaryPath = temporary;
        _replace = replace;
        _createdParents = createdParents;
    }

    /// <summary>Full path of the folder that <see cref="Commit"/> produces.</summary>
    public string TargetPath { get; }

    /// <summary>Full path of the folder to write into.</summary>
    public string TemporaryPath { get; }

    /// <summary>
    /// Creates the temporary folder for <paramref name="target"/>, creating missing parent folders
    /// (which are removed again if the output is not committed).
    /// </summary>
    /// <param name="target">The output folder.</param>
    /// <param name="replace">Whether an existing target may be replaced at commit time.</param>
    /// <param name="optionName">Name of the command-line option in messages, such as "--output".</param>
    /// <exception cref="IOException">The target exists (and <paramref name="replace"/> is false), is a file, or its parent is not writable.</exception>
    public static AtomicOutputDirectory Create(string target, bool replace, string optionName = "--output")
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(target);
        target = Path.TrimEndingDirectorySeparator(Path.GetFullPath(target));
        CheckTarget(target, replace, optionName);
        string parent = Path.GetDirectoryName(target)
            ?? throw new IOException($"{optionName} {target} is a root folder; give a folder below it.");
        string temporary = Path.Combine(parent, $".{Path.GetFileName(target)}.tmp-{ShortId()}");
        var createdParents = MissingFolders(parent);
        try
        {
            Directory.CreateDirectory(parent);
            Directory.CreateDirectory(temporary);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            DeleteEmpty(createdParents);
            throw new IOException(
                $"Cannot create the output folder {target}: {ex.Message} Choose a writable location for {optionName}.", ex);
        }

        return new AtomicOutputDirectory(target, temporary, replace, createdParents);
    }

    /// <summary>Throws when <paramref name="target"/> cannot be written: it is a file, or exists and may not be replaced.</summary>
    /// <exception cref="IOException">The target is a file or exists without permission to replace it.</exception>
    public static void CheckTarget(string target, bool replace, string optionName = "--output")
    {
        target = Path.GetFullPath(target);
        if (File.Exists(target))
        {
            throw new IOException($"{optionName} {target} is a file; give the path of a folder to create.");
        }

        if (Directory.Exists(target) && !replace)
        {
            throw new IOException(
                $"Output folder {target} already exists; choose another {optionName} or pass --force to replace it.");
        }
    }

    /// <summary>Moves the finished folder to the target, replacing an existing target when allowed.</summary>
    /// <exception cref="IOException">The target appeared meanwhile without permission to replace it, or a rename failed.</exception>
    public void Commit()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_committed)
        {
            throw new InvalidOperationException($"{TargetPath} was already committed.");
        }

        if (!Directory.Exists(TargetPath))
        {
            Directory.Move(TemporaryPath, TargetPath);
            _committed = true;
            return;
        }

        CheckTarget(TargetPath, _replace);
        string backup = Path.Combine(Path.GetDirectoryName(TargetPath)!, $".{Path.GetFileName(TargetPath)}.old-{ShortId()}");
        Directory.Move(TargetPath, backup);
        try
        {
            Directory.Move(TemporaryPath, TargetPath);
        }
        catch
        {
            Directory.Move(backup, TargetPath);
            throw;
        }

        _committed = true;
        TryDelete(backup);
    }

    /// <summary>Deletes the temporary folder unless <see cref="Commit"/> succeeded.</summary>
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        if (!_committed)
        {
            TryDelete(TemporaryPath);
            DeleteEmpty(_createdParents);
        }
    }

    // The folders that CreateDirectory(path) would create, deepest first.
    private static List<string> MissingFolders(string path)
    {
        var missing = new List<string>();
        for (string? folder = path; folder != null && !Directory.Exists(folder); folder = Path.GetDirectoryName(folder))
        {
            missing.Add(folder);
        }

        return missing;
    }

    // Removes parent folders this instance created, as long as nothing else was put into them.
    private static void DeleteEmpty(IReadOnlyList<string> folders)
    {
        foreach (var folder in folders)
        {
            try
            {
                if (Directory.Exists(folder) && !Directory.EnumerateFileSystemEntries(folder).Any())
                {
                    Directory.Delete(folder);
                }
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                return;
            }
        }
    }

    private static string ShortId() => Guid.NewGuid().ToString("N")[..8];

    private static void TryDelete(string path)
    {
        try
        {
            if (Directory.Exists(path))
            {
                Directory.Delete(path, recursive: true);
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // NOTE: a folder that cannot be deleted (a file still open on Windows, say) stays behind under its ".tmp-" or ".old-" name.
        }
    }
}
