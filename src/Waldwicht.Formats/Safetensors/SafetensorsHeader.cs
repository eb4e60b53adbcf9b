using System.Buffers.Binary;
using System.Text.Json;

namespace Waldwicht.Formats.Safetensors;

/// <summary>
/// The parsed and validated header of a safetensors file: tensor entries sorted by data offset and
/// the optional string metadata.
/// </summary>
public sealed class SafetensorsHeader
{
    /// <summary>Upper bound of the JSON header, as in the reference safetensors implementation (100 MB).</summary>
    public const long MaxHeaderBytes = 100_000_000;

    /// <summary>Reserved header key of the string-to-string metadata map.</summary>
    public const string MetadataKey = "__metadata__";

    private SafetensorsHeader(IReadOnlyList<TensorInfo> tensors, IReadOnlyDictionary<string, string>? metadata, long headerLength)
    {
        Tensors = tensors;
        Metadata = metadata;
        HeaderLength = headerLength;
        ByName = tensors.ToDictionary(t => t.Name, StringComparer.Ordinal);
        DataLength = tensors.Count == 0 ? 0 : tensors.Max(t => t.End);
    }

    /// <summary>Tensor entries in data order.</summary>
    public IReadOnlyList<TensorInfo> Tensors { get; }

    /// <summary>Tensor entries by name.</summary>
    public IReadOnlyDictionary<string, TensorInfo> ByName { get; }

    /// <summary>The __metadata__ map, or null when the file has none (or has JSON null).</summary>
    public IReadOnlyDictionary<string, string>? Metadata { get; }

    /// <summary>Length of the JSON header in bytes (without the 8-byte length prefix).</summary>
    public long HeaderLength { get; }

    /// <summary>Offset of the data section from the start of the file.</summary>
    public long DataOffset => 8 + HeaderLength;

    /// <summary>Bytes the data section needs: the largest end offset.</summary>
    public long DataLength { get; }

    /// <summary>Reads and validates the header of a file without mapping its data.</summary>
    public static SafetensorsHeader Read(string path)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1, FileOptions.None);
        return Read(stream, path);
    }

    /// <summary>Reads and validates a header from a seekable stream positioned at the start of the file.</summary>
    /// <param name="stream">The whole file; its length bounds the header and the data section.</param>
    /// <param name="displayName">Name of the file in error messages, usually its path.</param>
    /// <exception cref="SafetensorsFormatException">The header is malformed, or the data section ends before the last data offset of the header.</exception>
    public static SafetensorsHeader Read(Stream stream, string displayName)
    {
        long fileLength = stream.Length;
        if (fileLength < 8)
        {
            throw new SafetensorsFormatException(
                $"{displayName}: file is {fileLength} bytes, too short for the 8-byte header length; the file is truncated or not safetensors.");
        }

        Span<byte> prefix = stackalloc byte[8];
        stream.ReadExactly(prefix);
        ulong headerLength = BinaryPrimitives.ReadUInt64LittleEndian(prefix);
        if (headerLength > (ulong)(fileLength - 8))
        {
            throw new SafetensorsFormatException(
                $"{displayName}: header length {headerLength} is beyond the end of the file ({fileLength} bytes); the file is truncated or not safetensors.");
        }

        if (headerLength > MaxHeaderBytes)
        {
            throw new SafetensorsFormatException(
                $"{displayName}: header length {headerLength} exceeds the limit of {MaxHeaderBytes} bytes.");
        }

        if (headerLength < 2)
        {
            throw new SafetensorsFormatException(
                $"{displayName}: header length is {headerLength} bytes, too short for a JSON object; the file is not safetensors.");
        }

        var json = new byte[headerLength];
        stream.ReadExactly(json);
        var header = Parse(json, displayName);
        long available = fileLength - header.DataOffset;
        if (header.DataLength > available)
        {
            var first = header.Tensors.First(t => t.End > available);
            throw new SafetensorsFormatException(
                $"{displayName}: tensor '{first.Name}' has data_offsets [{first.Begin}, {first.End}), but the data section holds only {available} bytes; the file is truncated or its header is corrupt.");
        }

        return header;
    }

    /// <summary>Parses and validates the JSON header bytes (without the 8-byte length prefix).</summary>
    /// <exception cref="SafetensorsFormatException">The header is malformed.</exception>
    public static SafetensorsHeader Parse(ReadOnlySpan<byte> json, string displayName)
    {
        JsonDocument document;
        try
        {
            // JSON allows the trailing spaces that writers add to align the data section.
            document = JsonDocument.Parse(json.ToArray());
        }
        catch (JsonException ex)
        {
            throw new SafetensorsFormatException($"{displayName}: header is not valid JSON: {ex.Message}", ex);
        }

        using (document)
        {
            if (document.RootElement.ValueKind != JsonValueKind.Object)
            {
                throw new SafetensorsFormatException(
                    $"{displayName}: header must be a JSON object, found {document.RootElement.ValueKind}.");
            }

            var seen = new HashSet<string>(StringComparer.Ordinal);
            var tensors = new List<TensorInfo>();
            Dictionary<string, string>? metadata = null;
            foreach (var property in document.RootElement.EnumerateObject())
            {
                if (!seen.Add(property.Name))
                {
                    throw new SafetensorsFormatException($"{displayName}: duplicate entry '{property.Name}' in the header.");
                }

                if (property.Name == MetadataKey)
                {
                    metadata = ParseMetadata(property.Value, displayName);
                    continue;
                }

                tensors.Add(ParseTensor(property.Name, property.Value, displayName));
            }

            tensors.Sort((a, b) => a.Begin != b.Begin ? a.Begin.CompareTo(b.Begin) : a.End.CompareTo(b.End));
            CheckOverlaps(tensors, displayName);
            return new SafetensorsHeader(tensors, metadata, json.Length);
        }
    }

    // Tensors sorted by begin offset overlap when one starts before an earlier one ends; empty
    // tensors occupy no bytes and cannot overlap.
    private static void CheckOverlaps(List<TensorInfo> sorted, string displayName)
    {
        TensorInfo? previous = null;
        foreach (var current in sorted)
        {
            if (current.ByteLength == 0)
            {
                continue;
            }

            if (previous != null && current.Begin < previous.End)
            {
                throw new SafetensorsFormatException(
                    $"{displayName}: data of tensors '{previous.Name}' [{previous.Begin}, {previous.End}) and '{current.Name}' [{current.Begin}, {current.End}) overlap.");
            }

            if (previous == null || current.End > previous.End)
            {
                previous = current;
            }
        }
    }

    private static Dictionary<string, string>? ParseMetadata(JsonElement value, string displayName)
    {
        if (value.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        if (value.ValueKind != JsonValueKind.Object)
        {
            throw new SafetensorsFormatException($"{displayName}: __metadata__ must be an object of strings, found {value.ValueKind}.");
        }

        var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var entry in value.EnumerateObject())
        {
            if (entry.Value.ValueKind != JsonValueKind.String)
            {
                throw new SafetensorsFormatException(
                    $"{displayName}: __metadata__ value '{entry.Name}' must be a string, found {entry.Value.ValueKind}.");
            }

            metadata[entry.Name] = entry.Value.GetString()!;
        }

        return metadata;
    }

    private static TensorInfo ParseTensor(string name, JsonElement value, string displayName)
    {
        string where = $"{displayName}: tensor '{name}'";
        if (value.ValueKind != JsonValueKind.Object)
        {
            throw new SafetensorsFormatException($"{where}: entry must be an object with dtype, shape and data_offsets, found {value.ValueKind}.");
        }

        if (!value.TryGetProperty("dtype", out var dtypeElement) || dtypeElement.ValueKind != JsonValueKind.String)
        {
            throw new SafetensorsFormatException($"{where}: missing or invalid 'dtype' (expected a string such as \"BF16\").");
        }

        string dtypeText = dtypeElement.GetString()!;
        if (!SafetensorsDTypes.TryParse(dtypeText, out var dtype))
        {
            throw new SafetensorsFormatException(
                $"{where}: unknown dtype '{dtypeText}'; supported are {string.Join(", ", Enum.GetValues<SafetensorsDType>().Select(d => d.HeaderName()))}.");
        }

        if (!value.TryGetProperty("shape", out var shapeElement) || shapeElement.ValueKind != JsonValueKind.Array)
        {
            throw new SafetensorsFormatException($"{where}: missing or invalid 'shape' (expected an array of integers).");
        }

        var shape = new long[shapeElement.GetArrayLength()];
        int index = 0;
        foreach (var dim in shapeElement.EnumerateArray())
        {
            if (dim.ValueKind != JsonValueKind.Number || !dim.TryGetInt64(out long size) || size < 0)
            {
                throw new SafetensorsFormatException($"{where}: shape entry {index} is {dim.GetRawText()}, but must be a non-negative integer.");
            }

            shape[index++] = size;
        }

        if (!value.TryGetProperty("data_offsets", out var offsets) || offsets.ValueKind != JsonValueKind.Array || offsets.GetArrayLength() != 2)
        {
            throw new SafetensorsFormatException($"{where}: missing or invalid 'data_offsets' (expected [begin, end]).");
        }

        if (offsets[0].ValueKind != JsonValueKind.Number || !offsets[0].TryGetInt64(out long begin)
            || offsets[1].ValueKind != JsonValueKind.Number || !offsets[1].TryGetInt64(out long end)
            || begin < 0 || end < begin)
        {
            throw new SafetensorsFormatException(
                $"{where}: invalid data_offsets [{offsets[0].GetRawText()}, {offsets[1].GetRawText()}]; begin and end must be integers with 0 <= begin <= end.");
        }

        var info = new TensorInfo(name, dtype, shape, begin, end);
        long expectedBytes;
        try
        {
            expectedBytes = checked(info.ElementCount * dtype.Size());
        }
        catch (OverflowException)
        {
            throw new SafetensorsFormatException($"{where}: shape {info.ShapeText} has more bytes than a file can hold.");
        }

        if (expectedBytes != info.ByteLength)
        {
            throw new SafetensorsFormatException(
                $"{where}: dtype {dtypeText} with shape {info.ShapeText} needs {expectedBytes} bytes, but data_offsets [{begin}, {end}) cover {info.ByteLength}.");
        }

        return info;
    }
}
