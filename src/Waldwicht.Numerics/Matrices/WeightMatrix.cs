namespace Waldwicht.Numerics.Matrices;

/// <summary>
/// A read-only weight matrix of shape [Rows, Columns], stored row-major (output by input, as in
/// PyTorch and MLX) and applied to activations as y = W·x. Implementations never materialize a
/// dequantized copy of the whole matrix. Instances are safe for concurrent reads.
/// </summary>
public abstract class WeightMatrix
{
    protected WeightMatrix(int rows, int columns)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(rows);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(columns);
        Rows = rows;
        Columns = columns;
    }

    /// <summary>Number of rows (output features).</summary>
    public int Rows { get; }

    /// <summary>Number of columns (input features).</summary>
    public int Columns { get; }

    /// <summary>Bytes of weight storage that one full pass over the matrix reads.</summary>
    public abstract long StorageBytes { get; }

    /// <summary>Short description of the storage, such as "bf16" or "q4 g64 f32-scales".</summary>
    public abstract string StorageDescription { get; }

    /// <summary>Computes y[r] = Σ_c W[r, c]·x[c] for every row r.</summary>
    public void MatVec(ReadOnlySpan<float> x, Span<float> y)
    {
        CheckLength(x, Columns, nameof(x));
        CheckLength(y, Rows, nameof(y));
        MatVecCore(x, y);
    }

    /// <summary>
    /// Computes y[t, r] = Σ_c W[r, c]·x[t, c] for <paramref name="count"/> row-major activation rows.
    /// </summary>
    public void MatMul(ReadOnlySpan<float> x, int count, Span<float> y)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        CheckLength(x, (long)count * Columns, nameof(x));
        CheckLength(y, (long)count * Rows, nameof(y));
        if (count == 1)
        {
            MatVecCore(x[..Columns], y[..Rows]);
            return;
        }

        MatMulCore(x, count, y);
    }

    /// <summary>Writes row <paramref name="row"/> as floats (dequantized where needed).</summary>
    public void ReadRow(int row, Span<float> destination)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(row);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(row, Rows);
        CheckLength(destination, Columns, nameof(destination));
        ReadRowCore(row, destination[..Columns]);
    }

    protected abstract void MatVecCore(ReadOnlySpan<float> x, Span<float> y);

    protected virtual void MatMulCore(ReadOnlySpan<float> x, int count, Span<float> y)
    {
        for (int t = 0; t < count; t++)
        {
            MatVecCore(x.Slice(t * Columns, Columns), y.Slice(t * Rows, Rows));
        }
    }

    protected abstract void ReadRowCore(int row, Span<float> destination);

    private static void CheckLength<T>(ReadOnlySpan<T> span, long minimum, string name)
    {
        if (span.Length < minimum)
        {
            throw new ArgumentException($"Span has {span.Length} elements, expected at least {minimum}.", name);
        }
    }

    private static void CheckLength<T>(Span<T> span, long minimum, string name) =>
        CheckLength((ReadOnlySpan<T>)span, minimum, name);
}
