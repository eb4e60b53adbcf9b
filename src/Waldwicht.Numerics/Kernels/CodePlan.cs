using System.Collections.Concurrent;
using System.Numerics;

namespace Waldwicht.Numerics.Kernels;

/// <summary>
/// The order in which the vector kernels visit the codes of a quantized row, the matching permutation of the
/// activations, and the shift and group tables the kernels read. Plans depend only on the row shape, so they
/// are built once and shared through <see cref="Get"/>.
/// </summary>
/// <remarks>
/// <para>
/// Each vector lane owns one uint32 word of the packed row, and a row is split into regions of 16-, 8- and
/// 4-lane vectors (as far as the kernel path allows), then a scalar tail. Step k of a vector takes the k-th
/// code that lies wholly inside every lane's word, by a right shift that depends on the word's position in
/// the bit stream. When the code width does not divide 32 (3, 5 and 6 bits), one more step takes the code that
/// starts in the word and ends in the next one. A lane without a code for a step shifts by 32, reads 0, and
/// meets an activation of 0.
/// </para>
/// <para>
/// Codes are assigned to the word they start in, so every code belongs to exactly one slot. Group boundaries
/// (multiples of 32 codes) fall on word boundaries, so all codes of a word share one scale and bias.
/// </para>
/// </remarks>
internal sealed unsafe class CodePlan
{
    private static readonly ConcurrentDictionary<(int Columns, int Bits, int GroupSize, KernelPath Path), CodePlan>
        s_plans = new();

    private CodePlan(int columns, int bits, int groupSize, KernelPath path)
    {
        Columns = columns;
        Bits = bits;
        GroupSize = groupSize;
        WordsPerRow = columns / 32 * bits;
        Period = bits / (int)BigInteger.GreatestCommonDivisor(bits, 32);
        FullSteps = Enumerable.Range(0, Period).Max(word => WordCodes(word).Full);
        Straddles = 32 % bits != 0;
        Steps = FullSteps + (Straddles ? 1 : 0);

        int word = 0;
        int slot = 0;
        var regions = new List<CodeRegion>();
        foreach (int lanes in new[] { 16, 8, 4 })
        {
            if (lanes > path.Lanes())
            {
                continue;
            }

            int vectors = (WordsPerRow - word) / lanes;
            if (vectors > 0)
            {
                regions.Add(new CodeRegion(this, lanes, word, vectors, slot));
                word += vectors * lanes;
                slot += vectors * lanes * Steps;
            }
        }

        Regions = regions.ToArray();
        TailFirstWord = word;
        TailFirstCode = (int)(((long)word * 32 + bits - 1) / bits);
        TailFirstSlot = slot;
        PermutedLength = slot + Columns - TailFirstCode;

        Source = GC.AllocateUninitializedArray<int>(PermutedLength, pinned: true);
        foreach (var region in Regions)
        {
            region.FillSource(this, Source);
        }

        for (int c = TailFirstCode; c < Columns; c++)
        {
            Source[TailFirstSlot + c - TailFirstCode] = c;
        }
    }

    public int Columns { get; }

    public int Bits { get; }

    public int GroupSize { get; }

    public int WordsPerRow { get; }

    /// <summary>Words after which the pattern of code positions repeats: 1, 3 or 5.</summary>
    public int Period { get; }

    /// <summary>Largest number of codes wholly inside one word.</summary>
    public int FullSteps { get; }

    /// <summary>True when codes cross word boundaries (3, 5 and 6 bits).</summary>
    public bool Straddles { get; }

    /// <summary>Steps per vector: <see cref="FullSteps"/>, plus one when codes straddle words.</summary>
    public int Steps { get; }

    /// <summary>Vector regions, widest first.</summary>
    public CodeRegion[] Regions { get; }

    /// <summary>First word of the scalar tail.</summary>
    public int TailFirstWord { get; }

    /// <summary>First code that starts in the scalar tail, which keeps natural order.</summary>
    public int TailFirstCode { get; }

    /// <summary>Slot of <see cref="TailFirstCode"/> in the permuted activations.</summary>
    public int TailFirstSlot { get; }

    /// <summary>Length of a permuted activation row, at least <see cref="Columns"/>.</summary>
    public int PermutedLength { get; }

    /// <summary>For every slot, the column it reads, or −1 for an empty slot.</summary>
    public int[] Source { get; }

    /// <summary>The shared plan for a row shape and kernel path.</summary>
    public static CodePlan Get(int columns, int bits, int groupSize, KernelPath path) =>
        s_plans.GetOrAdd((columns, bits, groupSize, path), key => new CodePlan(key.Columns, key.Bits, key.GroupSize, key.Path));

    /// <summary>Writes one activation row in slot order, with 0 in empty slots.</summary>
    public void Permute(float* x, float* permuted)
    {
        fixed (int* source = Source)
        {
            for (int i = 0; i < PermutedLength; i++)
            {
                int column = source[i];
                permuted[i] = column >= 0 ? x[column] : 0f;
            }
        }
    }

    /// <summary>
    /// Writes one activation row like <see cref="Permute"/>, but multiplies the slots of step k in the regions of
    /// <paramref name="lanes"/> lanes by <paramref name="stepFactors"/>[k] (<see cref="Steps"/> entries). Other
    /// regions and the scalar tail are copied unscaled.
    /// </summary>
    public void PermuteScaled(float* x, float* permuted, int lanes, ReadOnlySpan<float> stepFactors)
    {
        if (stepFactors.Length != Steps)
        {
            throw new ArgumentException($"Expected {Steps} step factors, got {stepFactors.Length}.", nameof(stepFactors));
        }

        Permute(x, permuted);
        foreach (var region in Regions)
        {
            if (region.Lanes != lanes)
            {
                continue;
            }

            float* slot = permuted + region.FirstSlot;
            for (int v = 0; v < region.VectorCount; v++)
            {
                for (int k = 0; k < Steps; k++)
                {
                    float factor = stepFactors[k];
                    for (int lane = 0; lane < lanes; lane++)
                    {
                        slot[lane] *= factor;
                    }

                    slot += lanes;
                }
            }
        }
    }

    /// <summary>
    /// Codes that start in word <paramref name="word"/> of a row: the first one, how many lie wholly inside the
    /// word, and whether one more starts in it and ends in the next word.
    /// </summary>
    internal (int First, int Full, bool Straddle) WordCodes(long word)
    {
        long wordStart = word * 32;
        long first = (wordStart + Bits - 1) / Bits;
        long full = (wordStart + 32) / Bits - first;
        bool straddle = (first + full) * Bits < wordStart + 32;
        return ((int)first, (int)full, straddle);
    }
}

/// <summary>A run of vectors with the same lane count, and the tables its kernel reads.</summary>
internal sealed unsafe class CodeRegion
{
    internal CodeRegion(CodePlan plan, int lanes, int firstWord, int vectorCount, int firstSlot)
    {
        Lanes = lanes;
        FirstWord = firstWord;
        VectorCount = vectorCount;
        FirstSlot = firstSlot;
        FirstPhase = firstWord % plan.Period;
        PhaseStep = lanes % plan.Period;

        // Shift rows per phase: one per full step, then the straddle's right and left shifts.
        ShiftRows = plan.FullSteps + 2;
        Shifts = GC.AllocateArray<uint>(plan.Period * ShiftRows * lanes, pinned: true);
        for (int phase = 0; phase < plan.Period; phase++)
        {
            for (int lane = 0; lane < lanes; lane++)
            {
                int word = (phase + lane) % plan.Period;
                var (first, full, straddle) = plan.WordCodes(word);
                uint* row = ShiftTable(phase);
                for (int k = 0; k < plan.FullSteps; k++)
                {
                    row[k * lanes + lane] = k < full ? (uint)((first + k) * plan.Bits - word * 32) : 32u;
                }

                uint low = straddle ? (uint)((first + full) * plan.Bits - word * 32) : 32u;
                row[plan.FullSteps * lanes + lane] = low;
                row[(plan.FullSteps + 1) * lanes + lane] = straddle ? 32 - low : 32u;
            }
        }

        int wordsPerGroup = plan.GroupSize * plan.Bits / 32;
        GroupBase = GC.AllocateArray<int>(vectorCount, pinned: true);
        GroupLane = GC.AllocateArray<int>(vectorCount * lanes, pinned: true);
        for (int v = 0; v < vectorCount; v++)
        {
            int word = firstWord + v * lanes;
            GroupBase[v] = word / wordsPerGroup;
            for (int lane = 0; lane < lanes; lane++)
            {
                GroupLane[v * lanes + lane] = (word + lane) / wordsPerGroup - GroupBase[v];
            }
        }
    }

    public int Lanes { get; }

    public int FirstWord { get; }

    public int VectorCount { get; }

    public int FirstSlot { get; }

    /// <summary>Phase (word index modulo the plan's period) of the first vector's lane 0.</summary>
    public int FirstPhase { get; }

    /// <summary>Phase advance from one vector to the next.</summary>
    public int PhaseStep { get; }

    /// <summary>Rows of <see cref="Lanes"/> shift counts per phase.</summary>
    public int ShiftRows { get; }

    /// <summary>Right-shift counts per phase, step and lane, then the straddle's right and left shifts.</summary>
    public uint[] Shifts { get; }

    /// <summary>First quantization group of each vector.</summary>
    public int[] GroupBase { get; }

    /// <summary>Group of each lane, relative to the vector's <see cref="GroupBase"/>.</summary>
    public int[] GroupLane { get; }

    /// <summary>The shift rows of one phase.</summary>
    public uint* ShiftTable(int phase) =>
        (uint*)System.Runtime.CompilerServices.Unsafe.AsPointer(ref Shifts[phase * ShiftRows * Lanes]);

    internal void FillSource(CodePlan plan, int[] source)
    {
        int slot = FirstSlot;
        for (int v = 0; v < VectorCount; v++)
        {
            for (int k = 0; k < plan.Steps; k++)
            {
                for (int lane = 0; lane < Lanes; lane++)
                {
                    int word = FirstWord + v * Lanes + lane;
                    var (first, full, straddle) = plan.WordCodes(word);
                    int column = k < plan.FullSteps
                        ? (k < full ? first + k : -1)
                        : (straddle ? first + full : -1);
                    source[slot++] = column;
                }
            }
        }
    }
}
