using Waldwicht.Numerics.Ops;

namespace Waldwicht.Numerics.Tests;

public sealed class VectorOpsTests
{
    // Relative spacing of float32 values, 2^-24 rounded up.
    private const double FloatUlp = 6e-8;

    public static readonly TheoryData<int> Lengths = new() { 1, 7, 16, 64, 513, 1536, 2049 };

    [Theory]
    [MemberData(nameof(Lengths))]
    public void RmsNorm_MatchesFloat64(int length)
    {
        var x = Scaled(TestVectors.Random(length, length), 3f);
        var weight = TestVectors.Random(length, length + 1);
        var y = new float[length];
        VectorOps.RmsNorm(x, weight, 1e-6f, y);

        double inverse = InverseRms(x, 1e-6);
        for (int i = 0; i < length; i++)
        {
            double expected = x[i] * inverse * weight[i];
            TestPaths.AssertClose(expected, y[i], 1e-6 * Math.Abs(expected) + 1e-12, $"element {i}");
        }
    }

    [Fact]
    public void RmsNorm_WithoutWeightAndInPlace()
    {
        var x = TestVectors.Random(300, 1);
        var original = (float[])x.Clone();
        VectorOps.RmsNorm(x, 1e-6f, x);
        double inverse = InverseRms(original, 1e-6);
        for (int i = 0; i < x.Length; i++)
        {
            double expected = original[i] * inverse;
            TestPaths.AssertClose(expected, x[i], 1e-6 * Math.Abs(expected) + 1e-12, $"element {i}");
        }
    }

    [Fact]
    public void RmsNorm_EpsilonDominatesZeroInput()
    {
        var y = new float[4];
        VectorOps.RmsNorm(new float[4], [1f, 2f, 3f, 4f], 1e-6f, y);
        Assert.Equal(new float[4], y);
    }

    [Fact]
    public void RmsNorm_RejectsBadInput()
    {
        Assert.Throws<ArgumentException>(() => VectorOps.RmsNorm([1f, 2f], [1f], 1e-6f, new float[2]));
        Assert.Throws<ArgumentException>(() => VectorOps.RmsNorm([1f, 2f], [1f, 1f], 1e-6f, new float[1]));
        Assert.Throws<ArgumentException>(() => VectorOps.RmsNorm([], 1e-6f, new float[1]));
    }

    [Fact]
    public void GeluTanh_MatchesFloat64TanhForm()
    {
        // Where 1 + tanh keeps its digits in float64 (x ≥ −4) the textbook form is a fully independent reference.
        var x = Grid(-4, 10, 0.001);
        var y = new float[x.Length];
        VectorOps.GeluTanh(x, y);
        for (int i = 0; i < x.Length; i++)
        {
            double v = x[i];
            double z = Math.Sqrt(2 / Math.PI) * (v + 0.044715 * v * v * v);
            double expected = 0.5 * v * (1 + Math.Tanh(z));
            TestPaths.AssertClose(expected, y[i], GeluTolerance(z) * Math.Abs(expected) + 1e-30, $"x = {x[i]}");
        }
    }

    [Fact]
    public void GeluTanh_StaysAccurateForNegativeInputs()
    {
        var x = Grid(-12, -3, 0.001);
        var y = new float[x.Length];
        VectorOps.GeluTanh(x, y);
        for (int i = 0; i < x.Length; i++)
        {
            double v = x[i];
            double z = Math.Sqrt(2 / Math.PI) * (v + 0.044715 * v * v * v);
            double expected = v / (1 + Math.Exp(-2 * z));

            TestPaths.AssertClose(expected, y[i], GeluTolerance(z) * Math.Abs(expected) + 1e-37, $"x = {x[i]}");
        }
    }

    [Fact]
    public void GeluTanh_HandlesSpecialValues()
    {
        float[] x = [0f, -0f, 1e-30f, -1e-30f, 1e30f, -1e30f, float.PositiveInfinity, float.NegativeInfinity, float.NaN];
        var y = new float[x.Length];
        VectorOps.GeluTanh(x, y);
        Assert.Equal(0f, y[0]);
        Assert.Equal(0f, y[1]);
        Assert.Equal(0.5e-30f, y[2], 1e-36f);
        Assert.Equal(-0.5e-30f, y[3], 1e-36f);
        Assert.Equal(1e30f, y[4]);
        Assert.Equal(0f, y[5]);
        Assert.Equal(float.PositiveInfinity, y[6]);
        Assert.True(float.IsNaN(y[8]));
    }

    [Theory]
    [MemberData(nameof(Lengths))]
    public void GeluTanhMultiply_EqualsGeluTimesUp(int length)
    {
        var gate = Scaled(TestVectors.Random(length, 1), 4f);
        var up = TestVectors.Random(length, 2);
        var gelu = new float[length];
        var fused = new float[length];
        VectorOps.GeluTanh(gate, gelu);
        VectorOps.GeluTanhMultiply(gate, up, fused);
        for (int i = 0; i < length; i++)
        {
            Assert.Equal(gelu[i] * up[i], fused[i]);
        }

        VectorOps.GeluTanhMultiply(gate, up, gate);
        Assert.Equal(fused, gate);
        Assert.Throws<ArgumentException>(() => VectorOps.GeluTanhMultiply(gate, new float[length + 1], fused));
    }

    [Fact]
    public void Softcap_MatchesFloat64()
    {
        var x = Grid(-300, 300, 0.01);
        var y = new float[x.Length];
        VectorOps.Softcap(x, 30f, y);
        for (int i = 0; i < x.Length; i++)
        {
            double expected = 30 * Math.Tanh(x[i] / 30.0);
            TestPaths.AssertClose(expected, y[i], 8 * FloatUlp * Math.Abs(expected), $"x = {x[i]}");
        }
    }

    [Fact]
    public void Softcap_AccurateAcrossMagnitudes()
    {
        var random = new Random(4);
        var x = Enumerable.Range(0, 4099)
            .Select(i => (float)((random.NextDouble() - 0.5) * Math.Pow(10, random.Next(-30, 30))))
            .ToArray();
        var y = new float[x.Length];
        VectorOps.Softcap(x, 30f, y);
        for (int i = 0; i < x.Length; i++)
        {
            double expected = 30 * Math.Tanh(x[i] / 30.0);
            TestPaths.AssertClose(expected, y[i], 8 * FloatUlp * Math.Abs(expected), $"x = {x[i]:R}");
        }

        float[] special = [0f, float.PositiveInfinity, float.NegativeInfinity, float.NaN, -0f, 0f, 0f, 0f, 0f];
        var capped = new float[special.Length];
        VectorOps.Softcap(special, 30f, capped);
        Assert.Equal(0f, capped[0]);
        Assert.Equal(30f, capped[1]);
        Assert.Equal(-30f, capped[2]);
        Assert.True(float.IsNaN(capped[3]));
        Assert.True(float.IsNegative(capped[4]), "tanh keeps the sign of negative zero.");
    }

    [Fact]
    public void Softcap_RejectsBadCaps()
    {
        float[] x = [1f, 2f];
        var y = new float[2];
        Assert.Throws<ArgumentOutOfRangeException>(() => VectorOps.Softcap(x, 0f, y));
        Assert.Throws<ArgumentOutOfRangeException>(() => VectorOps.Softcap(x, float.NaN, y));
        Assert.Throws<ArgumentOutOfRangeException>(() => VectorOps.Softcap(x, float.PositiveInfinity, y));
    }

    [Theory]
    [MemberData(nameof(Lengths))]
    public void Softmax_MatchesFloat64(int length)
    {
        var x = Scaled(TestVectors.Random(length, length), 20f);
        if (length > 3)
        {
            x[1] = float.NegativeInfinity;
            x[2] = 1000f;
        }

        var y = new float[length];
        VectorOps.Softmax(x, y);
        double max = x.Max();
        double sum = x.Sum(v => Math.Exp(v - max));
        for (int i = 0; i < length; i++)
        {
            double expected = Math.Exp(x[i] - max) / sum;
            TestPaths.AssertClose(expected, y[i], 2e-6 * expected + 1e-30, $"element {i}");
        }

        if (length > 3)
        {
            Assert.Equal(0f, y[1]);
        }
    }

    [Fact]
    public void Softmax_RejectsEmptyAndFullyMaskedInput()
    {
        Assert.Throws<ArgumentException>(() => VectorOps.Softmax([], new float[1]));
        Assert.Throws<ArgumentException>(
            () => VectorOps.Softmax([float.NegativeInfinity, float.NegativeInfinity], new float[2]));
        Assert.Throws<ArgumentException>(() => VectorOps.Softmax([1f, 2f], new float[1]));
    }

    // Relative error budget of the float32 GELU: a few ulps from exp and the division, plus the few ulps of
    // relative error in the float32 argument 2z, which exp multiplies by |2z|.
    private static double GeluTolerance(double z) => (8 + 4 * Math.Abs(2 * z)) * FloatUlp;

    private static float[] Grid(double from, double to, double step) =>
        Enumerable.Range(0, (int)Math.Round((to - from) / step) + 1).Select(i => (float)(from + i * step)).ToArray();

    private static float[] Scaled(float[] values, float factor) => values.Select(v => v * factor).ToArray();

    private static double InverseRms(float[] x, double epsilon) =>
        1 / Math.Sqrt(x.Sum(v => (double)v * v) / x.Length + epsilon);
}
