using Waldwicht.Numerics.Kernels;
using Waldwicht.Numerics.Threading;

namespace Waldwicht.Numerics.Matrices;

/// <summary>
/// A read-only weight matrix of shape [Rows, Columns], stored row-major (output by input, as in
/// PyTorch and MLX) and applied to activations as y = W·x. Implementations never materialize a
/// dequantized copy of the whole matrix. Instances are safe for concurrent reads.
/// </summary>
/// <remarks>
/// Products run on a <see cref="WorkerPool"/>, split by rows: <see cref="WorkerPool.Shared"/> unless a pool is
/// passed. Results can differ between processors in the last bits, because the summation order follows the
/// vector width.
/// </remarks>
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

    /// <summary>Widest vectors the kernels use; tests and benchmarks pin it, everything else keeps the best one.</summary>
    internal KernelPath KernelPath { get; init; } = KernelPaths.Best;

    /// <summary>Computes y[r] = Σ_c W[r, c]·x[c] for every row r on <see cref="WorkerPool.Shared"/>.</summary>
    public void MatVec(ReadOnlySpan<float> x, Span<float> y) => MatVec(x, y, WorkerPool.Shared);

    /// <summary>Computes y[r] = Σ_c W[r, c]·x[c] for every row r on <paramref name="pool"/>.</summary>
    /// <exception cref="ArgumentException">A span is too short, or x and y overlap.</exception>
    public void MatVec(ReadOnlySpan<float> x, Span<float> y, WorkerPool pool)
    {
        ArgumentNullException.ThrowIfNull(pool);
        CheckLength(x, Columns, nameof(x));
        CheckLength(y, Rows, nameof(y));
        x = x[..Columns];
        y = y[..Rows];
        CheckDisjoint(x, y);
        MatVecCore(x, y, pool);
    }

    /// <summary>
    /// Computes y[t, r] = Σ_c W[r, c]·x[t, c] for <paramref name="count"/> row-major activation rows on
    /// <see cref="WorkerPool.Shared"/>.
    /// </summary>
    public void MatMul(ReadOnlySpan<float> x, int count, Span<float> y) => MatMul(x, count, y, WorkerPool.Shared);

    /// <summary>
    /// Computes y[t, r] = Σ_c W[r, c]·x[t, c] for <paramref name="count"/> row-major activation rows on
    /// <paramref name="pool"/>. Each result row equals <see cref="MatVec(ReadOnlySpan{float}, Span{float})"/>
    /// of the activation row within float rounding.
    /// </summary>
    /// <exception cref="ArgumentException">A span is too short, or x and y overlap.</exception>
    public void MatMul(ReadOnlySpan<float> x, int count, Span<float> y, WorkerPool pool)
    {
        ArgumentNullException.ThrowIfNull(pool);
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        CheckLength(x, (long)count * Columns, nameof(x));
        CheckLength(y, (long)count * Rows, nameof(y));
        if (count == 0)
        {
            return;
        }

        x = x[..(count * Columns)];
        y = y[..(count * Rows)];
        CheckDisjoint(x, y);
        if (count == 1)
        {
            MatVecCore(x, y, pool);
            return;
        }

        MatMulCore(x, count, y, pool);
    }

    /// <summary>Writes row <paramref name="row"/> as floats (dequantized where needed).</summary>
    public void ReadRow(int row, Span<float> destination)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(row);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(row, Rows);
        CheckLength(destination, Columns, nameof(destination));
        ReadRowCore(row, destination[..Columns]);
    }

    /// <summary>Computes the product for exactly <see cref="Columns"/> inputs and <see cref="Rows"/> outputs.</summary>
    protected abstract void MatVecCore(ReadOnlySpan<float> x, Span<float> y, WorkerPool pool);

    /// <summary>Computes the product for <paramref name="count"/> &gt; 1 activation rows; spans have exact lengths.</summary>
    protected virtual void MatMulCore(ReadOnlySpan<float> x, int count, Span<float> y, WorkerPool pool)
    {
        for (int t = 0; t < count; t++)
        {
            MatVecCore(x.Slice(t * Columns, Columns), y.Slice(t * Rows, Rows), pool);
        }
    }

    /// <summary>Writes one row into a destination of exactly <see cref="Columns"/> floats.</summary>
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

    private static void CheckDisjoint(ReadOnlySpan<float> x, Span<float> y)
    {
        if (x.Overlaps(y))
        {
            throw new ArgumentException("The output overlaps the input; pass separate buffers for x and y.", "y");
        }
    }
}
