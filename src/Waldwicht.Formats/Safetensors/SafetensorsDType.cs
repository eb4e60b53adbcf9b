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
}

/// <summary>Parsing and sizes of <see cref="SafetensorsDType"/>.</summary>
public static class SafetensorsDTypes
{
    /// <summary>Bytes per element.</summary>
    public static int Size(this SafetensorsDType dtype) => dtype switch
    {
        SafetensorsDType.BOOL or SafetensorsDType.U8 or SafetensorsDType.I8 => 1,
        SafetensorsDType.U16 or SafetensorsDType.I16 or SafetensorsDType.F16 or SafetensorsDType.BF16 => 2,
        SafetensorsDType.U32 or SafetensorsDType.I32 or SafetensorsDType.F32 => 4,
        SafetensorsDType.U64 or SafetensorsDType.I64 or SafetensorsDType.F64 => 8,
        _ => throw new ArgumentOutOfRangeException(nameof(dtype), dtype, "Unknown dtype."),
    };

    /// <summary>Parses a header dtype string such as "BF16"; returns false for unknown names.</summary>
    public static bool TryParse(string text, out SafetensorsDType dtype)
    {
        // F8 types carry one byte per element and are read as raw bytes, as MLX does.
        if (text is "F8_E4M3" or "F8_E5M2")
        {
            dtype = SafetensorsDType.U8;
            return true;
        }

        return Enum.TryParse(text, ignoreCase: false, out dtype) && Enum.IsDefined(dtype);
    }
}
