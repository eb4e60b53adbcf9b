using Waldwicht.Numerics.Kernels;
using Waldwicht.Numerics.Matrices;
using Waldwicht.Numerics.Threading;

namespace Waldwicht.Numerics.Tests;

public sealed unsafe class IntegerMatVecTests : IDisposable
{
    // Integer sums are exact, so only the float scaling and summation order differ from the reference: far
    // below this fraction of Σ|terms| for a few thousand terms.
    private const double RelativeTolerance = 1e-5;

    private static readonly ActivationPrecision[] IntegerPrecisions =
        [ActivationPrecision.Int32, ActivationPrecision.Int16, ActivationPrecision.Int8];

    private readonly WorkerPool _pool = new(3, TimeSpan.Zero);

    public static TheoryData<string, string, int, int> KernelCases()
    {
        var data = new TheoryData<string, string, int, int>();
        foreach (var path in TestPaths.Tested.Where(p => p != nameof(KernelPath.Scalar)))
        {
            foreach (var precision in IntegerPrecisions)
            {
                foreach (int bits in TestPaths.BitWidths)
                {
                    foreach (int groupSize in TestPaths.GroupSizes)
                    {
                        data.Add(path, precision.ToString(), bits, groupSize);
                    }
                }
            }
        }

        return data;
    }

    public static TheoryData<string, string> PathPrecisionCases()
    {
        var data = new TheoryData<string, string>();
        foreach (var path in TestPaths.Tested)
        {
            foreach (var precision in IntegerPrecisions)
            {
                data.Add(path, precision.ToString());
            }
        }

        return data;
    }

    public void Dispose() => _pool.Dispose();

    [Theory]
    [MemberData(nameof(KernelCases))]
    public void MatVec_MatchesQuantizedReference(string pathName, string precisionName, int bits, int groupSize)
    {
        var path = TestPaths.Parse(pathName);
        var precision = Enum.Parse<ActivationPrecision>(precisionName);
        (int Rows, int Columns)[] shapes =
        [
            (1, groupSize), (5, groupSize), (3, TestPaths.OddColumns(groupSize)), (37, 3 * groupSize), (130, 1536),
        ];
        int seed = bits * 100 + groupSize;
        foreach (var (rows, columns) in shapes)
        {
            // F32 scales are read in place, where the last row's neighbours lie outside the array, and the other
            // types are converted row by row.
            foreach (var scaleType in TestPaths.ElementTypes)
            {
                using var matrix = new IntegerTestMatrix(
                    RandomCodes(rows, columns, bits, seed), rows, columns, bits, groupSize, scaleType, seed);
                var x = TestVectors.Random(columns, seed + 1);
                AssertMatchesReference(matrix, x, path, precision, $"{rows}x{columns} {scaleType}");
                seed += 7;
            }
        }
    }

    [Theory]
    [MemberData(nameof(PathPrecisionCases))]
    public void MatVec_NonFiniteGroupGivesNaN(string pathName, string precisionName)
    {
        var path = TestPaths.Parse(pathName);
        var precision = Enum.Parse<ActivationPrecision>(precisionName);
        foreach (float bad in new[] { float.NaN, float.PositiveInfinity, float.NegativeInfinity })
        {
            using var matrix = new IntegerTestMatrix(RandomCodes(9, 256, 4, 3), 9, 256, 4, 64, ElementType.BF16, 3);
            var x = TestVectors.Random(256, 4);
            x[130] = bad;
            var y = new float[9];
            matrix.Create(path, precision).MatVec(x, y, _pool);
            for (int r = 0; r < y.Length; r++)
            {
                Assert.True(float.IsNaN(y[r]), $"row {r} with {bad} in the activations: expected NaN, got {y[r]}");
            }
        }
    }

    [Theory]
    [MemberData(nameof(PathPrecisionCases))]
    public void MatVec_ZeroGroupsMatchReference(string pathName, string precisionName)
    {
        var path = TestPaths.Parse(pathName);
        var precision = Enum.Parse<ActivationPrecision>(precisionName);
        foreach (int bits in TestPaths.BitWidths)
        {
            using var matrix = new IntegerTestMatrix(RandomCodes(17, 384, bits, bits), 17, 384, bits, 128, ElementType.F16, bits);
            var x = TestVectors.Random(384, bits + 1);
            Array.Clear(x, 128, 128);
            AssertMatchesReference(matrix, x, path, precision, $"{bits} bits, group 1 zero");

            Array.Clear(x);
            var y = new float[17];
            matrix.Create(path, precision).MatVec(x, y, _pool);
            Assert.All(y, value => Assert.Equal(0f, value));
        }
    }

    [Theory]
    [MemberData(nameof(PathPrecisionCases))]
    public void MatVec_LargestCodesDoNotSaturate(string pathName, string precisionName)
    {
        var path = TestPaths.Parse(pathName);
        var precision = Enum.Parse<ActivationPrecision>(precisionName);
        foreach (int bits in TestPaths.BitWidths)
        {
            int rows = 6;
            int columns = 256;
            var codes = new uint[rows * columns];
            Array.Fill(codes, (1u << bits) - 1);

            // Equal magnitudes quantize to ±qmax, so every pair of products is 2·(2^bits − 1)·qmax in size.
            var x = new float[columns];
            for (int c = 0; c < columns; c++)
            {
                x[c] = (c / 64) % 2 == 0 ? 1.5f : -1.5f;
            }

            using var matrix = new IntegerTestMatrix(codes, rows, columns, bits, 64, ElementType.F32, bits);
            AssertMatchesReference(matrix, x, path, precision, $"{bits} bits, all codes {(1 << bits) - 1}");
        }
    }

    [Theory]
    [MemberData(nameof(PathPrecisionCases))]
    public void MatVec_AllocatesNothingWhenWarm(string pathName, string precisionName)
    {
        var path = TestPaths.Parse(pathName);
        var precision = Enum.Parse<ActivationPrecision>(precisionName);

        // One thread, so that every kernel call runs on the thread whose allocations are counted.
        using var pool = new WorkerPool(1, TimeSpan.Zero);
        foreach (int bits in new[] { 4, 5, 8 })
        {
            using var matrix = new IntegerTestMatrix(RandomCodes(64, 1536, bits, bits), 64, 1536, bits, 64, ElementType.BF16, bits);
            var quantized = matrix.Create(path, precision);
            var x = TestVectors.Random(1536, bits);
            var y = new float[64];
            for (int warmUp = 0; warmUp < 3; warmUp++)
            {
                quantized.MatVec(x, y, pool);
            }

            // A kernel that allocates does so on every call. The runtime can allocate once in a while on this
            // thread as well (tiered compilation under load), so the fewest bytes of three calls must be 0.
            long fewest = long.MaxValue;
            for (int attempt = 0; attempt < 3 && fewest > 0; attempt++)
            {
                long before = GC.GetAllocatedBytesForCurrentThread();
                quantized.MatVec(x, y, pool);
                fewest = Math.Min(fewest, GC.GetAllocatedBytesForCurrentThread() - before);
            }

            Assert.True(fewest == 0, $"{bits} bits: {fewest} bytes allocated");
        }
    }

    [Theory]
    [MemberData(nameof(PathPrecisionCases))]
    public void Quantize_MatchesScalarBitForBit(string pathName, string precisionName)
    {
        var path = TestPaths.Parse(pathName);
        var precision = Enum.Parse<ActivationPrecision>(precisionName);
        foreach (int groupSize in TestPaths.GroupSizes)
        {
            const int rows = 3;
            int columns = 6 * groupSize;
            var random = new Random(groupSize);
            var x = new float[rows * columns];
            for (int i = 0; i < x.Length; i++)
            {
                // Magnitudes from 1e-6 to 1e3 per group, so that the scales cover many binades.
                float magnitude = MathF.Pow(10, (i / groupSize) % 10 - 6);
                x[i] = (float)(random.NextDouble() * 2 - 1) * magnitude;
            }

            Array.Clear(x, groupSize, groupSize);
            x[2 * groupSize + 5] = float.NaN;
            x[3 * groupSize + 1] = float.PositiveInfinity;
            x[columns + groupSize + 3] = 0.5f;

            using var expected = new ActivationBuffer(rows, columns, groupSize, precision);
            using var actual = new ActivationBuffer(rows, columns, groupSize, precision);
            fixed (float* input = x)
            {
                ActivationQuantizer.Quantize(input, rows, expected.Activations, precision, KernelPath.Scalar);
                ActivationQuantizer.Quantize(input, rows, actual.Activations, precision, path);
            }

            var a = actual.Activations;
            var e = expected.Activations;
            for (int i = 0; i < rows * columns; i++)
            {
                Assert.True(e.Codes[i] == a.Codes[i], $"group size {groupSize}, code {i}: expected {e.Codes[i]}, got {a.Codes[i]}");
                if (precision == ActivationPrecision.Int32)
                {
                    Assert.True(
                        e.LowCodes[i] == a.LowCodes[i],
                        $"group size {groupSize}, low code {i}: expected {e.LowCodes[i]}, got {a.LowCodes[i]}");
                }
            }

            for (int g = 0; g < rows * e.GroupsPerRow; g++)
            {
                Assert.True(
                    BitConverter.SingleToInt32Bits(e.Scales[g]) == BitConverter.SingleToInt32Bits(a.Scales[g]),
                    $"group size {groupSize}, scale {g}: expected {e.Scales[g]:R}, got {a.Scales[g]:R}");
                if (float.IsFinite(e.Sums[g]))
                {
                    TestPaths.AssertClose(e.Sums[g], a.Sums[g], 1e-6 * groupSize * Math.Abs(e.Scales[g]) * ActivationQuantizer.MaxCode(precision), $"group size {groupSize}, sum {g}");
                }
            }
        }
    }

    [Fact]
    public void Quantize_ScalarMatchesDefinition()
    {
        var x = new float[] { 0.5f, -1f, 0.25f, 1f / 3, 0f, -0.125f, 0.75f, 1e-9f };
        var padded = new float[32];
        x.CopyTo(padded, 0);
        var codes = new short[32];
        fixed (float* input = padded)
        fixed (short* output = codes)
        {
            ActivationQuantizer.QuantizeGroupScalar(input, 32, 127, output, null, out float scale, out float sum);
            Assert.Equal(1f / 127, scale);
            Assert.Equal(padded.Sum(), sum, 6);
            for (int i = 0; i < 32; i++)
            {
                Assert.Equal((short)MathF.Round(padded[i] * 127), codes[i]);
            }
        }
    }

    [Theory]
    [MemberData(nameof(PathPrecisionCases))]
    public void Quantize_TinyGroupsBecomeZero(string pathName, string precisionName)
    {
        var path = TestPaths.Parse(pathName);
        var precision = Enum.Parse<ActivationPrecision>(precisionName);
        var x = new float[128];
        for (int i = 0; i < 64; i++)
        {
            // Group 0 lies below the threshold, down to subnormals, and group 1 just above it.
            x[i] = (i % 2 == 0 ? 1 : -1) * ActivationQuantizer.TinyGroup * MathF.Pow(2, -1 - i);
            x[64 + i] = (i % 2 == 0 ? 1 : -1) * ActivationQuantizer.TinyGroup * (1 + i);
        }

        using var buffer = new ActivationBuffer(1, 128, 64, precision);
        var a = buffer.Activations;
        fixed (float* input = x)
        {
            ActivationQuantizer.Quantize(input, 1, a, precision, path);
        }

        Assert.Equal(0f, a.Scales[0]);
        Assert.True(a.Scales[1] > 0, $"scale of the group above the threshold: {a.Scales[1]}");
        for (int i = 0; i < 64; i++)
        {
            Assert.Equal(0, a.Codes[i]);
            if (precision == ActivationPrecision.Int32)
            {
                Assert.Equal(0, a.LowCodes[i]);
            }
        }

        Assert.Equal(ActivationQuantizer.MaxCode(precision), Math.Abs((int)a.Codes[127]));
        using var matrix = new IntegerTestMatrix(RandomCodes(5, 128, 4, 9), 5, 128, 4, 64, ElementType.F32, 9);
        AssertMatchesReference(matrix, x, path, precision, "tiny groups");
    }

    [Theory]
    [MemberData(nameof(PathCases))]
    public void Quantize_Int32ReconstructsFinerThanInt16(string pathName)
    {
        var path = TestPaths.Parse(pathName);
        const int columns = 1280;
        var random = new Random(17);
        var x = new float[columns];
        for (int i = 0; i < columns; i++)
        {
            // Magnitudes from 1e-8 to 1e4 across the groups, and a few outliers.
            x[i] = (float)(random.NextDouble() * 2 - 1) * MathF.Pow(10, (i / 64) % 13 - 8);
        }

        x[70] = 3e4f;
        Array.Clear(x, 640, 64);
        x[900] = float.NaN;
        using var buffer = new ActivationBuffer(1, columns, 64, ActivationPrecision.Int32);
        var a = buffer.Activations;
        fixed (float* input = x)
        {
            ActivationQuantizer.Quantize(input, 1, a, ActivationPrecision.Int32, path);
        }

        for (int i = 0; i < columns; i++)
        {
            double d = a.Scales[i / 64];
            if (double.IsNaN(d))
            {
                Assert.Equal(0, a.Codes[i]);
                Assert.Equal(0, a.LowCodes[i]);
                continue;
            }

            double value = d * (a.Codes[i] + a.LowCodes[i] / 32768.0);
            Assert.True(
                Math.Abs(value - x[i]) <= d / 60000,
                $"{path} column {i}: {x[i]:R} reconstructs as {value:R} with scale {d:R}");
            Assert.InRange(a.LowCodes[i], (short)-16700, (short)16700);
        }
    }

    [Theory]
    [MemberData(nameof(PathCases))]
    public void MatVec_Int32MatchesExactProduct(string pathName)
    {
        var path = TestPaths.Parse(pathName);
        foreach (int bits in TestPaths.BitWidths)
        {
            foreach (int groupSize in TestPaths.GroupSizes)
            {
                using var matrix = ExactTestMatrix(bits, groupSize, bits + groupSize);
                var x = TestVectors.Random(matrix.Columns, bits * groupSize);
                var y = new float[matrix.Rows];
                matrix.Create(path, ActivationPrecision.Int32).MatVec(x, y, _pool);
                AssertExact(matrix, x, y, $"{path} {bits} bits group {groupSize}");
            }
        }
    }

    // One activation per group is ±1000 and the rest lie in (−1, 1), as with the outlier channels of real models.
    // 16-bit codes then step by about 0.03, so int16 results exceed the bound, while the low codes of int32 keep
    // the products exact.
    [Theory]
    [MemberData(nameof(PathCases))]
    public void MatVec_Int32ExactWithOutliers(string pathName)
    {
        var path = TestPaths.Parse(pathName);
        foreach (int bits in TestPaths.BitWidths)
        {
            foreach (int groupSize in TestPaths.GroupSizes)
            {
                using var matrix = ExactTestMatrix(bits, groupSize, 7 * bits + groupSize);
                var x = TestVectors.Random(matrix.Columns, 3 * bits + groupSize);
                for (int g = 0; g < matrix.Columns / groupSize; g++)
                {
                    x[g * groupSize + (5 * g + bits) % groupSize] = g % 2 == 0 ? 1000f : -1000f;
                }

                var exactY = new float[matrix.Rows];
                var int16Y = new float[matrix.Rows];
                matrix.Create(path, ActivationPrecision.Int32).MatVec(x, exactY, _pool);
                matrix.Create(path, ActivationPrecision.Int16).MatVec(x, int16Y, _pool);
                AssertExact(matrix, x, exactY, $"{path} {bits} bits group {groupSize}");

                double worstInt16 = 0;
                for (int r = 0; r < matrix.Rows; r++)
                {
                    var (exact, magnitude) = matrix.ExactDot(r, x);
                    worstInt16 = Math.Max(worstInt16, Math.Abs(int16Y[r] - exact) / magnitude);
                }

                Assert.True(worstInt16 > 2e-6, $"{path} {bits} bits group {groupSize}: int16 error {worstInt16:E2} is within the int32 bound");
            }
        }
    }

    // A random 23 × 4·groupSize matrix with F32 scales, for comparisons with the float64 product.
    private static IntegerTestMatrix ExactTestMatrix(int bits, int groupSize, int seed)
    {
        int rows = 23;
        int columns = 4 * groupSize;
        return new IntegerTestMatrix(RandomCodes(rows, columns, bits, seed), rows, columns, bits, groupSize, ElementType.F32, bits);
    }

    // Asserts that every y[r] is within 2e-6 of its row's magnitude from the float64 product of the dequantized
    // weights with x. Float32 rounding alone reaches a few 1e-7 of the magnitude, 16-bit activations about 1e-5.
    private static void AssertExact(IntegerTestMatrix matrix, float[] x, float[] y, string context)
    {
        for (int r = 0; r < matrix.Rows; r++)
        {
            var (exact, magnitude) = matrix.ExactDot(r, x);
            TestPaths.AssertClose(exact, y[r], 2e-6 * magnitude, $"{context} row {r}");
        }
    }

    public static TheoryData<string> PathCases()
    {
        var data = new TheoryData<string>();
        foreach (var path in TestPaths.Tested)
        {
            data.Add(path);
        }

        return data;
    }

    private void AssertMatchesReference(
        IntegerTestMatrix matrix, float[] x, KernelPath path, ActivationPrecision precision, string context)
    {
        var y = new float[matrix.Rows];
        matrix.Create(path, precision).MatVec(x, y, _pool);

        using var activations = new ActivationBuffer(1, matrix.Columns, matrix.GroupSize, precision);
        var a = activations.Activations;
        fixed (float* input = x)
        {
            ActivationQuantizer.Quantize(input, 1, a, precision, KernelPath.Scalar);
        }

        var layout = matrix.Layout;
        for (int r = 0; r < matrix.Rows; r++)
        {
            float expected = QuantizedReference.DotRowQuantized(layout, r, a.Codes, a.LowCodes, a.Scales, a.Sums);
            double magnitude = matrix.Magnitude(r, a);
            TestPaths.AssertClose(expected, y[r], RelativeTolerance * magnitude, $"{path} {precision} {context} row {r}");
        }
    }

    private static uint[] RandomCodes(int rows, int columns, int bits, int seed)
    {
        var random = new Random(seed);
        var codes = new uint[rows * columns];
        for (int i = 0; i < codes.Length; i++)
        {
            codes[i] = (uint)random.Next(1 << bits);
        }

        return codes;
    }

    /// <summary>Native scratch for quantized activation rows.</summary>
    private sealed class ActivationBuffer : IDisposable
    {
        private readonly NativeBuffer _buffer;

        public ActivationBuffer(int rows, int columns, int groupSize, ActivationPrecision precision)
        {
            _buffer = new NativeBuffer(QuantizedActivations.ScratchBytes(rows, columns, groupSize));
            Activations = QuantizedActivations.InScratch((byte*)_buffer.Pointer, rows, columns, groupSize, precision);
        }

        public QuantizedActivations Activations { get; }

        public void Dispose() => _buffer.Dispose();
    }

    /// <summary>A quantized matrix with given codes and random scales and biases, packed into exact-size native memory.</summary>
    private sealed class IntegerTestMatrix : IDisposable
    {
        private readonly NativeBuffer _packed;
        private readonly NativeBuffer _scales;
        private readonly NativeBuffer _biases;
        private readonly uint[] _codes;
        private readonly float[] _scaleValues;
        private readonly float[] _biasValues;

        public IntegerTestMatrix(uint[] codes, int rows, int columns, int bits, int groupSize, ElementType scaleType, int seed)
        {
            Rows = rows;
            Columns = columns;
            Bits = bits;
            GroupSize = groupSize;
            ScaleType = scaleType;
            _codes = codes;
            var random = new Random(seed);
            int groups = rows * (columns / groupSize);
            _scaleValues = new float[groups];
            _biasValues = new float[groups];
            _scales = new NativeBuffer((long)groups * scaleType.Size());
            _biases = new NativeBuffer((long)groups * scaleType.Size());
            for (int g = 0; g < groups; g++)
            {
                float step = (float)((random.NextDouble() * 0.9 + 0.1) / (1 << bits));
                _scaleValues[g] = Store(_scales, g, random.Next(2) == 0 ? -step : step);
                _biasValues[g] = Store(_biases, g, (float)(random.NextDouble() * 2 - 1));
            }

            _packed = new NativeBuffer((long)rows * columns * bits / 8);
            QuantizedTestMatrix.Pack(codes, rows, columns, bits, new Span<uint>((void*)_packed.Pointer, (int)(_packed.Bytes / 4)));
        }

        public int Rows { get; }

        public int Columns { get; }

        public int Bits { get; }

        public int GroupSize { get; }

        public ElementType ScaleType { get; }

        public QuantizedLayout Layout =>
            new(_packed.Pointer, _scales.Pointer, _biases.Pointer, ScaleType, Rows, Columns, Bits, GroupSize);

        public QuantizedMatrix Create(KernelPath path, ActivationPrecision precision) =>
            new(_packed.Pointer, _scales.Pointer, _biases.Pointer, ScaleType, Rows, Columns, Bits, GroupSize)
            {
                KernelPath = path,
                ActivationPrecision = precision,
            };

        /// <summary>The row's product with <paramref name="x"/> in float64 from the dequantized weights, and Σ|w·x|.</summary>
        public (double Dot, double Magnitude) ExactDot(int row, float[] x)
        {
            int groupsPerRow = Columns / GroupSize;
            double dot = 0;
            double magnitude = 0;
            for (int c = 0; c < Columns; c++)
            {
                int g = row * groupsPerRow + c / GroupSize;
                double term = ((double)_scaleValues[g] * _codes[row * Columns + c] + _biasValues[g]) * x[c];
                dot += term;
                magnitude += Math.Abs(term);
            }

            return (dot, magnitude);
        }

        /// <summary>Σ|scale·d·code·q| + Σ|bias·Σx| of a row, in float64: the size of the terms the kernels add.</summary>
        public double Magnitude(int row, QuantizedActivations x)
        {
            int groupsPerRow = Columns / GroupSize;
            double magnitude = 0;
            for (int c = 0; c < Columns; c++)
            {
                int g = c / GroupSize;
                double scale = (double)_scaleValues[row * groupsPerRow + g] * x.Scales[g];
                magnitude += Math.Abs(scale * _codes[row * Columns + c] * x.Codes[c]);
            }

            for (int g = 0; g < groupsPerRow; g++)
            {
                magnitude += Math.Abs((double)_biasValues[row * groupsPerRow + g] * x.Sums[g]);
            }

            return magnitude;
        }

        public void Dispose()
        {
            _packed.Dispose();
            _scales.Dispose();
            _biases.Dispose();
        }

        private float Store(NativeBuffer buffer, int index, float value)
        {
            float rounded = QuantizedTestMatrix.RoundTo(ScaleType, value);
            switch (ScaleType)
            {
                case ElementType.F32:
                    ((float*)buffer.Pointer)[index] = rounded;
                    break;
                case ElementType.BF16:
                    ((ushort*)buffer.Pointer)[index] = BFloat16.FromSingle(rounded);
                    break;
                default:
                    ((Half*)buffer.Pointer)[index] = (Half)rounded;
                    break;
            }

            return rounded;
        }
    }
}
