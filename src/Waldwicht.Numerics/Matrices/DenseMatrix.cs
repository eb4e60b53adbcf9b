namespace Waldwicht.Numerics.Matrices;

/// <summary>
/// An unquantized weight matrix in F32, BF16 or F16, read in place from native memory
/// (usually a memory-mapped safetensors file). The caller keeps that memory alive.
/// </summary>
public sealed unsafe class DenseMatrix : WeightMatrix
{
    private readonly nint _data;

    public DenseMatrix(nint data, ElementType elementType, int rows, int columns)
        : base(rows, columns)
    {
        if (data == 0)
        {
            throw new ArgumentNullException(nameof(data));
        }

        _data = data;
        ElementType = elementType;
    }

    /// <summary>Storage type of the elements.</summary>
    public ElementType ElementType { get; }

    public override long StorageBytes => (long)Rows * Columns * ElementType.Size();

    public override string StorageDescription => ElementType.ToString().ToLowerInvariant();

    protected override void MatVecCore(ReadOnlySpan<float> x, Span<float> y)
    {
        for (int r = 0; r < Rows; r++)
        {
            y[r] = DotRow(r, x);
        }
    }

    protected override void ReadRowCore(int row, Span<float> destination)
    {
        long offset = (long)row * Columns;
        switch (ElementType)
        {
            case ElementType.F32:
                new ReadOnlySpan<float>((float*)_data + offset, Columns).CopyTo(destination);
                break;
            case ElementType.BF16:
                BFloat16.ToSingle(new ReadOnlySpan<ushort>((ushort*)_data + offset, Columns), destination);
                break;
            default:
                var halves = new ReadOnlySpan<Half>((Half*)_data + offset, Columns);
                for (int c = 0; c < Columns; c++)
                {
                    destination[c] = (float)halves[c];
                }

                break;
        }
    }

    private float DotRow(int row, ReadOnlySpan<float> x)
    {
        long offset = (long)row * Columns;
        float sum = 0;
        switch (ElementType)
        {
            case ElementType.F32:
                float* f = (float*)_data + offset;
                for (int c = 0; c < Columns; c++)
                {
                    sum += f[c] * x[c];
                }

                break;
            case ElementType.BF16:
                ushort* b = (ushort*)_data + offset;
                for (int c = 0; c < Columns; c++)
                {
                    sum += BFloat16.ToSingle(b[c]) * x[c];
                }

                break;
            default:
                Half* h = (Half*)_data + offset;
                for (int c = 0; c < Columns; c++)
                {
                    sum += (float)h[c] * x[c];
                }

                break;
        }

        return sum;
    }
}
