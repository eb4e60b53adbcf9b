using System.Buffers.Binary;

namespace Waldwicht.Formats.Gguf;

/// <summary>
/// Writes one GGUF version 3 file by streaming: metadata and tensor declarations are fixed up
/// front, which fixes the header, and then each tensor's bytes are written in declaration order,
/// in chunks of any size.
/// </summary>
/// <remarks>
/// <para>
/// Layout (little-endian, as ggml/src/gguf.cpp reads it): the magic "GGUF", version 3, the tensor
/// count and the metadata count as uint64, the metadata entries (key string, uint32 type, value),
/// the tensor infos (name string, uint32 dimension count, uint64 dimensions with ne0 first, uint32
/// ggml type, uint64 data offset), zero padding to the alignment, then the data section. Every
/// tensor starts at an offset that is a multiple of the alignment, counted from the start of the
/// data section. Strings are a uint64 byte count followed by UTF-8 without a terminator. The
/// alignment is 32 bytes unless the metadata sets <c>general.alignment</c>.
/// </para>
/// <para>
/// Data goes to a temporary file next to the target, which <see cref="Complete"/> renames to the
/// target path (replacing an existing file). Disposing the writer without a successful
/// <see cref="Complete"/> deletes the temporary file, so no partial output is left behind.
/// Instances are not thread-safe: one thread writes the tensors in order.
/// </para>
/// </remarks>
public sealed class GgufWriter : IDisposable
{
    /// <summary>"GGUF" read as a little-endian uint32.</summary>
    public const uint Magic = 0x46554747;

    public const uint Version = 3;

    /// <summary>Alignment of the data section and of every tensor when the metadata sets none.</summary>
    public const int DefaultAlignment = 32;

    /// <summary>Longest tensor name in bytes that ggml accepts (GGML_MAX_NAME is 64 including the terminator).</summary>
    public const int MaxTensorNameBytes = 63;

    /// <summary>Metadata key that sets the alignment.</summary>
    public const string AlignmentKey = "general.alignment";

    private readonly GgufTensorDeclaration[] _tensors;
    private readonly long[] _offsets;
    private readonly string _temporaryPath;
    private FileStream? _stream;
    private int _current;
    private long _writtenInCurrent;
    private bool _faulted;
    private bool _completed;

    private GgufWriter(string path, string temporaryPath, GgufTensorDeclaration[] tensors, long[] offsets, long headerLength, int alignment, FileStream stream)
    {
        Path = path;
        _temporaryPath = temporaryPath;
        _tensors = tensors;
        _offsets = offsets;
        HeaderLength = headerLength;
        Alignment = alignment;
        _stream = stream;
    }

    /// <summary>Full path of the file that <see cref="Complete"/> produces.</summary>
    public string Path { get; }

    /// <summary>Bytes before the data section, including the padding that aligns it.</summary>
    public long HeaderLength { get; }

    public int Alignment { get; }

    /// <summary>The declared tensors in declaration (and data) order.</summary>
    public IReadOnlyList<GgufTensorDeclaration> Tensors => _tensors;

    /// <summary>Data offset of each tensor relative to the start of the data section.</summary>
    public IReadOnlyList<long> Offsets => _offsets;

    /// <summary>Size of the finished file in bytes.</summary>
    public long FileLength => HeaderLength + DataLength;

    /// <summary>Bytes of the data section: the last tensor's end (padding between tensors included).</summary>
    public long DataLength => _tensors.Length == 0 ? 0 : _offsets[^1] + _tensors[^1].ByteLength;

    /// <summary>The tensor whose bytes the next <see cref="Write"/> call continues, or null when all are complete.</summary>
    public GgufTensorDeclaration? CurrentTensor => _current < _tensors.Length ? _tensors[_current] : null;

    /// <summary>Declares the metadata and tensors of a new file and writes its header.</summary>
    /// <param name="path">The file to produce. Its folder must exist; an existing file is replaced on <see cref="Complete"/>.</param>
    /// <param name="metadata">Metadata entries in file order; keys must be unique.</param>
    /// <param name="tensors">Every tensor of the file, in the order their data will be written.</param>
    /// <exception cref="ArgumentException">A key or name is empty, duplicated or too long, a dimension is not positive, a row is not a whole number of blocks, or the alignment is invalid.</exception>
    public static GgufWriter Create(
        string path, IEnumerable<KeyValuePair<string, GgufValue>> metadata, IEnumerable<GgufTensorDeclaration> tensors)
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(metadata);
        ArgumentNullException.ThrowIfNull(tensors);
        path = System.IO.Path.GetFullPath(path);
        var entries = metadata.ToList();
        var declared = tensors.ToArray();
        int alignment = ReadAlignment(entries);
        byte[] header = EncodeHeader(entries, declared, alignment, out long[] offsets);

        string temporaryPath = $"{path}.{Guid.NewGuid():N}.tmp";
        long dataLength = declared.Length == 0 ? 0 : offsets[^1] + declared[^1].ByteLength;
        var stream = CreateTemporaryFile(path, temporaryPath, header.LongLength + dataLength);

        try
        {
            stream.Write(header);
        }
        catch
        {
            stream.Dispose();
            File.Delete(temporaryPath);
            throw;
        }

        return new GgufWriter(path, temporaryPath, declared, offsets, header.LongLength, alignment, stream);
    }

    /// <summary>
    /// Appends the next chunk of a tensor's bytes. Tensors must be written in declaration order,
    /// each with exactly <see cref="GgufTensorDeclaration.ByteLength"/> bytes.
    /// </summary>
    /// <exception cref="ArgumentException">No tensor of that name was declared.</exception>
    /// <exception cref="InvalidOperationException">The tensor is out of order, already complete, or the chunk exceeds its byte count.</exception>
    public void Write(string name, ReadOnlySpan<byte> chunk)
    {
        var stream = _stream ?? throw new ObjectDisposedException(nameof(GgufWriter), $"The writer of {Path} is closed.");
        if (_faulted)
        {
            throw new InvalidOperationException($"An earlier write to {_temporaryPath} failed; the output is incomplete and must be discarded.");
        }

        if (_current >= _tensors.Length)
        {
            throw new InvalidOperationException($"All {_tensors.Length} tensors of {Path} are complete; '{name}' cannot take more bytes.");
        }

        var tensor = _tensors[_current];
        if (!string.Equals(tensor.Name, name, StringComparison.Ordinal))
        {
            bool declared = _tensors.Any(t => string.Equals(t.Name, name, StringComparison.Ordinal));
            if (!declared)
            {
                throw new ArgumentException($"Tensor '{name}' was not declared for {Path}.", nameof(name));
            }

            throw new InvalidOperationException(
                $"Tensor '{name}' was written while '{tensor.Name}' has {_writtenInCurrent} of {tensor.ByteLength} bytes; write the tensors in declaration order.");
        }

        long remaining = tensor.ByteLength - _writtenInCurrent;
        if (chunk.Length > remaining)
        {
            throw new InvalidOperationException(
                $"Tensor '{name}' is {tensor.ByteLength} bytes ({tensor.Type.DisplayName()} {tensor.DimensionsText}), but {_writtenInCurrent + chunk.Length} bytes were written to it.");
        }

        try
        {
            stream.Write(chunk);
            _writtenInCurrent += chunk.Length;
            if (_writtenInCurrent == tensor.ByteLength)
            {
                _current++;
                _writtenInCurrent = 0;
                if (_current < _tensors.Length)
                {
                    long padding = _offsets[_current] - (_offsets[_current - 1] + tensor.ByteLength);
                    WriteZeros(stream, padding);
                }
            }
        }
        catch
        {
            _faulted = true;
            throw;
        }
    }

    /// <summary>
    /// Checks that every tensor received all its bytes, flushes the file to disk and moves it to
    /// <see cref="Path"/>.
    /// </summary>
    /// <exception cref="InvalidOperationException">A tensor is incomplete or an earlier write failed.</exception>
    public void Complete()
    {
        var stream = _stream ?? throw new ObjectDisposedException(nameof(GgufWriter), $"The writer of {Path} is closed.");
        if (_faulted)
        {
            throw new InvalidOperationException($"An earlier write to {_temporaryPath} failed; the output is incomplete and must be discarded.");
        }

        if (_current < _tensors.Length)
        {
            var missing = _tensors[_current];
            throw new InvalidOperationException(
                $"Tensor '{missing.Name}' received {_writtenInCurrent} of {missing.ByteLength} bytes; {_tensors.Length - _current} tensor(s) of {Path} are incomplete, so the file cannot be completed.");
        }

        stream.Flush(flushToDisk: true);
        stream.Dispose();
        _stream = null;
        File.Move(_temporaryPath, Path, overwrite: true);
        _completed = true;
    }

    /// <summary>Closes the file; without a successful <see cref="Complete"/> it deletes the partial output.</summary>
    public void Dispose()
    {
        _stream?.Dispose();
        _stream = null;
        if (!_completed)
        {
            File.Delete(_temporaryPath);
        }
    }

    /// <summary>
    /// Encodes everything before the data section: header, metadata, tensor infos and the padding
    /// that aligns the data section. Also returns each tensor's data offset.
    /// </summary>
    /// <exception cref="ArgumentException">The metadata or the declarations are invalid (see <see cref="Create"/>).</exception>
    public static byte[] EncodeHeader(
        IReadOnlyList<KeyValuePair<string, GgufValue>> metadata, IReadOnlyList<GgufTensorDeclaration> tensors, int alignment, out long[] offsets)
    {
        ValidateAlignment(alignment);
        offsets = Layout(tensors, alignment);
        using var buffer = new MemoryStream();
        Span<byte> scratch = stackalloc byte[8];
        WriteUInt32(buffer, Magic, scratch);
        WriteUInt32(buffer, Version, scratch);
        WriteUInt64(buffer, (ulong)tensors.Count, scratch);
        WriteUInt64(buffer, (ulong)metadata.Count, scratch);

        var keys = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (key, value) in metadata)
        {
            if (string.IsNullOrEmpty(key))
            {
                throw new ArgumentException("A GGUF metadata key is empty.", nameof(metadata));
            }

            ArgumentNullException.ThrowIfNull(value, nameof(metadata));
            if (!keys.Add(key))
            {
                throw new ArgumentException($"GGUF metadata key '{key}' appears twice; keys must be unique.", nameof(metadata));
            }

            WriteString(buffer, GgufValue.Encode(key), scratch);
            WriteUInt32(buffer, (uint)value.Type, scratch);
            WriteValue(buffer, value, scratch);
        }

        for (int i = 0; i < tensors.Count; i++)
        {
            var tensor = tensors[i];
            WriteString(buffer, GgufValue.Encode(tensor.Name), scratch);
            WriteUInt32(buffer, (uint)tensor.Dimensions.Length, scratch);
            foreach (long dimension in tensor.Dimensions)
            {
                WriteUInt64(buffer, (ulong)dimension, scratch);
            }

            WriteUInt32(buffer, (uint)tensor.Type, scratch);
            WriteUInt64(buffer, (ulong)offsets[i], scratch);
        }

        long padded = AlignUp(buffer.Length, alignment);
        WriteZeros(buffer, padded - buffer.Length);
        return buffer.ToArray();
    }

    private static long[] Layout(IReadOnlyList<GgufTensorDeclaration> tensors, int alignment)
    {
        var offsets = new long[tensors.Count];
        var names = new HashSet<string>(StringComparer.Ordinal);
        long offset = 0;
        for (int i = 0; i < tensors.Count; i++)
        {
            var tensor = tensors[i] ?? throw new ArgumentException($"Tensor declaration {i} is null.", nameof(tensors));
            if (string.IsNullOrEmpty(tensor.Name))
            {
                throw new ArgumentException($"Tensor declaration {i} has an empty name.", nameof(tensors));
            }

            int nameBytes = GgufValue.Encode(tensor.Name).Length;
            if (nameBytes > MaxTensorNameBytes)
            {
                throw new ArgumentException(
                    $"Tensor name '{tensor.Name}' is {nameBytes} bytes; GGML accepts at most {MaxTensorNameBytes}.", nameof(tensors));
            }

            if (!names.Add(tensor.Name))
            {
                throw new ArgumentException($"Tensor '{tensor.Name}' is declared twice.", nameof(tensors));
            }

            if (tensor.Dimensions is not { Length: >= 1 and <= 4 } || tensor.Dimensions.Any(d => d <= 0))
            {
                throw new ArgumentException(
                    $"Tensor '{tensor.Name}' has dimensions {tensor.Dimensions?.Length.ToString() ?? "null"}: {tensor.DimensionsText}; GGUF needs 1 to 4 positive dimensions.",
                    nameof(tensors));
            }

            if (!tensor.Type.CanStoreRow(tensor.RowLength))
            {
                throw new ArgumentException(
                    $"Tensor '{tensor.Name}' has rows of {tensor.RowLength} elements, which is not a multiple of the {tensor.Type.DisplayName()} block size {tensor.Type.BlockSize()}.",
                    nameof(tensors));
            }

            offsets[i] = offset;
            offset = AlignUp(checked(offset + tensor.ByteLength), alignment);
        }

        return offsets;
    }

    // Creates the file that becomes the output, with its whole size reserved, so that a full disk fails here and
    // not halfway through the tensors. Errors name the output and the folder rather than the temporary file.
    private static FileStream CreateTemporaryFile(string path, string temporaryPath, long size)
    {
        string folder = System.IO.Path.GetDirectoryName(path) ?? ".";
        try
        {
            return new FileStream(temporaryPath, new FileStreamOptions
            {
                Mode = FileMode.CreateNew,
                Access = FileAccess.Write,
                Share = FileShare.None,
                BufferSize = 1 << 20,
                PreallocationSize = size,
            });
        }
        catch (UnauthorizedAccessException ex)
        {
            throw new UnauthorizedAccessException(
                $"Cannot write {path}: permission denied in {folder}. Choose an output folder you can write to.", ex);
        }
        catch (IOException ex) when (FreeBytes(folder) is long free && free < size)
        {
            throw new IOException(
                $"Cannot write {path}: it needs {size:N0} bytes, but {folder} has only {free:N0} bytes free.", ex);
        }
    }

    private static long? FreeBytes(string folder)
    {
        try
        {
            return new DriveInfo(folder).AvailableFreeSpace;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ArgumentException)
        {
            return null;
        }
    }

    private static int ReadAlignment(List<KeyValuePair<string, GgufValue>> metadata)
    {
        foreach (var (key, value) in metadata)
        {
            if (key == AlignmentKey)
            {
                if (value.Type != GgufValueType.UInt32)
                {
                    throw new ArgumentException($"'{AlignmentKey}' must be a UInt32 value; got {value.Type}.", nameof(metadata));
                }

                return checked((int)(uint)value.Payload);
            }
        }

        return DefaultAlignment;
    }

    private static void ValidateAlignment(int alignment)
    {
        if (alignment < 8 || (alignment & (alignment - 1)) != 0)
        {
            throw new ArgumentException($"GGUF alignment must be a power of two of at least 8; got {alignment}.", nameof(alignment));
        }
    }

    private static long AlignUp(long value, int alignment) => (value + alignment - 1) / alignment * alignment;

    private static void WriteValue(Stream stream, GgufValue value, Span<byte> scratch)
    {
        switch (value.Type)
        {
            case GgufValueType.Array:
                var elementType = value.ElementType!.Value;
                WriteUInt32(stream, (uint)elementType, scratch);
                WriteUInt64(stream, (ulong)value.Count, scratch);
                WriteArray(stream, elementType, value.Payload, scratch);
                break;
            default:
                WriteScalar(stream, value.Type, value.Payload, scratch);
                break;
        }
    }

    private static void WriteArray(Stream stream, GgufValueType elementType, object payload, Span<byte> scratch)
    {
        switch (payload)
        {
            case byte[][] strings:
                foreach (var item in strings)
                {
                    WriteString(stream, item, scratch);
                }

                break;
            case uint[] numbers:
                foreach (uint item in numbers)
                {
                    WriteUInt32(stream, item, scratch);
                }

                break;
            case int[] numbers:
                foreach (int item in numbers)
                {
                    WriteUInt32(stream, unchecked((uint)item), scratch);
                }

                break;
            case float[] numbers:
                foreach (float item in numbers)
                {
                    WriteUInt32(stream, BitConverter.SingleToUInt32Bits(item), scratch);
                }

                break;
            case bool[] flags:
                foreach (bool item in flags)
                {
                    stream.WriteByte(item ? (byte)1 : (byte)0);
                }

                break;
            default:
                throw new ArgumentException($"Unsupported GGUF array payload {payload.GetType().Name} for element type {elementType}.");
        }
    }

    private static void WriteScalar(Stream stream, GgufValueType type, object payload, Span<byte> scratch)
    {
        switch (type)
        {
            case GgufValueType.String:
                WriteString(stream, (byte[])payload, scratch);
                break;
            case GgufValueType.UInt32:
                WriteUInt32(stream, (uint)payload, scratch);
                break;
            case GgufValueType.Int32:
                WriteUInt32(stream, unchecked((uint)(int)payload), scratch);
                break;
            case GgufValueType.Float32:
                WriteUInt32(stream, BitConverter.SingleToUInt32Bits((float)payload), scratch);
                break;
            case GgufValueType.UInt64:
                WriteUInt64(stream, (ulong)payload, scratch);
                break;
            case GgufValueType.Bool:
                stream.WriteByte((bool)payload ? (byte)1 : (byte)0);
                break;
            default:
                throw new ArgumentException($"Unsupported GGUF value type {type}.");
        }
    }

    private static void WriteString(Stream stream, byte[] utf8, Span<byte> scratch)
    {
        WriteUInt64(stream, (ulong)utf8.Length, scratch);
        stream.Write(utf8);
    }

    private static void WriteUInt32(Stream stream, uint value, Span<byte> scratch)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(scratch, value);
        stream.Write(scratch[..4]);
    }

    private static void WriteUInt64(Stream stream, ulong value, Span<byte> scratch)
    {
        BinaryPrimitives.WriteUInt64LittleEndian(scratch, value);
        stream.Write(scratch[..8]);
    }

    private static void WriteZeros(Stream stream, long count)
    {
        Span<byte> zeros = stackalloc byte[64];
        zeros.Clear();
        while (count > 0)
        {
            int n = (int)Math.Min(count, zeros.Length);
            stream.Write(zeros[..n]);
            count -= n;
        }
    }
}
