using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Waldwicht.Numerics;
using Waldwicht.Numerics.Matrices;

namespace Waldwicht.Formats.Mlx;

/// <summary>Scale and bias of one quantization group, in float32 before any rounding to the storage type.</summary>
/// <param name="Scale">Step between consecutive codes; negative when code 0 is the group maximum.</param>
/// <param name="Bias">Value of code 0: the group edge (minimum or maximum) or 0.</param>
public readonly record struct AffineGroup(float Scale, float Bias);

/// <summary>
/// MLX affine quantization (mode "affine", MLX 0.31) of row-major float matrices, bit for bit as
/// MLX computes it: every group of <see cref="QuantizationParameters.GroupSize"/> consecutive
/// values of a row gets a scale and a bias so that value ≈ code·scale + bias with unsigned codes
/// of <see cref="QuantizationParameters.Bits"/> bits, packed as <see cref="MlxPacking"/> describes.
/// </summary>
/// <remarks>
/// <para>
/// Per group, all in float32 with correctly rounded operations: lo and hi are the group minimum and
/// maximum (<see cref="MlxQuantizerSemantics.Gpu"/>: hi is at least 0). The step is
/// max((hi − lo) / (2^bits − 1), 1e-7). The edge is lo if |lo| &gt; |hi|, with scale = +step;
/// otherwise it is hi, with scale = −step. q0 = round(edge / scale); if q0 ≠ 0 the scale becomes
/// edge / q0 and the bias is the edge, otherwise the bias is 0. Each code is
/// clamp(round((x − bias) / scale), 0, 2^bits − 1), a true float32 division (a reciprocal or
/// double arithmetic flips near-ties). Codes always use the unrounded float32 scale and bias; only
/// the stored scales and biases are rounded to BF16 or F16 afterwards.
/// </para>
/// <para>
/// The row methods take any number of whole rows, so large tensors can be quantized block by
/// block. They allocate nothing. Instances are immutable and thread-safe.
/// </para>
/// </remarks>
public sealed class MlxAffineQuantizer
{
    /// <summary>Lower bound of the step, float32(1e-7) (bit pattern 0x33D6BF95), which keeps constant groups finite.</summary>
    public const float MinimumStep = 1e-7f;

    private const int MaxGroupSize = 128;

    /// <summary>Creates a quantizer for one bit width, group size and kernel behaviour.</summary>
    /// <exception cref="ArgumentException">The bits or group size are not supported by MLX.</exception>
    public MlxAffineQuantizer(QuantizationParameters parameters, MlxQuantizerSemantics semantics)
    {
        ValidateParameters(parameters);
        if (!Enum.IsDefined(semantics))
        {
            throw new ArgumentOutOfRangeException(nameof(semantics), semantics, "Semantics must be Cpu or Gpu.");
        }

        Parameters = parameters;
        Semantics = semantics;
    }

    /// <summary>Bits and group size.</summary>
    public QuantizationParameters Parameters { get; }

    /// <summary>Rounding and range rules of the emulated MLX kernel.</summary>
    public MlxQuantizerSemantics Semantics { get; }

    /// <summary>uint32 words of a packed row of <paramref name="columns"/> values: columns·bits/32.</summary>
    public int PackedColumns(int columns)
    {
        ValidateColumns(columns, Parameters);
        return columns / 32 * Parameters.Bits;
    }

    /// <summary>Scales (and biases) per row of <paramref name="columns"/> values: columns/group size.</summary>
    public int GroupColumns(int columns)
    {
        ValidateColumns(columns, Parameters);
        return columns / Parameters.GroupSize;
    }

    /// <summary>Computes the float32 scale and bias of one group of exactly group-size values.</summary>
    /// <exception cref="ArgumentException">The group has the wrong length or contains NaN or infinity.</exception>
    public AffineGroup ComputeGroup(ReadOnlySpan<float> group)
    {
        CheckGroupLength(group.Length);
        return Semantics == MlxQuantizerSemantics.Cpu
            ? ComputeGroup<CpuRules>(group, Parameters.Bits, 0, 0)
            : ComputeGroup<GpuRules>(group, Parameters.Bits, 0, 0);
    }

    /// <summary>Quantizes one group of exactly group-size values into unpacked codes.</summary>
    /// <returns>The float32 scale and bias the codes refer to.</returns>
    /// <exception cref="ArgumentException">A span has the wrong length or the group contains NaN or infinity.</exception>
    public AffineGroup QuantizeGroup(ReadOnlySpan<float> group, Span<byte> codes)
    {
        CheckGroupLength(group.Length);
        if (codes.Length != group.Length)
        {
            throw new ArgumentException($"The group has {group.Length} values, but the code buffer holds {codes.Length}.", nameof(codes));
        }

        return Semantics == MlxQuantizerSemantics.Cpu
            ? QuantizeGroupToCodes<CpuRules>(group, codes)
            : QuantizeGroupToCodes<GpuRules>(group, codes);
    }

    /// <summary>
    /// Quantizes whole rows of a row-major matrix with float32 scales and biases.
    /// </summary>
    /// <param name="source">rows × <paramref name="columns"/> values.</param>
    /// <param name="columns">Values per row; a multiple of the group size.</param>
    /// <param name="packed">rows × columns·bits/32 words.</param>
    /// <param name="scales">rows × columns/group size scales.</param>
    /// <param name="biases">rows × columns/group size biases.</param>
    /// <exception cref="ArgumentException">A span length does not match, or a value is NaN or infinite.</exception>
    public void QuantizeRows(ReadOnlySpan<float> source, int columns, Span<uint> packed, Span<float> scales, Span<float> biases)
    {
        int rows = CheckRowSpans(source.Length, columns, packed.Length, scales.Length, biases.Length, 1);
        int groups = rows * (columns / Parameters.GroupSize);
        int groupSize = Parameters.GroupSize;
        int wordsPerGroup = groupSize / 32 * Parameters.Bits;
        for (int g = 0; g < groups; g++)
        {
            var group = QuantizeGroupToWords(source.Slice(g * groupSize, groupSize), packed.Slice(g * wordsPerGroup, wordsPerGroup), g, columns);
            scales[g] = group.Scale;
            biases[g] = group.Bias;
        }
    }

    /// <summary>
    /// Quantizes whole rows of a row-major float32 matrix, storing scales and biases as
    /// <paramref name="scaleType"/> (little-endian, rounded to nearest even for BF16 and F16).
    /// </summary>
    /// <param name="source">rows × <paramref name="columns"/> values.</param>
    /// <param name="columns">Values per row; a multiple of the group size.</param>
    /// <param name="packed">rows × columns·bits/32 words.</param>
    /// <param name="scales">Bytes of rows × columns/group size scales of <paramref name="scaleType"/>.</param>
    /// <param name="biases">Bytes of rows × columns/group size biases of <paramref name="scaleType"/>.</param>
    /// <param name="scaleType">Storage type of scales and biases.</param>
    /// <exception cref="ArgumentException">A span length does not match, or a value is NaN or infinite.</exception>
    public void QuantizeRows(
        ReadOnlySpan<float> source, int columns, Span<uint> packed, Span<byte> scales, Span<byte> biases, ElementType scaleType)
    {
        int scaleSize = scaleType.Size();
        int rows = CheckRowSpans(source.Length, columns, packed.Length, scales.Length, biases.Length, scaleSize);
        int groups = rows * (columns / Parameters.GroupSize);
        int groupSize = Parameters.GroupSize;
        int wordsPerGroup = groupSize / 32 * Parameters.Bits;
        for (int g = 0; g < groups; g++)
        {
            var group = QuantizeGroupToWords(source.Slice(g * groupSize, groupSize), packed.Slice(g * wordsPerGroup, wordsPerGroup), g, columns);
            Store(group.Scale, scales.Slice(g * scaleSize, scaleSize), scaleType);
            Store(group.Bias, biases.Slice(g * scaleSize, scaleSize), scaleType);
        }
    }

    /// <summary>
    /// Quantizes whole rows of a row-major matrix stored as little-endian <paramref name="sourceType"/>
    /// bytes (such as a BF16 tensor read from a checkpoint); every value is widened exactly to float32.
    /// </summary>
    /// <param name="source">Bytes of rows × <paramref name="columns"/> values of <paramref name="sourceType"/>.</param>
    /// <param name="sourceType">Storage type of the source values.</param>
    /// <param name="columns">Values per row; a multiple of the group size.</param>
    /// <param name="packed">rows × columns·bits/32 words.</param>
    /// <param name="scales">Bytes of rows × columns/group size scales of <paramref name="scaleType"/>.</param>
    /// <param name="biases">Bytes of rows × columns/group size biases of <paramref name="scaleType"/>.</param>
    /// <param name="scaleType">Storage type of scales and biases.</param>
    /// <exception cref="ArgumentException">A span length does not match, or a value is NaN or infinite.</exception>
    public void QuantizeRows(
        ReadOnlySpan<byte> source, ElementType sourceType, int columns, Span<uint> packed, Span<byte> scales, Span<byte> biases, ElementType scaleType)
    {
        int sourceSize = sourceType.Size();
        if (source.Length % sourceSize != 0)
        {
            throw new ArgumentException($"The source has {source.Length} bytes, which is no whole number of {sourceType} values.", nameof(source));
        }

        int scaleSize = scaleType.Size();
        int rows = CheckRowSpans(source.Length / sourceSize, columns, packed.Length, scales.Length, biases.Length, scaleSize);
        int groups = rows * (columns / Parameters.GroupSize);
        int groupSize = Parameters.GroupSize;
        int wordsPerGroup = groupSize / 32 * Parameters.Bits;
        Span<float> buffer = stackalloc float[MaxGroupSize];
        var values = buffer[..groupSize];
        for (int g = 0; g < groups; g++)
        {
            Widen(source.Slice(g * groupSize * sourceSize, groupSize * sourceSize), sourceType, values);
            var group = QuantizeGroupToWords(values, packed.Slice(g * wordsPerGroup, wordsPerGroup), g, columns);
            Store(group.Scale, scales.Slice(g * scaleSize, scaleSize), scaleType);
            Store(group.Bias, biases.Slice(g * scaleSize, scaleSize), scaleType);
        }
    }

    /// <summary>
    /// Dequantizes whole rows: value = f32(f32(code·scale) + bias), a multiply and an add each
    /// rounded to float32 (no fused multiply-add), as MLX does with float32 scales.
    /// </summary>
    /// <param name="packed">rows × columns·bits/32 words.</param>
    /// <param name="scales">rows × columns/group size scales.</param>
    /// <param name="biases">rows × columns/group size biases.</param>
    /// <param name="columns">Values per row; a multiple of the group size.</param>
    /// <param name="parameters">Bits and group size of the packed codes.</param>
    /// <param name="destination">rows × <paramref name="columns"/> values.</param>
    /// <exception cref="ArgumentException">A span length does not match or the parameters are not supported.</exception>
    public static void DequantizeRows(
        ReadOnlySpan<uint> packed, ReadOnlySpan<float> scales, ReadOnlySpan<float> biases, int columns, QuantizationParameters parameters, Span<float> destination)
    {
        ValidateParameters(parameters);
        int rows = CheckRowSpans(destination.Length, columns, packed.Length, scales.Length, biases.Length, 1, parameters);
        int groupSize = parameters.GroupSize;
        int wordsPerGroup = groupSize / 32 * parameters.Bits;
        int groups = rows * (columns / groupSize);
        for (int g = 0; g < groups; g++)
        {
            DequantizeGroup(packed.Slice(g * wordsPerGroup, wordsPerGroup), parameters.Bits, scales[g], biases[g], destination.Slice(g * groupSize, groupSize));
        }
    }

    /// <summary>
    /// Dequantizes whole rows whose scales and biases are stored as <paramref name="scaleType"/>
    /// bytes; BF16 and F16 values are widened exactly to float32 first.
    /// </summary>
    /// <inheritdoc cref="DequantizeRows(ReadOnlySpan{uint}, ReadOnlySpan{float}, ReadOnlySpan{float}, int, QuantizationParameters, Span{float})"/>
    public static void DequantizeRows(
        ReadOnlySpan<uint> packed, ReadOnlySpan<byte> scales, ReadOnlySpan<byte> biases, ElementType scaleType, int columns, QuantizationParameters parameters, Span<float> destination)
    {
        ValidateParameters(parameters);
        int scaleSize = scaleType.Size();
        int rows = CheckRowSpans(destination.Length, columns, packed.Length, scales.Length, biases.Length, scaleSize, parameters);
        int groupSize = parameters.GroupSize;
        int wordsPerGroup = groupSize / 32 * parameters.Bits;
        int groups = rows * (columns / groupSize);
        for (int g = 0; g < groups; g++)
        {
            float scale = Load(scales.Slice(g * scaleSize, scaleSize), scaleType);
            float bias = Load(biases.Slice(g * scaleSize, scaleSize), scaleType);
            DequantizeGroup(packed.Slice(g * wordsPerGroup, wordsPerGroup), parameters.Bits, scale, bias, destination.Slice(g * groupSize, groupSize));
        }
    }

    /// <summary>Rounds a float32 scale or bias to a storage type and writes it little-endian.</summary>
    public static void Store(float value, Span<byte> destination, ElementType type)
    {
        switch (type)
        {
            case ElementType.F32:
                BinaryPrimitives.WriteSingleLittleEndian(destination, value);
                break;
            case ElementType.BF16:
                BinaryPrimitives.WriteUInt16LittleEndian(destination, BFloat16.FromSingle(value));
                break;
            case ElementType.F16:
                BinaryPrimitives.WriteHalfLittleEndian(destination, (Half)value);
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(type), type, "Scales and biases are stored as F32, BF16 or F16.");
        }
    }

    /// <summary>Reads a little-endian value of a storage type and widens it exactly to float32.</summary>
    public static float Load(ReadOnlySpan<byte> source, ElementType type) => type switch
    {
        ElementType.F32 => BinaryPrimitives.ReadSingleLittleEndian(source),
        ElementType.BF16 => BFloat16.ToSingle(BinaryPrimitives.ReadUInt16LittleEndian(source)),
        ElementType.F16 => (float)BinaryPrimitives.ReadHalfLittleEndian(source),
        _ => throw new ArgumentOutOfRangeException(nameof(type), type, "Values are stored as F32, BF16 or F16."),
    };

    private static void DequantizeGroup(ReadOnlySpan<uint> words, int bits, float scale, float bias, Span<float> destination)
    {
        uint mask = (1u << bits) - 1;
        ulong pending = 0;
        int pendingBits = 0;
        int word = 0;
        for (int i = 0; i < destination.Length; i++)
        {
            if (pendingBits < bits)
            {
                pending |= (ulong)words[word++] << pendingBits;
                pendingBits += 32;
            }

            float code = (uint)(pending & mask);
            pending >>= bits;
            pendingBits -= bits;

            // Two separately rounded operations: a fused multiply-add would differ in the last bit.
            float product = code * scale;
            destination[i] = product + bias;
        }
    }

    private AffineGroup QuantizeGroupToWords(ReadOnlySpan<float> values, Span<uint> words, int groupIndex, int columns) =>
        Semantics == MlxQuantizerSemantics.Cpu
            ? QuantizeGroupToWords<CpuRules>(values, words, groupIndex, columns)
            : QuantizeGroupToWords<GpuRules>(values, words, groupIndex, columns);

    private AffineGroup QuantizeGroupToWords<TRules>(ReadOnlySpan<float> values, Span<uint> words, int groupIndex, int columns)
        where TRules : struct, IKernelRules
    {
        int bits = Parameters.Bits;
        int groupsPerRow = columns / Parameters.GroupSize;
        var group = ComputeGroup<TRules>(values, bits, groupIndex / groupsPerRow, groupIndex % groupsPerRow * Parameters.GroupSize);
        float maxCode = (1 << bits) - 1;
        ulong pending = 0;
        int pendingBits = 0;
        int word = 0;
        foreach (float value in values)
        {
            uint code = (uint)Math.Clamp(TRules.Round((value - group.Bias) / group.Scale), 0f, maxCode);
            pending |= (ulong)code << pendingBits;
            pendingBits += bits;
            if (pendingBits >= 32)
            {
                words[word++] = (uint)pending;
                pending >>= 32;
                pendingBits -= 32;
            }
        }

        return group;
    }

    private AffineGroup QuantizeGroupToCodes<TRules>(ReadOnlySpan<float> values, Span<byte> codes)
        where TRules : struct, IKernelRules
    {
        var group = ComputeGroup<TRules>(values, Parameters.Bits, 0, 0);
        float maxCode = (1 << Parameters.Bits) - 1;
        for (int i = 0; i < values.Length; i++)
        {
            codes[i] = (byte)Math.Clamp(TRules.Round((values[i] - group.Bias) / group.Scale), 0f, maxCode);
        }

        return group;
    }

    // row and column locate the group's first value in error messages.
    private static AffineGroup ComputeGroup<TRules>(ReadOnlySpan<float> values, int bits, int row, int column)
        where TRules : struct, IKernelRules
    {
        float lo = TRules.InitialMinimum;
        float hi = TRules.InitialMaximum;
        foreach (float value in values)
        {
            // MathF.Min and MathF.Max propagate NaN, so one check after the loop finds it.
            lo = MathF.Min(lo, value);
            hi = MathF.Max(hi, value);
        }

        if (!float.IsFinite(lo) || !float.IsFinite(hi))
        {
            throw new ArgumentException(
                $"The group of {values.Length} values starting at row {row}, column {column} of this block contains NaN or infinity; only finite weights can be quantized.");
        }

        float steps = (1 << bits) - 1;
        float step = MathF.Max((hi - lo) / steps, MinimumStep);
        if (!float.IsFinite(step))
        {
            throw new ArgumentException(
                $"The group of {values.Length} values starting at row {row}, column {column} of this block spans [{lo}, {hi}], a range too wide for float32.");
        }

        bool minimumIsEdge = MathF.Abs(lo) > MathF.Abs(hi);
        float scale = minimumIsEdge ? step : -step;
        float edge = minimumIsEdge ? lo : hi;

        // q0 is the code that reconstructs the real value 0, negated. Moving the scale to edge / q0
        // makes 0 exactly representable; when q0 rounds to 0 the step stays and the bias is 0.
        float q0 = TRules.Round(edge / scale);
        return q0 == 0 ? new AffineGroup(scale, 0f) : new AffineGroup(edge / q0, edge);
    }

    private static void Widen(ReadOnlySpan<byte> source, ElementType type, Span<float> destination)
    {
        switch (type)
        {
            case ElementType.F32:
                MemoryMarshal.Cast<byte, float>(source).CopyTo(destination);
                break;
            case ElementType.BF16:
                BFloat16.ToSingle(MemoryMarshal.Cast<byte, ushort>(source), destination);
                break;
            case ElementType.F16:
                var halves = MemoryMarshal.Cast<byte, Half>(source);
                for (int i = 0; i < halves.Length; i++)
                {
                    destination[i] = (float)halves[i];
                }

                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(type), type, "Source values are F32, BF16 or F16.");
        }
    }

    private static void ValidateParameters(QuantizationParameters parameters)
    {
        if (!parameters.IsSupported)
        {
            throw new ArgumentException(
                $"{parameters} is not supported by MLX affine quantization; bits must be 2, 3, 4, 5, 6 or 8 and the group size 32, 64 or 128.",
                nameof(parameters));
        }
    }

    private static void ValidateColumns(int columns, QuantizationParameters parameters)
    {
        if (columns <= 0 || columns % parameters.GroupSize != 0)
        {
            throw new ArgumentException(
                $"Rows of {columns} values cannot be quantized with group size {parameters.GroupSize}; the row length must be a positive multiple of the group size.",
                nameof(columns));
        }
    }

    private void CheckGroupLength(int length)
    {
        if (length != Parameters.GroupSize)
        {
            throw new ArgumentException($"A group has {Parameters.GroupSize} values, but {length} were given.");
        }
    }

    private int CheckRowSpans(int valueCount, int columns, int packedLength, int scaleLength, int biasLength, int unitsPerScale) =>
        CheckRowSpans(valueCount, columns, packedLength, scaleLength, biasLength, unitsPerScale, Parameters);

    // Returns the number of rows after checking that every span holds exactly that many rows.
    // unitsPerScale is 1 for float spans and the element size for byte spans.
    private static int CheckRowSpans(
        int valueCount, int columns, int packedLength, int scaleLength, int biasLength, int unitsPerScale, QuantizationParameters parameters)
    {
        ValidateColumns(columns, parameters);
        if (valueCount % columns != 0)
        {
            throw new ArgumentException($"{valueCount} values are no whole number of rows of {columns}.");
        }

        int rows = valueCount / columns;
        long expectedPacked = (long)rows * (columns / 32 * parameters.Bits);
        if (packedLength != expectedPacked)
        {
            throw new ArgumentException(
                $"{rows} rows of {columns} values at {parameters} need {expectedPacked} packed words, but the packed span has {packedLength}.");
        }

        long groups = (long)rows * (columns / parameters.GroupSize);
        long expected = groups * unitsPerScale;
        if (scaleLength != expected || biasLength != expected)
        {
            string unit = unitsPerScale == 1 ? "elements" : "bytes";
            throw new ArgumentException(
                $"{rows} rows of {columns} values at {parameters} have {groups} groups, so scales and biases need {expected} {unit} each, but the spans have {scaleLength} and {biasLength}.");
        }

        return rows;
    }

    private interface IKernelRules
    {
        static abstract float InitialMinimum { get; }

        static abstract float InitialMaximum { get; }

        static abstract float Round(float value);
    }

    // MLX CPU backend: std::rint (half to even) over the true minimum and maximum.
    private readonly struct CpuRules : IKernelRules
    {
        public static float InitialMinimum => float.PositiveInfinity;

        public static float InitialMaximum => float.NegativeInfinity;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static float Round(float value) => MathF.Round(value, MidpointRounding.ToEven);
    }

    // MLX Metal and CUDA kernels: round() (half away from zero); the running maximum starts at 0
    // and the running minimum at the largest finite float.
    private readonly struct GpuRules : IKernelRules
    {
        public static float InitialMinimum => float.MaxValue;

        public static float InitialMaximum => 0f;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static float Round(float value) => MathF.Round(value, MidpointRounding.AwayFromZero);
    }
}
