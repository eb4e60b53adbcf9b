using System.Buffers.Binary;
using System.Text;
using Waldwicht.Formats.Gguf;

namespace Waldwicht.Gguf.Tests;

/// <summary>
/// A minimal GGUF v3 reader for tests, independent of the writer. It parses the header, metadata,
/// tensor infos and data offsets of a whole file in memory. It also checks the structural rules
/// that ggml's loader enforces: magic, alignment of the data section and of every tensor.
/// </summary>
internal sealed class GgufReader
{
    private readonly byte[] _bytes;
    private int _position;

    private GgufReader(byte[] bytes) => _bytes = bytes;

    public uint Version { get; private set; }

    public Dictionary<string, object> Metadata { get; } = new(StringComparer.Ordinal);

    public Dictionary<string, GgufValueType> MetadataTypes { get; } = new(StringComparer.Ordinal);

    public List<string> MetadataOrder { get; } = [];

    public List<TensorEntry> Tensors { get; } = [];

    public int Alignment { get; private set; }

    public long DataStart { get; private set; }

    public long FileLength => _bytes.LongLength;

    public sealed record TensorEntry(string Name, long[] Dimensions, uint Type, long Offset);

    public static GgufReader Read(string path) => Parse(File.ReadAllBytes(path));

    public static GgufReader Parse(byte[] bytes)
    {
        var reader = new GgufReader(bytes);
        reader.ParseAll();
        return reader;
    }

    public TensorEntry Tensor(string name) => Tensors.Single(t => t.Name == name);

    /// <summary>The bytes of a tensor: from its offset to the next tensor's offset (or the end of the file), padding included.</summary>
    public ReadOnlySpan<byte> TensorBytes(string name, long length)
    {
        var tensor = Tensor(name);
        return _bytes.AsSpan(checked((int)(DataStart + tensor.Offset)), checked((int)length));
    }

    public T Get<T>(string key) => (T)Metadata[key];

    private void ParseAll()
    {
        uint magic = ReadUInt32();
        if (magic != 0x46554747)
        {
            throw new InvalidDataException($"Bad magic 0x{magic:X8}.");
        }

        Version = ReadUInt32();
        ulong tensorCount = ReadUInt64();
        ulong metadataCount = ReadUInt64();
        for (ulong i = 0; i < metadataCount; i++)
        {
            string key = ReadString();
            var type = (GgufValueType)ReadUInt32();
            if (Metadata.ContainsKey(key))
            {
                throw new InvalidDataException($"Duplicate key {key}.");
            }

            Metadata[key] = ReadValue(type);
            MetadataTypes[key] = type;
            MetadataOrder.Add(key);
        }

        Alignment = Metadata.TryGetValue("general.alignment", out var alignment) ? checked((int)(uint)alignment) : 32;
        for (ulong i = 0; i < tensorCount; i++)
        {
            string name = ReadString();
            uint dimensionCount = ReadUInt32();
            var dimensions = new long[dimensionCount];
            for (int d = 0; d < dimensionCount; d++)
            {
                dimensions[d] = checked((long)ReadUInt64());
            }

            uint type = ReadUInt32();
            long offset = checked((long)ReadUInt64());
            if (offset % Alignment != 0)
            {
                throw new InvalidDataException($"Tensor {name} has offset {offset}, not a multiple of {Alignment}.");
            }

            Tensors.Add(new TensorEntry(name, dimensions, type, offset));
        }

        long headerEnd = _position;
        DataStart = (headerEnd + Alignment - 1) / Alignment * Alignment;
        for (long p = headerEnd; p < DataStart; p++)
        {
            if (_bytes[p] != 0)
            {
                throw new InvalidDataException($"Padding byte at {p} is {_bytes[p]}, expected 0.");
            }
        }
    }

    private object ReadValue(GgufValueType type)
    {
        switch (type)
        {
            case GgufValueType.UInt8: return ReadBytes(1)[0];
            case GgufValueType.Int8: return (sbyte)ReadBytes(1)[0];
            case GgufValueType.UInt16: return BinaryPrimitives.ReadUInt16LittleEndian(ReadBytes(2));
            case GgufValueType.Int16: return BinaryPrimitives.ReadInt16LittleEndian(ReadBytes(2));
            case GgufValueType.UInt32: return ReadUInt32();
            case GgufValueType.Int32: return BinaryPrimitives.ReadInt32LittleEndian(ReadBytes(4));
            case GgufValueType.Float32: return BinaryPrimitives.ReadSingleLittleEndian(ReadBytes(4));
            case GgufValueType.Bool:
                byte flag = ReadBytes(1)[0];
                if (flag > 1)
                {
                    throw new InvalidDataException($"Bool value {flag}.");
                }

                return flag == 1;
            case GgufValueType.String: return ReadString();
            case GgufValueType.UInt64: return ReadUInt64();
            case GgufValueType.Int64: return BinaryPrimitives.ReadInt64LittleEndian(ReadBytes(8));
            case GgufValueType.Float64: return BinaryPrimitives.ReadDoubleLittleEndian(ReadBytes(8));
            case GgufValueType.Array:
                var elementType = (GgufValueType)ReadUInt32();
                ulong count = ReadUInt64();
                var items = new object[count];
                for (ulong i = 0; i < count; i++)
                {
                    items[i] = ReadValue(elementType);
                }

                return items;
            default:
                throw new InvalidDataException($"Unknown value type {(uint)type}.");
        }
    }

    private string ReadString()
    {
        ulong length = ReadUInt64();
        return Encoding.UTF8.GetString(ReadBytes(checked((int)length)));
    }

    private uint ReadUInt32() => BinaryPrimitives.ReadUInt32LittleEndian(ReadBytes(4));

    private ulong ReadUInt64() => BinaryPrimitives.ReadUInt64LittleEndian(ReadBytes(8));

    private ReadOnlySpan<byte> ReadBytes(int count)
    {
        if (_position + count > _bytes.Length)
        {
            throw new InvalidDataException($"Unexpected end of file at {_position} reading {count} bytes.");
        }

        var span = _bytes.AsSpan(_position, count);
        _position += count;
        return span;
    }
}
