namespace Waldwicht.Formats.Safetensors;

/// <summary>Name, dtype and shape of a tensor that a <see cref="SafetensorsWriter"/> will write.</summary>
public sealed record TensorDeclaration(string Name, SafetensorsDType DType, long[] Shape)
{
    /// <summary>Bytes of tensor data: the product of the shape times the element size.</summary>
    /// <exception cref="OverflowException">The size does not fit a long.</exception>
    public long ByteLength => checked(Shape.Aggregate(1L, (product, dim) => checked(product * dim)) * DType.Size());

    /// <summary>Shape formatted as [a, b].</summary>
    public string ShapeText => "[" + string.Join(", ", Shape) + "]";

    /// <summary>The declaration of an existing tensor, for copying it to another file.</summary>
    public static TensorDeclaration From(TensorInfo info) => new(info.Name, info.DType, (long[])info.Shape.Clone());
}
