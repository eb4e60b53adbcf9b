namespace Waldwicht.Formats.Gguf;

/// <summary>
/// Tensor element types of GGML that this project writes. The numeric values are the type ids
/// stored in GGUF tensor infos (enum ggml_type in ggml/include/ggml.h).
/// </summary>
public enum GgmlType : uint
{
    /// <summary>IEEE binary32, 4 bytes per element.</summary>
    F32 = 0,

    /// <summary>IEEE binary16, 2 bytes per element.</summary>
    F16 = 1,

    /// <summary>Blocks of 32 weights: an F16 scale and 32 4-bit codes (18 bytes, 4.5 bits per weight).</summary>
    Q4_0 = 2,

    /// <summary>Blocks of 32 weights: an F16 scale, an F16 minimum and 32 4-bit codes (20 bytes, 5 bits per weight).</summary>
    Q4_1 = 3,

    /// <summary>Blocks of 32 weights: an F16 scale and 32 5-bit codes (22 bytes, 5.5 bits per weight).</summary>
    Q5_0 = 6,

    /// <summary>Blocks of 32 weights: an F16 scale, an F16 minimum and 32 5-bit codes (24 bytes, 6 bits per weight).</summary>
    Q5_1 = 7,

    /// <summary>Blocks of 32 weights: an F16 scale and 32 signed 8-bit codes (34 bytes, 8.5 bits per weight).</summary>
    Q8_0 = 8,
}

/// <summary>Block geometry of the <see cref="GgmlType"/> values.</summary>
public static class GgmlTypeExtensions
{
    /// <summary>Elements per block: 1 for F32 and F16, 32 for the block-quantized types.</summary>
    public static int BlockSize(this GgmlType type) => type switch
    {
        GgmlType.F32 or GgmlType.F16 => 1,
        GgmlType.Q4_0 or GgmlType.Q4_1 or GgmlType.Q5_0 or GgmlType.Q5_1 or GgmlType.Q8_0 => 32,
        _ => throw new ArgumentOutOfRangeException(nameof(type), type, "Unknown GGML type."),
    };

    /// <summary>Bytes per block (ggml's type_size).</summary>
    public static int BlockBytes(this GgmlType type) => type switch
    {
        GgmlType.F32 => 4,
        GgmlType.F16 => 2,
        GgmlType.Q4_0 => 18,
        GgmlType.Q4_1 => 20,
        GgmlType.Q5_0 => 22,
        GgmlType.Q5_1 => 24,
        GgmlType.Q8_0 => 34,
        _ => throw new ArgumentOutOfRangeException(nameof(type), type, "Unknown GGML type."),
    };

    /// <summary>True when a row of <paramref name="length"/> elements is a whole number of blocks.</summary>
    public static bool CanStoreRow(this GgmlType type, long length) => length > 0 && length % type.BlockSize() == 0;

    /// <summary>Bytes of one row of <paramref name="length"/> elements (ggml_row_size).</summary>
    /// <exception cref="ArgumentException">The length is not a whole number of blocks.</exception>
    public static long RowBytes(this GgmlType type, long length)
    {
        if (length < 0 || length % type.BlockSize() != 0)
        {
            throw new ArgumentException(
                $"A {type} row needs a multiple of {type.BlockSize()} elements; got {length}.", nameof(length));
        }

        return checked(length / type.BlockSize() * type.BlockBytes());
    }

    /// <summary>The type name as llama.cpp prints it, such as "q4_0".</summary>
    public static string DisplayName(this GgmlType type) => type.ToString().ToLowerInvariant();
}
