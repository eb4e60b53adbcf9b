using System.Runtime.InteropServices;
using Waldwicht.Numerics.Kernels;
using Waldwicht.Numerics.Matrices;

namespace Waldwicht.Numerics.Tests;

/// <summary>Native memory that lives as long as the test object that owns it.</summary>
internal sealed unsafe class NativeBuffer : IDisposable
{
    public NativeBuffer(long bytes)
    {
        Pointer = (nint)NativeMemory.AlignedAlloc((nuint)Math.Max(bytes, 1), 64);
        Bytes = bytes;
    }

    public nint Pointer { get; private set; }

    public long Bytes { get; }

    public void Dispose()
    {
        if (Pointer != 0)
        {
            NativeMemory.AlignedFree((void*)Pointer);
            Pointer = 0;
        }
    }
}

/// <summary>
/// A random MLX affine-quantized matrix, packed by the test's own LSB-first packer, with the codes, scales
/// and biases kept as plain arrays (scales and biases already rounded to their storage type).
/// </summary>
internal sealed unsafe class QuantizedTestMatrix : IDisposable
{
    private readonly NativeBuffer _packed;
    private readonly NativeBuffer _scales;
    private readonly NativeBuffer _biases;

    public QuantizedTestMatrix(int rows, int columns, int bits, int groupSize, ElementType scaleType, int seed)
    {
        Rows = rows;
        Columns = columns;
        Bits = bits;
        GroupSize = groupSize;
        var random = new Random(seed);
        Codes = new uint[rows * columns];
        for (int i = 0; i < Codes.Length; i++)
        {
            Codes[i] = (uint)random.Next(1 << bits);
        }

        int groups = rows * (columns / groupSize);
        Scales = new float[groups];
        Biases = new float[groups];
        for (int g = 0; g < groups; g++)
        {
            // Both signs, as MLX produces: a negative scale is the common case.
            float step = (float)((random.NextDouble() * 0.9 + 0.1) / (1 << bits));
            Scales[g] = RoundTo(scaleType, random.Next(2) == 0 ? -step : step);
            Biases[g] = RoundTo(scaleType, (float)(random.NextDouble() * 2 - 1));
        }

        _packed = new NativeBuffer((long)rows * columns * bits / 8);
        Pack(Codes, rows, columns, bits, new Span<uint>((void*)_packed.Pointer, (int)(_packed.Bytes / 4)));
        _scales = StoreParameters(Scales, scaleType);
        _biases = StoreParameters(Biases, scaleType);

        // Float activations, because these matrices test the float kernels. The integer kernels have their own tests.
        Matrix = new QuantizedMatrix(
            _packed.Pointer, _scales.Pointer, _biases.Pointer, scaleType, rows, columns, bits, groupSize)
        {
            ActivationPrecision = ActivationPrecision.Float32,
        };
    }

    public int Rows { get; }

    public int Columns { get; }

    public int Bits { get; }

    public int GroupSize { get; }

    public uint[] Codes { get; }

    public float[] Scales { get; }

    public float[] Biases { get; }

    public QuantizedMatrix Matrix { get; }

    /// <summary>
    /// Returns a matrix over the same memory that uses the given kernel path and, unless
    /// <paramref name="precision"/> requests another, float activations (the processor's default may be integer).
    /// </summary>
    public QuantizedMatrix WithPath(KernelPath path, ActivationPrecision precision = ActivationPrecision.Float32) => new(
        _packed.Pointer, _scales.Pointer, _biases.Pointer, Matrix.ScaleType, Rows, Columns, Bits, GroupSize)
    {
        KernelPath = path,
        ActivationPrecision = precision,
    };

    /// <summary>Element (row, column) dequantized in float64 from the float scale and bias.</summary>
    public double Weight(int row, int column)
    {
        int group = row * (Columns / GroupSize) + column / GroupSize;
        return (double)Codes[row * Columns + column] * Scales[group] + Biases[group];
    }

    /// <summary>Dequantize-then-dot in float64, and Σ|w·x| as the error scale.</summary>
    public (double Value, double Magnitude) ReferenceDot(int row, ReadOnlySpan<float> x)
    {
        double sum = 0;
        double magnitude = 0;
        int groupsPerRow = Columns / GroupSize;
        for (int c = 0; c < Columns; c++)
        {
            int group = row * groupsPerRow + c / GroupSize;
            double w = Weight(row, c);
            sum += w * x[c];

            // The kernels add scale·Σ(code·x) and bias·Σx separately, so their rounding scales with both terms.
            magnitude += (Math.Abs((double)Codes[row * Columns + c] * Scales[group]) + Math.Abs(Biases[group]))
                * Math.Abs(x[c]);
        }

        return (sum, magnitude);
    }

    /// <summary>Packs codes row by row into little-endian uint32 words, least significant bit first.</summary>
    public static void Pack(ReadOnlySpan<uint> codes, int rows, int columns, int bits, Span<uint> words)
    {
        int wordsPerRow = columns * bits / 32;
        words[..(rows * wordsPerRow)].Clear();
        for (int r = 0; r < rows; r++)
        {
            for (int c = 0; c < columns; c++)
            {
                uint code = codes[r * columns + c];
                for (int b = 0; b < bits; b++)
                {
                    long position = (long)c * bits + b;
                    if (((code >> b) & 1) != 0)
                    {
                        words[r * wordsPerRow + (int)(position / 32)] |= 1u << (int)(position % 32);
                    }
                }
            }
        }
    }

    public static float RoundTo(ElementType type, float value) => type switch
    {
        ElementType.BF16 => BFloat16.Round(value),
        ElementType.F16 => (float)(Half)value,
        _ => value,
    };

    public void Dispose()
    {
        _packed.Dispose();
        _scales.Dispose();
        _biases.Dispose();
    }

    private static NativeBuffer StoreParameters(float[] values, ElementType type)
    {
        var buffer = new NativeBuffer((long)values.Length * type.Size());
        for (int i = 0; i < values.Length; i++)
        {
            switch (type)
            {
                case ElementType.F32:
                    ((float*)buffer.Pointer)[i] = values[i];
                    break;
                case ElementType.BF16:
                    ((ushort*)buffer.Pointer)[i] = BFloat16.FromSingle(values[i]);
                    break;
                default:
                    ((Half*)buffer.Pointer)[i] = (Half)values[i];
                    break;
            }
        }

        return buffer;
    }
}

/// <summary>A random dense F32, BF16 or F16 matrix in native memory, with its values as floats.</summary>
internal sealed unsafe class DenseTestMatrix : IDisposable
{
    private readonly NativeBuffer _data;

    public DenseTestMatrix(int rows, int columns, ElementType type, int seed)
    {
        Rows = rows;
        Columns = columns;
        Type = type;
        var random = new Random(seed);
        Values = new float[rows * columns];
        _data = new NativeBuffer((long)rows * columns * type.Size());
        for (int i = 0; i < Values.Length; i++)
        {
            float value = QuantizedTestMatrix.RoundTo(type, (float)(random.NextDouble() * 2 - 1));
            Values[i] = value;
            switch (type)
            {
                case ElementType.F32:
                    ((float*)_data.Pointer)[i] = value;
                    break;
                case ElementType.BF16:
                    ((ushort*)_data.Pointer)[i] = BFloat16.FromSingle(value);
                    break;
                default:
                    ((Half*)_data.Pointer)[i] = (Half)value;
                    break;
            }
        }
    }

    public int Rows { get; }

    public int Columns { get; }

    public ElementType Type { get; }

    public float[] Values { get; }

    public nint Pointer => _data.Pointer;

    public DenseMatrix WithPath(KernelPath path) => new(_data.Pointer, Type, Rows, Columns) { KernelPath = path };

    public (double Value, double Magnitude) ReferenceDot(int row, ReadOnlySpan<float> x)
    {
        double sum = 0;
        double magnitude = 0;
        for (int c = 0; c < Columns; c++)
        {
            double product = (double)Values[row * Columns + c] * x[c];
            sum += product;
            magnitude += Math.Abs(product);
        }

        return (sum, magnitude);
    }

    public void Dispose() => _data.Dispose();
}

internal static class TestVectors
{
    public static float[] Random(int length, int seed)
    {
        var random = new Random(seed);
        var values = new float[length];
        for (int i = 0; i < length; i++)
        {
            values[i] = (float)(random.NextDouble() * 2 - 1);
        }

        return values;
    }
}
