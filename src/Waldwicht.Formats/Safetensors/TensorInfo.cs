namespace Waldwicht.Formats.Safetensors;

/// <summary>
/// Header entry of one tensor: dtype, shape and the byte range of its data, relative to the start
/// of the data section that follows the header.
/// </summary>
public sealed record TensorInfo(string Name, SafetensorsDType DType, long[] Shape, long Begin, long End)
{
    /// <summary>Product of the shape (1 for a scalar, 0 when any dimension is 0).</summary>
    /// <exception cref="OverflowException">The product does not fit a long.</exception>
    public long ElementCount => Shape.Aggregate(1L, (product, dim) => checked(product * dim));

    /// <summary>Bytes of tensor data.</summary>
    public long ByteLength => End - Begin;

    /// <summary>Number of dimensions.</summary>
    public int Rank => Shape.Length;

    /// <summary>Shape formatted as [a, b].</summary>
    public string ShapeText => "[" + string.Join(", ", Shape) + "]";
}
