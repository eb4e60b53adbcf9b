using System.Runtime.InteropServices;
using BenchmarkDotNet.Attributes;
using Waldwicht.Numerics.Kernels;
using Waldwicht.Numerics.Matrices;

namespace Waldwicht.Benchmarks;

/// <summary>
/// The integer row kernels alone, on one thread, over 160 rows of 1536 columns (150 KiB, which fits in the L2
/// cache of current processors). The activations are quantized and reordered once in the setup, so the time is
/// the kernels' own arithmetic, without memory stalls, activation quantization or thread hand-offs. Compared with
/// <see cref="ActivationPrecisionMatVecBenchmarks"/>, these figures show whether decode is limited by arithmetic
/// or by memory.
/// </summary>
public unsafe class IntegerRowBenchmarks
{
    private byte* _packed;
    private float* _scales;
    private float* _biases;
    private byte* _activations;
    private float* _scratch;
    private float* _output;
    private QuantizedLayout _layout;
    private QuantizedActivations _quantized;
    private void* _prepared;

    [Params("160x1536")]
    public string Shape { get; set; } = "";

    [Params(4, 5)]
    public int Bits { get; set; }

    [Params(64)]
    public int GroupSize { get; set; }

    [Params(ActivationPrecision.Int32, ActivationPrecision.Int16, ActivationPrecision.Int8)]
    public ActivationPrecision Precision { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        if (KernelPaths.Best == KernelPath.Scalar)
        {
            throw new PlatformNotSupportedException("The integer row kernels need SIMD instructions, which this processor lacks (only the scalar path is available).");
        }

        var (rows, columns) = BenchmarkMatrix.ParseShape(Shape);
        int packedBytes = rows * columns * Bits / 8;
        int groups = rows * columns / GroupSize;
        _packed = (byte*)NativeMemory.AlignedAlloc((nuint)packedBytes, 64);
        Random.Shared.NextBytes(new Span<byte>(_packed, packedBytes));
        _scales = (float*)NativeMemory.AlignedAlloc((nuint)(groups * sizeof(float)), 64);
        _biases = (float*)NativeMemory.AlignedAlloc((nuint)(groups * sizeof(float)), 64);
        for (int g = 0; g < groups; g++)
        {
            _scales[g] = (Random.Shared.NextSingle() - 0.5f) * 0.02f;
            _biases[g] = (Random.Shared.NextSingle() - 0.5f) * 0.2f;
        }

        _layout = new QuantizedLayout((nint)_packed, (nint)_scales, (nint)_biases, ElementType.F32, rows, columns, Bits, GroupSize);

        long activationBytes = QuantizedActivations.ScratchBytes(1, columns, GroupSize);
        _activations = (byte*)NativeMemory.AlignedAlloc((nuint)(activationBytes + IntegerMatVec.PreparedBytes(columns)), 64);
        _quantized = QuantizedActivations.InScratch(_activations, 1, columns, GroupSize, Precision);
        fixed (float* x = MatVecBenchmark.Activations(columns))
        {
            ActivationQuantizer.Quantize(x, 1, _quantized, Precision, KernelPaths.Best);
        }

        _prepared = IntegerMatVec.PrepareCodes(KernelPaths.Best, Bits, Precision, _quantized, _activations + activationBytes);
        _scratch = (float*)NativeMemory.AlignedAlloc((nuint)(IntegerMatVec.ScratchLength(_layout) * sizeof(float)), 64);
        _output = (float*)NativeMemory.AlignedAlloc((nuint)(rows * sizeof(float)), 64);
    }

    [Benchmark]
    public void Rows() =>
        IntegerMatVec.MatVecRows(_layout, _quantized, _prepared, Precision, KernelPaths.Best, 0, _layout.Rows, _output, _scratch);

    [GlobalCleanup]
    public void Cleanup()
    {
        NativeMemory.AlignedFree(_packed);
        NativeMemory.AlignedFree(_scales);
        NativeMemory.AlignedFree(_biases);
        NativeMemory.AlignedFree(_activations);
        NativeMemory.AlignedFree(_scratch);
        NativeMemory.AlignedFree(_output);
    }
}
