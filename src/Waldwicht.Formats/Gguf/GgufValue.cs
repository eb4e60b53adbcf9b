using System.Text;

namespace Waldwicht.Formats.Gguf;

/// <summary>
/// One GGUF metadata value: a scalar, a string or a homogeneous array of either. Instances are
/// immutable once created; the arrays passed to the factories are copied.
/// </summary>
public sealed class GgufValue
{
    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    private GgufValue(GgufValueType type, GgufValueType? elementType, object payload)
    {
        Type = type;
        ElementType = elementType;
        Payload = payload;
    }

    /// <summary>Type of the value; <see cref="GgufValueType.Array"/> for arrays.</summary>
    public GgufValueType Type { get; }

    /// <summary>Element type of an array, or null for scalars and strings.</summary>
    public GgufValueType? ElementType { get; }

    /// <summary>
    /// The value: a boxed scalar (uint, int, float, bool, ulong), a UTF-8 byte array for a string,
    /// or for an array a uint[], int[], float[], bool[] or byte[][] (strings as UTF-8).
    /// </summary>
    public object Payload { get; }

    public static GgufValue UInt32(uint value) => new(GgufValueType.UInt32, null, value);

    public static GgufValue Int32(int value) => new(GgufValueType.Int32, null, value);

    public static GgufValue UInt64(ulong value) => new(GgufValueType.UInt64, null, value);

    public static GgufValue Float32(float value) => new(GgufValueType.Float32, null, value);

    public static GgufValue Bool(bool value) => new(GgufValueType.Bool, null, value);

    /// <exception cref="ArgumentException">The text contains a lone surrogate, which UTF-8 cannot encode.</exception>
    public static GgufValue String(string value) => new(GgufValueType.String, null, Encode(value));

    public static GgufValue UInt32Array(IEnumerable<uint> values) => new(GgufValueType.Array, GgufValueType.UInt32, values.ToArray());

    public static GgufValue Int32Array(IEnumerable<int> values) => new(GgufValueType.Array, GgufValueType.Int32, values.ToArray());

    public static GgufValue Float32Array(IEnumerable<float> values) => new(GgufValueType.Array, GgufValueType.Float32, values.ToArray());

    public static GgufValue BoolArray(IEnumerable<bool> values) => new(GgufValueType.Array, GgufValueType.Bool, values.ToArray());

    /// <exception cref="ArgumentException">A string contains a lone surrogate.</exception>
    public static GgufValue StringArray(IEnumerable<string> values) =>
        new(GgufValueType.Array, GgufValueType.String, values.Select(Encode).ToArray());

    /// <summary>Number of elements of an array value, or 1 for a scalar or string.</summary>
    public long Count => Payload switch
    {
        Array array when Type == GgufValueType.Array => array.LongLength,
        _ => 1,
    };

    /// <summary>Bytes this value takes in the file, without its key and type tag.</summary>
    public long EncodedLength => Type switch
    {
        GgufValueType.String => 8L + ((byte[])Payload).Length,
        GgufValueType.Array => 4 + 8 + ElementType switch
        {
            GgufValueType.String => ((byte[][])Payload).Sum(s => 8L + s.Length),
            GgufValueType.Bool => ((bool[])Payload).LongLength,
            _ => ((Array)Payload).LongLength * 4,
        },
        GgufValueType.UInt64 => 8,
        GgufValueType.Bool => 1,
        _ => 4,
    };

    /// <summary>Encodes text as UTF-8, rejecting lone surrogates instead of replacing them.</summary>
    internal static byte[] Encode(string value)
    {
        ArgumentNullException.ThrowIfNull(value);
        try
        {
            return StrictUtf8.GetBytes(value);
        }
        catch (EncoderFallbackException ex)
        {
            throw new ArgumentException("A GGUF string contains invalid UTF-16 (a lone surrogate).", nameof(value), ex);
        }
    }

    public override string ToString() => Type switch
    {
        GgufValueType.String => Encoding.UTF8.GetString((byte[])Payload),
        GgufValueType.Array => $"[{ElementType} × {Count}]",
        _ => Convert.ToString(Payload, System.Globalization.CultureInfo.InvariantCulture) ?? "",
    };
}
