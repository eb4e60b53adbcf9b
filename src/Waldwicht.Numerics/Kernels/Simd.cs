using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.Arm;
using System.Runtime.Intrinsics.X86;

namespace Waldwicht.Numerics.Kernels;

/// <summary>
/// Vector operations of one width, so that a kernel is written once as a generic method and compiled
/// for 128, 256 and 512 bits. <typeparamref name="TVector"/> is a vector of float lanes, and the word
/// operations treat the same lanes as uint32 bit patterns.
/// </summary>
internal unsafe interface ISimd<TVector>
    where TVector : unmanaged
{
    /// <summary>Number of 32-bit lanes.</summary>
    static abstract int Lanes { get; }

    static abstract TVector Zero { get; }

    static abstract TVector Load(float* source);

    static abstract void Store(float* destination, TVector value);

    static abstract TVector Add(TVector left, TVector right);

    /// <summary>Computes left·right + addend, fused where the hardware has FMA.</summary>
    static abstract TVector MultiplyAdd(TVector left, TVector right, TVector addend);

    static abstract float Sum(TVector value);

    /// <summary>Loads <see cref="Lanes"/> consecutive uint32 words.</summary>
    static abstract TVector LoadWords(uint* source);

    static abstract TVector ShiftRightWords(TVector words, int count);

    /// <summary>Shifts each lane right by its own count from <paramref name="counts"/>. Counts of 32 or more give 0.</summary>
    static abstract TVector ShiftRightWords(TVector words, uint* counts);

    /// <summary>Shifts each lane left by its own count from <paramref name="counts"/>. Counts of 32 or more give 0.</summary>
    static abstract TVector ShiftLeftWords(TVector words, uint* counts);

    static abstract TVector OrWords(TVector left, TVector right);

    static abstract TVector AndWords(TVector words, uint mask);

    /// <summary>Converts lanes that hold non-negative integers below 2^31 to floats.</summary>
    static abstract TVector WordsToSingle(TVector words);

    /// <summary>
    /// The lookup table that <see cref="CodesToSingle"/> reads for <paramref name="bits"/>-bit codes: entry i contains
    /// the code in the low bits of i, as a float. <paramref name="high"/> continues it for tables of 2·Lanes
    /// entries. Kernels create it once, outside their loops, so that it stays in registers.
    /// </summary>
    static abstract TVector CodeTable(int bits, out TVector high);

    /// <summary>
    /// Converts the low <paramref name="bits"/> bits of every lane to a float and ignores the bits above them.
    /// Where a permute instruction reads only those bits as an index into the table from <see cref="CodeTable"/>,
    /// one lookup replaces masking and converting.
    /// </summary>
    static abstract TVector CodesToSingle(TVector words, TVector table, TVector tableHigh, int bits);

    /// <summary>Builds a vector whose lane j is values[indices[j]], for indices below <see cref="Lanes"/>.</summary>
    static abstract TVector Gather(float* values, int* indices);

    /// <summary>Widens 2·<see cref="Lanes"/> bfloat16 values to two float vectors.</summary>
    static abstract void LoadBFloat16(ushort* source, out TVector lower, out TVector upper);

    /// <summary>Widens 2·<see cref="Lanes"/> IEEE half values to two float vectors, exactly.</summary>
    static abstract void LoadHalf(ushort* source, out TVector lower, out TVector upper);
}

/// <summary>512-bit vectors (AVX-512 on x64).</summary>
internal readonly unsafe struct Simd512 : ISimd<Vector512<float>>
{
    public static int Lanes => 16;

    public static Vector512<float> Zero => Vector512<float>.Zero;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Load(float* source) => Vector512.Load(source);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store(float* destination, Vector512<float> value) => value.Store(destination);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Add(Vector512<float> left, Vector512<float> right) => left + right;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> MultiplyAdd(Vector512<float> left, Vector512<float> right, Vector512<float> addend) =>
        Vector512.MultiplyAddEstimate(left, right, addend);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Sum(Vector512<float> value) => Vector512.Sum(value);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> LoadWords(uint* source) => Vector512.Load(source).AsSingle();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> ShiftRightWords(Vector512<float> words, int count) =>
        Vector512.ShiftRightLogical(words.AsUInt32(), count).AsSingle();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> ShiftRightWords(Vector512<float> words, uint* counts) =>
        ShiftRightWords(words.AsUInt32(), Vector512.Load(counts)).AsSingle();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> ShiftLeftWords(Vector512<float> words, uint* counts) =>
        ShiftLeftWords(words.AsUInt32(), Vector512.Load(counts)).AsSingle();

    /// <summary>Shifts each lane right by its own count (vpsrlvd). Counts of 32 or more give 0.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<uint> ShiftRightWords(Vector512<uint> words, Vector512<uint> counts) =>
        Avx512F.IsSupported
            ? Avx512F.ShiftRightLogicalVariable(words, counts)
            : VariableShiftFallback.ShiftRight(words, counts);

    /// <summary>Shifts each lane left by its own count (vpsllvd). Counts of 32 or more give 0.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<uint> ShiftLeftWords(Vector512<uint> words, Vector512<uint> counts) =>
        Avx512F.IsSupported
            ? Avx512F.ShiftLeftLogicalVariable(words, counts)
            : VariableShiftFallback.ShiftLeft(words, counts);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Gather(float* values, int* indices) =>
        Permute(Vector512.Load(values), Vector512.Load(indices));

    /// <summary>Returns a vector whose lane j is values[indices[j]] (vpermps), for indices below 16.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Permute(Vector512<float> values, Vector512<int> indices) =>
        Avx512F.IsSupported ? Avx512F.PermuteVar16x32(values, indices) : Vector512.Shuffle(values, indices);

    /// <summary>
    /// Loads the first <paramref name="count"/> (below 16) floats from <paramref name="source"/> and sets the other
    /// lanes to 0, without touching memory past them (a masked load).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> LoadFirst(float* source, int count)
    {
        if (Avx512F.IsSupported)
        {
            var mask = Vector512.LessThan(Vector512<int>.Indices, Vector512.Create(count)).AsSingle();
            return Avx512F.MaskLoad(source, mask, Vector512<float>.Zero);
        }

        var lanes = Vector512<float>.Zero;
        float* destination = (float*)&lanes;
        for (int i = 0; i < count; i++)
        {
            destination[i] = source[i];
        }

        return lanes;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> OrWords(Vector512<float> left, Vector512<float> right) =>
        (left.AsUInt32() | right.AsUInt32()).AsSingle();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> AndWords(Vector512<float> words, uint mask) =>
        (words.AsUInt32() & Vector512.Create(mask)).AsSingle();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> WordsToSingle(Vector512<float> words) => Vector512.ConvertToSingle(words.AsInt32());

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> CodeTable(int bits, out Vector512<float> high)
    {
        high = Vector512.Create(16f, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31);
        return bits switch
        {
            2 => Vector512.Create(0f, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3),
            3 => Vector512.Create(0f, 1, 2, 3, 4, 5, 6, 7, 0, 1, 2, 3, 4, 5, 6, 7),
            _ => Vector512.Create(0f, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
        };
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> CodesToSingle(
        Vector512<float> words, Vector512<float> table, Vector512<float> tableHigh, int bits)
    {
        // vpermps reads the low 4 bits of each index, and vpermt2ps the low 5 (the upper half of its table is
        // the lower half plus 16).
        if (Avx512F.IsSupported && bits <= 4)
        {
            return Avx512F.PermuteVar16x32(table, words.AsInt32());
        }

        if (Avx512F.IsSupported && bits == 5)
        {
            return Avx512F.PermuteVar16x32x2(table, words.AsInt32(), tableHigh);
        }

        return WordsToSingle(AndWords(words, (1u << bits) - 1));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void LoadBFloat16(ushort* source, out Vector512<float> lower, out Vector512<float> upper)
    {
        var (low, high) = Vector512.Widen(Vector512.Load(source));
        lower = Vector512.ShiftLeft(low, 16).AsSingle();
        upper = Vector512.ShiftLeft(high, 16).AsSingle();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void LoadHalf(ushort* source, out Vector512<float> lower, out Vector512<float> upper)
    {
        var (low, high) = Vector512.Widen(Vector512.Load(source));
        lower = HalfToSingle(low);
        upper = HalfToSingle(high);
    }

    // Exact IEEE half to float: normals by rebiasing the exponent, subnormals through an integer
    // conversion (no subnormal float operands), infinities and NaNs by forcing the exponent to all ones.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> HalfToSingle(Vector512<uint> half)
    {
        var magnitude = half & Vector512.Create(0x7FFFu);
        var exponent = half & Vector512.Create(0x7C00u);
        var shifted = Vector512.ShiftLeft(magnitude, 13);
        var normal = shifted + Vector512.Create(0x3800_0000u);
        var subnormal = (Vector512.ConvertToSingle(magnitude.AsInt32()) * Vector512.Create(1f / 16_777_216f)).AsUInt32();
        var special = shifted | Vector512.Create(0x7F80_0000u);
        var result = Vector512.ConditionalSelect(
            Vector512.Equals(exponent, Vector512<uint>.Zero),
            subnormal,
            Vector512.ConditionalSelect(Vector512.Equals(exponent, Vector512.Create(0x7C00u)), special, normal));
        return (result | Vector512.ShiftLeft(half & Vector512.Create(0x8000u), 16)).AsSingle();
    }
}

/// <summary>256-bit vectors (AVX2 on x64).</summary>
internal readonly unsafe struct Simd256 : ISimd<Vector256<float>>
{
    public static int Lanes => 8;

    public static Vector256<float> Zero => Vector256<float>.Zero;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Load(float* source) => Vector256.Load(source);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store(float* destination, Vector256<float> value) => value.Store(destination);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Add(Vector256<float> left, Vector256<float> right) => left + right;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> MultiplyAdd(Vector256<float> left, Vector256<float> right, Vector256<float> addend) =>
        Vector256.MultiplyAddEstimate(left, right, addend);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Sum(Vector256<float> value) => Vector256.Sum(value);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> LoadWords(uint* source) => Vector256.Load(source).AsSingle();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> ShiftRightWords(Vector256<float> words, int count) =>
        Vector256.ShiftRightLogical(words.AsUInt32(), count).AsSingle();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> ShiftRightWords(Vector256<float> words, uint* counts)
    {
        if (Avx2.IsSupported)
        {
            return Avx2.ShiftRightLogicalVariable(words.AsUInt32(), Vector256.Load(counts)).AsSingle();
        }

        return VariableShiftFallback.ShiftRight(words, counts);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> ShiftLeftWords(Vector256<float> words, uint* counts)
    {
        if (Avx2.IsSupported)
        {
            return Avx2.ShiftLeftLogicalVariable(words.AsUInt32(), Vector256.Load(counts)).AsSingle();
        }

        return VariableShiftFallback.ShiftLeft(words, counts);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Gather(float* values, int* indices)
    {
        if (Avx2.IsSupported)
        {
            return Avx2.PermuteVar8x32(Vector256.Load(values), Vector256.Load(indices));
        }

        return Vector256.Shuffle(Vector256.Load(values), Vector256.Load(indices));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> OrWords(Vector256<float> left, Vector256<float> right) =>
        (left.AsUInt32() | right.AsUInt32()).AsSingle();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> AndWords(Vector256<float> words, uint mask) =>
        (words.AsUInt32() & Vector256.Create(mask)).AsSingle();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> WordsToSingle(Vector256<float> words) => Vector256.ConvertToSingle(words.AsInt32());

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> CodeTable(int bits, out Vector256<float> high)
    {
        high = default;
        return bits == 2 ? Vector256.Create(0f, 1, 2, 3, 0, 1, 2, 3) : Vector256.Create(0f, 1, 2, 3, 4, 5, 6, 7);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> CodesToSingle(
        Vector256<float> words, Vector256<float> table, Vector256<float> tableHigh, int bits)
    {
        // vpermps on 256 bits reads the low 3 bits of each index.
        if (Avx2.IsSupported && bits <= 3)
        {
            return Avx2.PermuteVar8x32(table, words.AsInt32());
        }

        return WordsToSingle(AndWords(words, (1u << bits) - 1));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void LoadBFloat16(ushort* source, out Vector256<float> lower, out Vector256<float> upper)
    {
        var (low, high) = Vector256.Widen(Vector256.Load(source));
        lower = Vector256.ShiftLeft(low, 16).AsSingle();
        upper = Vector256.ShiftLeft(high, 16).AsSingle();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void LoadHalf(ushort* source, out Vector256<float> lower, out Vector256<float> upper)
    {
        var (low, high) = Vector256.Widen(Vector256.Load(source));
        lower = HalfToSingle(low);
        upper = HalfToSingle(high);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> HalfToSingle(Vector256<uint> half)
    {
        var magnitude = half & Vector256.Create(0x7FFFu);
        var exponent = half & Vector256.Create(0x7C00u);
        var shifted = Vector256.ShiftLeft(magnitude, 13);
        var normal = shifted + Vector256.Create(0x3800_0000u);
        var subnormal = (Vector256.ConvertToSingle(magnitude.AsInt32()) * Vector256.Create(1f / 16_777_216f)).AsUInt32();
        var special = shifted | Vector256.Create(0x7F80_0000u);
        var result = Vector256.ConditionalSelect(
            Vector256.Equals(exponent, Vector256<uint>.Zero),
            subnormal,
            Vector256.ConditionalSelect(Vector256.Equals(exponent, Vector256.Create(0x7C00u)), special, normal));
        return (result | Vector256.ShiftLeft(half & Vector256.Create(0x8000u), 16)).AsSingle();
    }
}

/// <summary>128-bit vectors (SSE on x64, AdvSimd on ARM64).</summary>
internal readonly unsafe struct Simd128 : ISimd<Vector128<float>>
{
    public static int Lanes => 4;

    public static Vector128<float> Zero => Vector128<float>.Zero;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> Load(float* source) => Vector128.Load(source);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store(float* destination, Vector128<float> value) => value.Store(destination);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> Add(Vector128<float> left, Vector128<float> right) => left + right;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> MultiplyAdd(Vector128<float> left, Vector128<float> right, Vector128<float> addend) =>
        Vector128.MultiplyAddEstimate(left, right, addend);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Sum(Vector128<float> value) => Vector128.Sum(value);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> LoadWords(uint* source) => Vector128.Load(source).AsSingle();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> ShiftRightWords(Vector128<float> words, int count) =>
        Vector128.ShiftRightLogical(words.AsUInt32(), count).AsSingle();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> ShiftRightWords(Vector128<float> words, uint* counts)
    {
        if (Avx2.IsSupported)
        {
            return Avx2.ShiftRightLogicalVariable(words.AsUInt32(), Vector128.Load(counts)).AsSingle();
        }

        if (AdvSimd.IsSupported)
        {
            return AdvSimd.ShiftLogical(words.AsUInt32(), -Vector128.Load((int*)counts)).AsSingle();
        }

        return VariableShiftFallback.ShiftRight(words, counts);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> ShiftLeftWords(Vector128<float> words, uint* counts)
    {
        if (Avx2.IsSupported)
        {
            return Avx2.ShiftLeftLogicalVariable(words.AsUInt32(), Vector128.Load(counts)).AsSingle();
        }

        if (AdvSimd.IsSupported)
        {
            return AdvSimd.ShiftLogical(words.AsUInt32(), Vector128.Load((int*)counts)).AsSingle();
        }

        return VariableShiftFallback.ShiftLeft(words, counts);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> Gather(float* values, int* indices)
    {
        if (Avx.IsSupported)
        {
            return Avx.PermuteVar(Vector128.Load(values), Vector128.Load(indices));
        }

        return Vector128.Shuffle(Vector128.Load(values), Vector128.Load(indices));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> OrWords(Vector128<float> left, Vector128<float> right) =>
        (left.AsUInt32() | right.AsUInt32()).AsSingle();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> AndWords(Vector128<float> words, uint mask) =>
        (words.AsUInt32() & Vector128.Create(mask)).AsSingle();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> WordsToSingle(Vector128<float> words) => Vector128.ConvertToSingle(words.AsInt32());

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> CodeTable(int bits, out Vector128<float> high)
    {
        high = default;
        return default;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> CodesToSingle(
        Vector128<float> words, Vector128<float> table, Vector128<float> tableHigh, int bits) =>
        WordsToSingle(AndWords(words, (1u << bits) - 1));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void LoadBFloat16(ushort* source, out Vector128<float> lower, out Vector128<float> upper)
    {
        var (low, high) = Vector128.Widen(Vector128.Load(source));
        lower = Vector128.ShiftLeft(low, 16).AsSingle();
        upper = Vector128.ShiftLeft(high, 16).AsSingle();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void LoadHalf(ushort* source, out Vector128<float> lower, out Vector128<float> upper)
    {
        var (low, high) = Vector128.Widen(Vector128.Load(source));
        lower = HalfToSingle(low);
        upper = HalfToSingle(high);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<float> HalfToSingle(Vector128<uint> half)
    {
        var magnitude = half & Vector128.Create(0x7FFFu);
        var exponent = half & Vector128.Create(0x7C00u);
        var shifted = Vector128.ShiftLeft(magnitude, 13);
        var normal = shifted + Vector128.Create(0x3800_0000u);
        var subnormal = (Vector128.ConvertToSingle(magnitude.AsInt32()) * Vector128.Create(1f / 16_777_216f)).AsUInt32();
        var special = shifted | Vector128.Create(0x7F80_0000u);
        var result = Vector128.ConditionalSelect(
            Vector128.Equals(exponent, Vector128<uint>.Zero),
            subnormal,
            Vector128.ConditionalSelect(Vector128.Equals(exponent, Vector128.Create(0x7C00u)), special, normal));
        return (result | Vector128.ShiftLeft(half & Vector128.Create(0x8000u), 16)).AsSingle();
    }
}

/// <summary>Per-lane shifts in plain code, for processors without variable vector shifts.</summary>
internal static unsafe class VariableShiftFallback
{
    [MethodImpl(MethodImplOptions.NoInlining)]
    public static TVector ShiftRight<TVector>(TVector words, uint* counts)
        where TVector : unmanaged
    {
        uint* lanes = (uint*)&words;
        for (int i = 0; i < sizeof(TVector) / sizeof(uint); i++)
        {
            lanes[i] = counts[i] >= 32 ? 0 : lanes[i] >> (int)counts[i];
        }

        return words;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    public static TVector ShiftLeft<TVector>(TVector words, uint* counts)
        where TVector : unmanaged
    {
        uint* lanes = (uint*)&words;
        for (int i = 0; i < sizeof(TVector) / sizeof(uint); i++)
        {
            lanes[i] = counts[i] >= 32 ? 0 : lanes[i] << (int)counts[i];
        }

        return words;
    }

    // Vector counts are taken here rather than by address in the caller, so that the caller's vectors can stay
    // in registers.
    [MethodImpl(MethodImplOptions.NoInlining)]
    public static TVector ShiftRight<TVector>(TVector words, TVector counts)
        where TVector : unmanaged =>
        ShiftRight(words, (uint*)&counts);

    [MethodImpl(MethodImplOptions.NoInlining)]
    public static TVector ShiftLeft<TVector>(TVector words, TVector counts)
        where TVector : unmanaged =>
        ShiftLeft(words, (uint*)&counts);
}
