using Waldwicht.Numerics.Kernels;
using Waldwicht.Numerics.Threading;

namespace Waldwicht.Numerics.Matrices;

/// <summary>
/// An unquantized weight matrix in F32, BF16 or F16, read in place from native memory
/// (usually a memory-mapped safetensors file). The caller keeps that memory alive.
/// </summary>
public sealed unsafe class DenseMatrix : WeightMatrix
{
    // Weight bytes a pool chunk should cover at least, so that tiny matrices run on the calling thread.
    private const int MinimumChunkBytes = 16 * 1024;

    // Below this many activation rows, one matrix-vector product per row is faster than the tiled kernel,
    // which works on four activation rows at a time.
    private const int MinimumTiledCount = 4;

    // Floats of widened rows per tile, sized to stay in a typical 256 KB to 1 MB L2 cache.
    private const int TileFloats = 64 * 1024;

    // Activation rows per pass of the tiled product, so that they stay in cache while the tiles stream.
    private const int TokensPerPass = 256;

    private readonly nint _data;

    public DenseMatrix(nint data, ElementType elementType, int rows, int columns)
        : base(rows, columns)
    {
        if (data == 0)
        {
            throw new ArgumentNullException(nameof(data));
        }

        if (!Enum.IsDefined(elementType))
        {
            throw new ArgumentOutOfRangeException(
                nameof(elementType), elementType, "Element type must be F32, BF16 or F16.");
        }

        _data = data;
        ElementType = elementType;
    }

    /// <summary>Storage type of the elements.</summary>
    public ElementType ElementType { get; }

    public override long StorageBytes => (long)Rows * Columns * ElementType.Size();

    public override string StorageDescription => ElementType.ToString().ToLowerInvariant();

    protected override void MatVecCore(ReadOnlySpan<float> x, Span<float> y, WorkerPool pool)
    {
        int grain = Math.Max(1, MinimumChunkBytes / (Columns * ElementType.Size()));
        fixed (float* input = x, output = y)
        {
            var job = new MatVecJob((void*)_data, ElementType, Columns, KernelPath, input, output);
            pool.Run(ref job, Rows, grain);
        }
    }

    protected override void MatMulCore(ReadOnlySpan<float> x, int count, Span<float> y, WorkerPool pool)
    {
        if (KernelPath == KernelPath.Scalar || count < MinimumTiledCount)
        {
            base.MatMulCore(x, count, y, pool);
            return;
        }

        int rowTile = Math.Clamp(TileFloats / Columns / 4 * 4, 4, 256);
        fixed (float* input = x, output = y)
        {
            for (int first = 0; first < count; first += TokensPerPass)
            {
                int tokens = Math.Min(TokensPerPass, count - first);
                var job = new MatMulJob(
                    (void*)_data,
                    ElementType,
                    Rows,
                    Columns,
                    KernelPath,
                    input + (long)first * Columns,
                    tokens,
                    output + (long)first * Rows,
                    rowTile);
                pool.Run(ref job, Rows, rowTile);
            }
        }
    }

    protected override void ReadRowCore(int row, Span<float> destination)
    {
        fixed (float* output = destination)
        {
            ElementKernels.ToSingle((void*)_data, ElementType, (long)row * Columns, output, Columns, KernelPath);
        }
    }

    private readonly struct MatVecJob(
        void* data, ElementType type, int columns, KernelPath path, float* x, float* y) : IRangeJob
    {
        public void Execute(int start, int end) =>
            DenseKernels.MatVecRows(data, type, columns, path, x, start, end, y);
    }

    private readonly struct MatMulJob(
        void* data, ElementType type, int rows, int columns, KernelPath path, float* x, int count, float* y, int rowTile)
        : IRangeJob
    {
        public void Execute(int start, int end)
        {
            float* tile = type == ElementType.F32 ? null : ThreadScratch.Tile(rowTile * columns);
            for (int row = start; row < end; row += rowTile)
            {
                int tileRows = Math.Min(rowTile, end - row);
                float* weights;
                if (type == ElementType.F32)
                {
                    weights = (float*)data + (long)row * columns;
                }
                else
                {
                    ElementKernels.ToSingle(data, type, (long)row * columns, tile, tileRows * columns, path);
                    weights = tile;
                }

                MatMulKernels.MultiplyTransposed(path, weights, columns, tileRows, x, columns, count, columns, y + row, rows);
            }
        }
    }
}
