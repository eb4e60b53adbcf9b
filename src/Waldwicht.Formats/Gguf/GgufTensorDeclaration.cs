namespace Waldwicht.Formats.Gguf;

/// <summary>
/// Name, element type and dimensions of a tensor that a <see cref="GgufWriter"/> will write.
/// Dimensions follow GGML's order: the first one (ne0) is the contiguous row length, so a PyTorch
/// weight of shape [out, in] is declared as [in, out].
/// </summary>
public sealed record GgufTensorDeclaration(string Name, GgmlType Type, long[] Dimensions)
{
    /// <summary>Elements per row (ne0).</summary>
    public long RowLength => Dimensions.Length == 0 ? 1 : Dimensions[0];

    /// <summary>Number of rows: the product of all dimensions after the first.</summary>
    public long RowCount => Dimensions.Skip(1).Aggregate(1L, (product, dim) => checked(product * dim));

    /// <summary>Bytes of tensor data (without alignment padding).</summary>
    /// <exception cref="ArgumentException">The row length is not a whole number of blocks of <see cref="Type"/>.</exception>
    public long ByteLength => checked(Type.RowBytes(RowLength) * RowCount);

    /// <summary>Dimensions formatted as [ne0, ne1, …].</summary>
    public string DimensionsText => "[" + string.Join(", ", Dimensions) + "]";
}
