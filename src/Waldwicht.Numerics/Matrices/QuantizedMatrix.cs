namespace Waldwicht.Numerics.Matrices;

/// <summary>
/// A weight matrix in MLX affine quantization: each row is a little-endian, LSB-first stream of
/// <see cref="Bits"/>-bit codes packed into uint32 words, and every group of
/// <see cref="GroupSize"/> consecutive codes has a scale and a bias, so that w = code·scale + bias.
/// All three arrays are read in place from native memory that the caller keeps alive.
/// </summary>
public sealed unsafe class QuantizedMatrix : WeightMatrix
{
    private readonly nint _packed;
    private readonly nint _scales;
    private readonly nint _biases;

    public QuantizedMatrix(
        nint packed, nint scales, nint biases, ElementType scaleType, int rows, int columns, int bits, int groupSize)
        : base(rows, columns)
    {
        if (packed == 0 || scales == 0 || biases == 0)
        {
            throw new ArgumentException("Packed weights, scales and biases must all be present.");
        }

        if (!IsSupportedBits(bits))
        {
            throw new ArgumentOutOfRangeException(nameof(bits), bits, "Bits must be 2, 3, 4, 5, 6 or 8.");
        }

        if (groupSize is not (32 or 64 or 128))
        {
            throw new ArgumentOutOfRangeException(nameof(groupSize), groupSize, "Group size must be 32, 64 or 128.");
        }

        if (columns % groupSize != 0)
        {
            throw new ArgumentException($"Columns ({columns}) must be a multiple of the group size ({groupSize}).");
        }

        _packed = packed;
        _scales = scales;
        _biases = biases;
        ScaleType = scaleType;
        Bits = bits;
        GroupSize = groupSize;
    }

    /// <summary>Bits per code: 2, 3, 4, 5, 6 or 8.</summary>
    public int Bits { get; }

    /// <summary>Number of consecutive codes that share a scale and a bias: 32, 64 or 128.</summary>
    public int GroupSize { get; }

    /// <summary>Storage type of scales and biases.</summary>
    public ElementType ScaleType { get; }

    /// <summary>uint32 words per packed row.</summary>
    public int WordsPerRow => Columns * Bits / 32;

    /// <summary>Groups per row.</summary>
    public int GroupsPerRow => Columns / GroupSize;

    public override long StorageBytes =>
        (long)Rows * WordsPerRow * 4 + 2L * Rows * GroupsPerRow * ScaleType.Size();

    public override string StorageDescription =>
        $"q{Bits} g{GroupSize} {ScaleType.ToString().ToLowerInvariant()}-scales";

    /// <summary>True for the bit widths MLX affine quantization supports.</summary>
    public static bool IsSupportedBits(int bits) => bits is 2 or 3 or 4 or 5 or 6 or 8;

    protected override void MatVecCore(ReadOnlySpan<float> x, Span<float> y)
    {
        for (int r = 0; r < Rows; r++)
        {
            y[r] = DotRow(r, x);
        }
    }

    protected override void ReadRowCore(int row, Span<float> destination)
    {
        uint* words = (uint*)_packed + (long)row * WordsPerRow;
        long groupBase = (long)row * GroupsPerRow;
        for (int g = 0; g < GroupsPerRow; g++)
        {
            float scale = LoadScale(_scales, groupBase + g);
            float bias = LoadScale(_biases, groupBase + g);
            for (int i = g * GroupSize; i < (g + 1) * GroupSize; i++)
            {
                float product = ExtractCode(words, i) * scale;
                destination[i] = product + bias;
            }
        }
    }

    private float DotRow(int row, ReadOnlySpan<float> x)
    {
        uint* words = (uint*)_packed + (long)row * WordsPerRow;
        long groupBase = (long)row * GroupsPerRow;
        float sum = 0;
        for (int g = 0; g < GroupsPerRow; g++)
        {
            float codeDot = 0;
            float xSum = 0;
            for (int i = g * GroupSize; i < (g + 1) * GroupSize; i++)
            {
                codeDot += ExtractCode(words, i) * x[i];
                xSum += x[i];
            }

            sum += LoadScale(_scales, groupBase + g) * codeDot + LoadScale(_biases, groupBase + g) * xSum;
        }

        return sum;
    }

    private uint ExtractCode(uint* words, int index)
    {
        int bitPosition = index * Bits;
        int word = bitPosition >> 5;
        int shift = bitPosition & 31;
        ulong pair = words[word];
        if (shift + Bits > 32)
        {
            pair |= (ulong)words[word + 1] << 32;
        }

        return (uint)(pair >> shift) & ((1u << Bits) - 1);
    }

    private float LoadScale(nint array, long index) => ScaleType switch
    {
        ElementType.F32 => ((float*)array)[index],
        ElementType.BF16 => BFloat16.ToSingle(((ushort*)array)[index]),
        _ => (float)((Half*)array)[index],
    };
}
