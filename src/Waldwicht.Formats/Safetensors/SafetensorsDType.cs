namespace Waldwicht.Formats.Safetensors;

/// <summary>Element types of the safetensors format, named as in its header.</summary>
public enum SafetensorsDType
{
    BOOL,
    U8,
    I8,
    U16,
    I16,
    F16,
    BF16,
    U32,
    I32,
    F32,
    U64,
    I64,
    F64,

    /// <summary>8-bit float with 4 exponent and 3 mantissa bits; MLX reads it as raw bytes.</summary>
    F8_E4M3,

    /// <summary>8-bit float with 5 exponent and 2 mantissa bits.</summary>
    F8_E5M2,

    /// <summary>8-bit power-of-two scale (exponent only), used by microscaling formats.</summary>
    F8_E8M0,

    /// <summary>Complex number of two float32 values, written by MLX for complex64 arrays.</summary>
    C64,
}

/// <summary>Parsing, names and sizes of <see cref="SafetensorsDType"/>.</summary>
public static class SafetensorsDTypes
{
    /// <summary>Bytes per element.</summary>
    public static int Size(this SafetensorsDType dtype) => dtype switch
    {
        SafetensorsDType.BOOL or SafetensorsDType.U8 or SafetensorsDType.I8
            or SafetensorsDType.F8_E4M3 or SafetensorsDType.F8_E5M2 or SafetensorsDType.F8_E8M0 => 1,
        SafetensorsDType.U16 or SafetensorsDType.I16 or SafetensorsDType.F16 or SafetensorsDType.BF16 => 2,
        SafetensorsDType.U32 or SafetensorsDType.I32 or SafetensorsDType.F32 => 4,
        SafetensorsDType.U64 or SafetensorsDType.I64 or SafetensorsDType.F64 or SafetensorsDType.C64 => 8,
        _ => throw new ArgumentOutOfRangeException(nameof(dtype), dtype, "Unknown safetensors dtype."),
    };

    /// <summary>The dtype string of the header, such as "BF16".</summary>
    public static string HeaderName(this SafetensorsDType dtype) => dtype switch
    {
        >= SafetensorsDType.BOOL and <= SafetensorsDType.C64 => dtype.ToString(),
        _ => throw new ArgumentOutOfRangeException(nameof(dtype), dtype, "Unknown safetensors dtype."),
    };

    /// <summary>
    /// Parses a header dtype string such as "BF16" (exact, case-sensitive match); returns false for
    /// unknown names, including sub-byte types such as "F4" that have no whole-byte element size.
    /// </summary>
    public static bool TryParse(string text, out SafetensorsDType dtype)
    {
        SafetensorsDType? parsed = text switch
        {
            "BOOL" => SafetensorsDType.BOOL,
            "U8" => SafetensorsDType.U8,
            "I8" => SafetensorsDType.I8,
            "U16" => SafetensorsDType.U16,
            "I16" => SafetensorsDType.I16,
            "F16" => SafetensorsDType.F16,
            "BF16" => SafetensorsDType.BF16,
            "U32" => SafetensorsDType.U32,
            "I32" => SafetensorsDType.I32,
            "F32" => SafetensorsDType.F32,
            "U64" => SafetensorsDType.U64,
            "I64" => SafetensorsDType.I64,
            "F64" => SafetensorsDType.F64,
            "F8_E4M3" => SafetensorsDType.F8_E4M3,
            "F8_E5M2" => SafetensorsDType.F8_E5M2,
            "F8_E8M0" => SafetensorsDType.F8_E8M0,
            "C64" => SafetensorsDType.C64,
            _ => null,
        };

        dtype = parsed.GetValueOrDefault();
        return parsed.HasValue;
    }
}
