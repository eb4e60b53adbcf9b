using Microsoft.Win32.SafeHandles;
using Waldwicht.Quantization.Conversion;

namespace Waldwicht.Quantization.IO;

/// <summary>
/// Reads byte ranges of source tensors with positioned reads. Unlike a memory map, the pages read
/// stay in the operating system's file cache and do not count towards the process's resident
/// memory, which keeps a full-size conversion small. Thread-safe.
/// </summary>
internal sealed class TensorReader : IDisposable
{
    private readonly Dictionary<string, SafeFileHandle> _handles = new(StringComparer.Ordinal);

    public TensorReader(IEnumerable<string> shardPaths)
    {
        try
        {
            foreach (var path in shardPaths)
            {
                _handles[path] = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read, FileOptions.SequentialScan);
            }
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    /// <summary>Fills <paramref name="destination"/> with the tensor's bytes starting at <paramref name="offset"/>.</summary>
    /// <exception cref="IOException">The file ends early (it was truncated after its header was read).</exception>
    public void Read(SourceTensor tensor, long offset, Span<byte> destination)
    {
        if (offset < 0 || offset + destination.Length > tensor.Info.ByteLength)
        {
            throw new ArgumentOutOfRangeException(
                nameof(offset), offset, $"Bytes [{offset}, {offset + destination.Length}) lie outside tensor '{tensor.Name}' ({tensor.Info.ByteLength} bytes).");
        }

        var handle = _handles[tensor.ShardPath];
        long position = tensor.DataOffset + tensor.Info.Begin + offset;
        while (!destination.IsEmpty)
        {
            int read = RandomAccess.Read(handle, destination, position);
            if (read == 0)
            {
                throw new IOException(
                    $"{tensor.ShardPath} ends at byte {position} inside tensor '{tensor.Name}'; the file is truncated, so download or copy it again.");
            }

            destination = destination[read..];
            position += read;
        }
    }

    public void Dispose()
    {
        foreach (var handle in _handles.Values)
        {
            handle.Dispose();
        }

        _handles.Clear();
    }
}
