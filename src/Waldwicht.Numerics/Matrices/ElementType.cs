namespace Waldwicht.Numerics.Matrices;

/// <summary>Floating-point storage type of dense weights and of quantization scales and biases.</summary>
public enum ElementType
{
    F32,
    BF16,
    F16,
}

/// <summary>Sizes of <see cref="ElementType"/> values.</summary>
public static class ElementTypeExtensions
{
    /// <summary>Bytes per element.</summary>
    public static int Size(this ElementType type) => type switch
    {
        ElementType.F32 => 4,
        ElementType.BF16 => 2,
        ElementType.F16 => 2,
        _ => throw new ArgumentOutOfRangeException(nameof(type), type, "Unknown element type."),
    };
}
