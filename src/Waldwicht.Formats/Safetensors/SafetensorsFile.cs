using System.IO.MemoryMappedFiles;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Waldwicht.Formats.Safetensors;

/// <summary>
/// A memory-mapped safetensors file. Tensor data is exposed in place as spans or raw pointers that
/// stay valid until the file is disposed. Thread-safe for reads.
/// </summary>
public sealed unsafe class SafetensorsFile : IDisposable
{
    private readonly MemoryMappedFile? _map;
    private readonly MemoryMappedViewAccessor? _view;
    private byte* _base;
    private bool _disposed;

    private SafetensorsFile(string path, SafetensorsHeader header, MemoryMappedFile? map, MemoryMappedViewAccessor? view, byte* basePointer)
    {
        Path = path;
        Header = header;
        _map = map;
        _view = view;
        _base = basePointer;
    }

    /// <summary>Full path of the file.</summary>
    public string Path { get; }

    /// <summary>The validated header.</summary>
    public SafetensorsHeader Header { get; }

    /// <summary>Tensor entries in data order.</summary>
    public IReadOnlyList<TensorInfo> Tensors => Header.Tensors;

    /// <summary>The __metadata__ map, or null.</summary>
    public IReadOnlyDictionary<string, string>? Metadata => Header.Metadata;

    /// <summary>Opens, validates and maps a safetensors file.</summary>
    /// <exception cref="SafetensorsFormatException">The file is malformed.</exception>
    public static SafetensorsFile Open(string path)
    {
        path = System.IO.Path.GetFullPath(path);
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"Safetensors file not found: {path}", path);
        }

        SafetensorsHeader header;
        using (var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read))
        {
            header = SafetensorsHeader.Read(stream, path);
        }

        if (header.DataLength == 0)
        {
            return new SafetensorsFile(path, header, null, null, null);
        }

        var map = MemoryMappedFile.CreateFromFile(path, FileMode.Open, null, 0, MemoryMappedFileAccess.Read);
        MemoryMappedViewAccessor? view = null;
        try
        {
            view = map.CreateViewAccessor(0, 0, MemoryMappedFileAccess.Read);
            byte* pointer = null;
            view.SafeMemoryMappedViewHandle.AcquirePointer(ref pointer);
            pointer += view.PointerOffset;
            return new SafetensorsFile(path, header, map, view, pointer);
        }
        catch
        {
            view?.Dispose();
            map.Dispose();
            throw;
        }
    }

    /// <summary>True if the file has a tensor of this name.</summary>
    public bool Contains(string name) => Header.ByName.ContainsKey(name);

    /// <summary>Returns the header entry of a tensor.</summary>
    /// <exception cref="KeyNotFoundException">No tensor of that name.</exception>
    public TensorInfo GetInfo(string name) =>
        Header.ByName.TryGetValue(name, out var info)
            ? info
            : throw new KeyNotFoundException($"Tensor '{name}' not found in {Path}.");

    /// <summary>Address of the first byte of a tensor's data.</summary>
    public nint GetPointer(string name) => GetPointer(GetInfo(name));

    /// <summary>Address of the first byte of a tensor's data.</summary>
    public nint GetPointer(TensorInfo info)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (!Header.ByName.TryGetValue(info.Name, out var own) || !ReferenceEquals(own, info))
        {
            throw new ArgumentException($"Tensor entry '{info.Name}' does not belong to {Path}.", nameof(info));
        }

        if (info.ByteLength == 0)
        {
            return 0;
        }

        return (nint)(_base + Header.DataOffset + info.Begin);
    }

    /// <summary>The raw bytes of a tensor.</summary>
    public ReadOnlySpan<byte> GetBytes(string name) => GetBytes(GetInfo(name));

    /// <summary>The raw bytes of a tensor.</summary>
    public ReadOnlySpan<byte> GetBytes(TensorInfo info)
    {
        if (info.ByteLength == 0)
        {
            return [];
        }

        if (info.ByteLength > int.MaxValue)
        {
            throw new InvalidOperationException(
                $"Tensor '{info.Name}' has {info.ByteLength} bytes, more than a span can address; use GetPointer.");
        }

        return new ReadOnlySpan<byte>((void*)GetPointer(info), (int)info.ByteLength);
    }

    /// <summary>
    /// A byte range of a tensor's data, for tensors larger than a span can address (such as a
    /// BF16 embedding table of several GB) that are read block by block.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The range does not lie inside the tensor.</exception>
    public ReadOnlySpan<byte> GetBytes(TensorInfo info, long offset, int length)
    {
        if (offset < 0 || length < 0 || offset > info.ByteLength - length)
        {
            throw new ArgumentOutOfRangeException(
                nameof(offset), $"Bytes [{offset}, {offset + length}) do not lie inside tensor '{info.Name}' of {info.ByteLength} bytes.");
        }

        return length == 0 ? [] : new ReadOnlySpan<byte>((byte*)GetPointer(info) + offset, length);
    }

    /// <summary>
    /// The data of a tensor reinterpreted as elements of <typeparamref name="T"/>, which must be
    /// <see cref="byte"/> or have the size of the tensor's dtype (such as ushort for BF16).
    /// </summary>
    /// <exception cref="InvalidOperationException">The element size of <typeparamref name="T"/> does not match the dtype.</exception>
    public ReadOnlySpan<T> GetSpan<T>(string name)
        where T : unmanaged => GetSpan<T>(GetInfo(name));

    /// <inheritdoc cref="GetSpan{T}(string)"/>
    public ReadOnlySpan<T> GetSpan<T>(TensorInfo info)
        where T : unmanaged
    {
        int size = Unsafe.SizeOf<T>();
        if (size != 1 && size != info.DType.Size())
        {
            throw new InvalidOperationException(
                $"Tensor '{info.Name}' in {Path} is {info.DType.HeaderName()} with {info.DType.Size()}-byte elements and cannot be read as {typeof(T).Name} ({size} bytes).");
        }

        return MemoryMarshal.Cast<byte, T>(GetBytes(info));
    }

    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        if (_view != null && _base != null)
        {
            _view.SafeMemoryMappedViewHandle.ReleasePointer();
            _base = null;
        }

        _view?.Dispose();
        _map?.Dispose();
    }
}
