using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text;

namespace Waldwicht.Formats.Safetensors;

/// <summary>
/// Writes one safetensors file by streaming. All tensors are declared up front, which fixes the
/// header. Then each tensor's bytes are written in declaration order, in chunks of any size, so a
/// tensor never has to be held in memory as a whole.
/// </summary>
/// <remarks>
/// <para>
/// The header is compact JSON (no spaces or line breaks) with the tensors in declaration order,
/// data offsets contiguous in the same order, and <c>__metadata__</c> last when metadata is given
/// (omitted otherwise). It is padded with spaces to a multiple of 8 bytes so that the data section
/// starts 8-byte aligned. MLX's <c>save_safetensors</c> (mlx/io/safetensors.cpp, MLX 0.31) writes
/// the same entries but sorts the keys, writes <c>"__metadata__":null</c> when there is no
/// metadata and does not pad. MLX's loader reads both forms because it locates every tensor by
/// its data offsets.
/// </para>
/// <para>
/// Data goes to a temporary file next to the target, which <see cref="Complete"/> renames to the
/// target path (replacing an existing file). Disposing the writer without a successful
/// <see cref="Complete"/> deletes the temporary file, so no partial output is left behind.
/// Instances are not thread-safe: one thread writes the tensors in order.
/// </para>
/// </remarks>
public sealed class SafetensorsWriter : IDisposable
{
    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    private readonly TensorInfo[] _tensors;
    private readonly Dictionary<string, int> _indexByName;
    private readonly string _temporaryPath;
    private FileStream? _stream;
    private int _current;
    private long _writtenInCurrent;
    private bool _faulted;
    private bool _completed;

    private SafetensorsWriter(string path, string temporaryPath, TensorInfo[] tensors, Dictionary<string, int> indexByName, long headerLength, FileStream stream)
    {
        Path = path;
        _temporaryPath = temporaryPath;
        _tensors = tensors;
        _indexByName = indexByName;
        HeaderLength = headerLength;
        _stream = stream;
        SkipEmptyTensors();
    }

    /// <summary>Full path of the file that <see cref="Complete"/> produces.</summary>
    public string Path { get; }

    /// <summary>The declared tensors with their data offsets, in declaration (and data) order.</summary>
    public IReadOnlyList<TensorInfo> Tensors => _tensors;

    /// <summary>Length of the JSON header including its padding (without the 8-byte length prefix).</summary>
    public long HeaderLength { get; }

    /// <summary>Size of the finished file in bytes.</summary>
    public long FileLength => 8 + HeaderLength + DataLength;

    /// <summary>Bytes of the data section: the sum of all tensor sizes.</summary>
    public long DataLength => _tensors.Length == 0 ? 0 : _tensors[^1].End;

    /// <summary>
    /// Declares the tensors and metadata of a new file and writes its header.
    /// </summary>
    /// <param name="path">The file to produce. Its folder must exist; an existing file is replaced on <see cref="Complete"/>.</param>
    /// <param name="tensors">Every tensor of the file, in the order their data will be written.</param>
    /// <param name="metadata">String metadata stored as <c>__metadata__</c> (such as format = mlx), or null for none.</param>
    /// <exception cref="ArgumentException">A name is empty, reserved, invalid UTF-16 or declared twice, or a shape has a negative dimension or is too large.</exception>
    public static SafetensorsWriter Create(
        string path, IEnumerable<TensorDeclaration> tensors, IEnumerable<KeyValuePair<string, string>>? metadata = null)
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(tensors);
        path = System.IO.Path.GetFullPath(path);
        var declared = tensors.ToList();
        var infos = Layout(declared);
        byte[] header = EncodeHeader(declared, metadata);

        var indexByName = new Dictionary<string, int>(infos.Length, StringComparer.Ordinal);
        for (int i = 0; i < infos.Length; i++)
        {
            indexByName[infos[i].Name] = i;
        }

        string temporaryPath = $"{path}.{Guid.NewGuid():N}.tmp";
        long fileLength = 8 + header.LongLength + (infos.Length == 0 ? 0 : infos[^1].End);
        var stream = new FileStream(temporaryPath, new FileStreamOptions
        {
            Mode = FileMode.CreateNew,
            Access = FileAccess.Write,
            Share = FileShare.None,
            BufferSize = 1 << 20,
            PreallocationSize = fileLength,
        });

        try
        {
            Span<byte> prefix = stackalloc byte[8];
            BinaryPrimitives.WriteUInt64LittleEndian(prefix, (ulong)header.LongLength);
            stream.Write(prefix);
            stream.Write(header);
        }
        catch
        {
            stream.Dispose();
            File.Delete(temporaryPath);
            throw;
        }

        return new SafetensorsWriter(path, temporaryPath, infos, indexByName, header.LongLength, stream);
    }

    /// <summary>
    /// Encodes the JSON header of a file with these tensors and metadata, padded with spaces to a
    /// multiple of 8 bytes (without the 8-byte length prefix).
    /// </summary>
    /// <exception cref="ArgumentException">The declarations are invalid (see <see cref="Create"/>).</exception>
    public static byte[] EncodeHeader(IReadOnlyList<TensorDeclaration> tensors, IEnumerable<KeyValuePair<string, string>>? metadata = null)
    {
        var infos = Layout(tensors);
        var json = new StringBuilder(64 + (tensors.Count * 96));
        json.Append('{');
        for (int i = 0; i < infos.Length; i++)
        {
            var info = infos[i];
            if (i > 0)
            {
                json.Append(',');
            }

            AppendString(json, info.Name);
            json.Append(":{\"dtype\":\"").Append(info.DType.HeaderName()).Append("\",\"shape\":[");
            json.AppendJoin(',', info.Shape);
            json.Append("],\"data_offsets\":[").Append(info.Begin).Append(',').Append(info.End).Append("]}");
        }

        if (metadata != null)
        {
            if (infos.Length > 0)
            {
                json.Append(',');
            }

            AppendString(json, SafetensorsHeader.MetadataKey);
            json.Append(":{");
            bool first = true;
            foreach (var (key, value) in metadata)
            {
                ArgumentNullException.ThrowIfNull(key, nameof(metadata));
                ArgumentNullException.ThrowIfNull(value, nameof(metadata));
                if (!first)
                {
                    json.Append(',');
                }

                first = false;
                AppendString(json, key);
                json.Append(':');
                AppendString(json, value);
            }

            json.Append('}');
        }

        json.Append('}');
        byte[] encoded;
        try
        {
            encoded = StrictUtf8.GetBytes(json.ToString());
        }
        catch (EncoderFallbackException ex)
        {
            throw new ArgumentException("A tensor name or metadata entry contains invalid UTF-16 (a lone surrogate).", ex);
        }

        int padding = (8 - (encoded.Length % 8)) % 8;
        var header = new byte[encoded.Length + padding];
        encoded.CopyTo(header, 0);
        header.AsSpan(encoded.Length).Fill((byte)' ');
        return header;
    }

    /// <summary>
    /// Appends the next chunk of a tensor's bytes. Tensors must be written in declaration order,
    /// each with exactly its byte count; zero-byte tensors need no call.
    /// </summary>
    /// <exception cref="ArgumentException">No tensor of that name was declared.</exception>
    /// <exception cref="InvalidOperationException">The tensor is out of order, already complete, or the chunk exceeds its byte count.</exception>
    public void Write(string name, ReadOnlySpan<byte> chunk)
    {
        var stream = _stream ?? throw new ObjectDisposedException(nameof(SafetensorsWriter), $"The writer of {Path} is closed.");
        if (_faulted)
        {
            throw new InvalidOperationException($"An earlier write to {_temporaryPath} failed; the output is incomplete and must be discarded.");
        }

        if (!_indexByName.TryGetValue(name, out int index))
        {
            throw new ArgumentException($"Tensor '{name}' was not declared for {Path}.", nameof(name));
        }

        var tensor = _tensors[index];
        if (chunk.IsEmpty && (index <= _current || tensor.ByteLength == 0))
        {
            return;
        }

        if (index < _current)
        {
            throw new InvalidOperationException(
                $"Tensor '{name}' is already complete ({tensor.ByteLength} bytes); each tensor's bytes are written once, in declaration order.");
        }

        if (index > _current)
        {
            var expected = _tensors[_current];
            throw new InvalidOperationException(
                $"Tensor '{name}' was written before '{expected.Name}' was complete ({_writtenInCurrent} of {expected.ByteLength} bytes); write the tensors in declaration order.");
        }

        long remaining = tensor.ByteLength - _writtenInCurrent;
        if (chunk.Length > remaining)
        {
            throw new InvalidOperationException(
                $"Tensor '{name}' is {tensor.ByteLength} bytes ({tensor.DType.HeaderName()} {tensor.ShapeText}), but {_writtenInCurrent + chunk.Length} bytes were written to it.");
        }

        try
        {
            stream.Write(chunk);
        }
        catch
        {
            _faulted = true;
            throw;
        }

        _writtenInCurrent += chunk.Length;
        if (_writtenInCurrent == tensor.ByteLength)
        {
            _current++;
            _writtenInCurrent = 0;
            SkipEmptyTensors();
        }
    }

    /// <summary>
    /// Appends the next chunk of a tensor as elements of <typeparamref name="T"/>, which must be
    /// <see cref="byte"/> or have the size of the tensor's dtype (such as ushort for BF16).
    /// </summary>
    /// <inheritdoc cref="Write(string, ReadOnlySpan{byte})"/>
    public void Write<T>(string name, ReadOnlySpan<T> chunk)
        where T : unmanaged
    {
        int size = Unsafe.SizeOf<T>();
        if (size != 1 && _indexByName.TryGetValue(name, out int index) && _tensors[index].DType.Size() != size)
        {
            var tensor = _tensors[index];
            throw new ArgumentException(
                $"Tensor '{name}' is {tensor.DType.HeaderName()} with {tensor.DType.Size()}-byte elements and cannot be written from {typeof(T).Name} ({size} bytes).",
                nameof(chunk));
        }

        Write(name, MemoryMarshal.AsBytes(chunk));
    }

    /// <summary>
    /// Checks that every tensor received all its bytes, flushes the file to disk and moves it to
    /// <see cref="Path"/>.
    /// </summary>
    /// <exception cref="InvalidOperationException">A tensor is incomplete or an earlier write failed.</exception>
    public void Complete()
    {
        var stream = _stream ?? throw new ObjectDisposedException(nameof(SafetensorsWriter), $"The writer of {Path} is closed.");
        if (_faulted)
        {
            throw new InvalidOperationException($"An earlier write to {_temporaryPath} failed; the output is incomplete and must be discarded.");
        }

        if (_current < _tensors.Length)
        {
            var missing = _tensors[_current];
            int left = _tensors.Length - _current;
            throw new InvalidOperationException(
                $"Tensor '{missing.Name}' received {_writtenInCurrent} of {missing.ByteLength} bytes; {left} tensor(s) of {Path} are incomplete, so the file cannot be completed.");
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

    private static TensorInfo[] Layout(IReadOnlyList<TensorDeclaration> tensors)
    {
        var infos = new TensorInfo[tensors.Count];
        var names = new HashSet<string>(StringComparer.Ordinal);
        long offset = 0;
        for (int i = 0; i < tensors.Count; i++)
        {
            var tensor = tensors[i] ?? throw new ArgumentException($"Tensor declaration {i} is null.", nameof(tensors));
            if (string.IsNullOrEmpty(tensor.Name))
            {
                throw new ArgumentException($"Tensor declaration {i} has an empty name.", nameof(tensors));
            }

            if (tensor.Name == SafetensorsHeader.MetadataKey)
            {
                throw new ArgumentException(
                    $"'{SafetensorsHeader.MetadataKey}' is reserved for metadata and cannot name a tensor.", nameof(tensors));
            }

            if (!names.Add(tensor.Name))
            {
                throw new ArgumentException($"Tensor '{tensor.Name}' is declared twice.", nameof(tensors));
            }

            if (tensor.Shape == null || tensor.Shape.Any(d => d < 0))
            {
                throw new ArgumentException(
                    $"Tensor '{tensor.Name}' has shape {(tensor.Shape == null ? "null" : tensor.ShapeText)}; dimensions must be non-negative.", nameof(tensors));
            }

            long length;
            try
            {
                length = tensor.ByteLength;
                checked
                {
                    infos[i] = new TensorInfo(tensor.Name, tensor.DType, (long[])tensor.Shape.Clone(), offset, offset + length);
                    offset += length;
                }
            }
            catch (OverflowException)
            {
                throw new ArgumentException($"Tensor '{tensor.Name}' with shape {tensor.ShapeText} is too large for a file.", nameof(tensors));
            }
        }

        return infos;
    }

    private static void AppendString(StringBuilder json, string text)
    {
        json.Append('"');
        foreach (char c in text)
        {
            switch (c)
            {
                case '"':
                    json.Append("\\\"");
                    break;
                case '\\':
                    json.Append("\\\\");
                    break;
                case '\b':
                    json.Append("\\b");
                    break;
                case '\f':
                    json.Append("\\f");
                    break;
                case '\n':
                    json.Append("\\n");
                    break;
                case '\r':
                    json.Append("\\r");
                    break;
                case '\t':
                    json.Append("\\t");
                    break;
                case < ' ':
                    json.Append("\\u").Append(((int)c).ToString("x4", System.Globalization.CultureInfo.InvariantCulture));
                    break;
                default:
                    json.Append(c);
                    break;
            }
        }

        json.Append('"');
    }

    private void SkipEmptyTensors()
    {
        while (_current < _tensors.Length && _tensors[_current].ByteLength == 0)
        {
            _current++;
        }
    }
}
