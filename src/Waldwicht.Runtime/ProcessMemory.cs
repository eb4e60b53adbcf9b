using System.Diagnostics;

namespace Waldwicht.Runtime;

/// <summary>Resident memory figures of the current process.</summary>
public static class ProcessMemory
{
    /// <summary>
    /// Peak resident set size in bytes: VmHWM from /proc/self/status on Linux, the peak working
    /// set elsewhere.
    /// </summary>
    public static long PeakResidentBytes()
    {
        if (OperatingSystem.IsLinux())
        {
            long? value = ReadStatusKilobytes("VmHWM:");
            if (value is long kb)
            {
                return kb * 1024;
            }
        }

        using var process = Process.GetCurrentProcess();
        return process.PeakWorkingSet64;
    }

    /// <summary>Current resident set size in bytes.</summary>
    public static long CurrentResidentBytes()
    {
        if (OperatingSystem.IsLinux())
        {
            long? value = ReadStatusKilobytes("VmRSS:");
            if (value is long kb)
            {
                return kb * 1024;
            }
        }

        using var process = Process.GetCurrentProcess();
        return process.WorkingSet64;
    }

    private static long? ReadStatusKilobytes(string key)
    {
        try
        {
            foreach (var line in File.ReadLines("/proc/self/status"))
            {
                if (line.StartsWith(key, StringComparison.Ordinal))
                {
                    var digits = line[key.Length..].Trim().Split(' ')[0];
                    return long.TryParse(digits, out long kb) ? kb : null;
                }
            }
        }
        catch (IOException)
        {
        }

        return null;
    }
}
