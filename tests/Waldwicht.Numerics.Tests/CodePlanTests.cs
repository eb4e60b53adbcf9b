using Waldwicht.Numerics.Kernels;

namespace Waldwicht.Numerics.Tests;

public sealed class CodePlanTests
{
    public static TheoryData<string, int> Cases()
    {
        var data = new TheoryData<string, int>();
        foreach (var path in Enum.GetNames<KernelPath>())
        {
            foreach (int bits in TestPaths.BitWidths)
            {
                data.Add(path, bits);
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Source_CoversEveryColumnOnce(string pathName, int bits)
    {
        var path = TestPaths.Parse(pathName);
        foreach (int columns in new[] { 32, 64, 96, 128, 160, 992, 1536, 1920 })
        {
            var plan = CodePlan.Get(columns, bits, 32, path);
            var seen = new int[columns];
            foreach (int column in plan.Source)
            {
                if (column >= 0)
                {
                    seen[column]++;
                }
            }

            Assert.All(seen, count => Assert.Equal(1, count));
            Assert.Equal(plan.TailFirstSlot + columns - plan.TailFirstCode, plan.PermutedLength);
            Assert.True(plan.Regions.All(r => r.Lanes <= path.Lanes()), "A region is wider than the path allows.");
        }
    }

    [Theory]
    [InlineData(2, 16, 1)]
    [InlineData(3, 10, 3)]
    [InlineData(4, 8, 1)]
    [InlineData(5, 6, 5)]
    [InlineData(6, 5, 3)]
    [InlineData(8, 4, 1)]
    public void Steps_MatchTheCompiledBitWidths(int bits, int fullSteps, int period)
    {
        var plan = CodePlan.Get(1536, bits, 64, KernelPath.Vector512);
        Assert.Equal(fullSteps, plan.FullSteps);
        Assert.Equal(period, plan.Period);
        Assert.Equal(32 % bits != 0, plan.Straddles);
        int compiled = bits switch
        {
            2 => Bits2.FullSteps,
            3 => Bits3.FullSteps,
            4 => Bits4.FullSteps,
            5 => Bits5.FullSteps,
            6 => Bits6.FullSteps,
            _ => Bits8.FullSteps,
        };
        Assert.Equal(fullSteps, compiled);
    }

    [Fact]
    public unsafe void Permute_PlacesActivationsAndZeros()
    {
        var plan = CodePlan.Get(992, 5, 32, KernelPath.Vector256);
        var x = TestVectors.Random(992, 3);
        var permuted = new float[plan.PermutedLength];
        fixed (float* source = x, destination = permuted)
        {
            plan.Permute(source, destination);
        }

        for (int i = 0; i < plan.PermutedLength; i++)
        {
            Assert.Equal(plan.Source[i] >= 0 ? x[plan.Source[i]] : 0f, permuted[i]);
        }
    }

    [Fact]
    public unsafe void PermuteScaled_ScalesOnlyTheChosenRegions()
    {
        // 960 columns of 5 bits are 150 words: an 8-lane region of 144, a 4-lane region and a scalar tail of 2.
        var plan = CodePlan.Get(960, 5, 64, KernelPath.Vector256);
        var factors = Enumerable.Range(0, plan.Steps).Select(k => 1f / (1 << k)).ToArray();
        var x = TestVectors.Random(960, 4);
        var scaled = new float[plan.PermutedLength];
        fixed (float* source = x, destination = scaled)
        {
            plan.PermuteScaled(source, destination, 8, factors);
        }

        var expected = new float[plan.PermutedLength];
        for (int i = 0; i < plan.PermutedLength; i++)
        {
            expected[i] = plan.Source[i] >= 0 ? x[plan.Source[i]] : 0f;
        }

        var region = plan.Regions.Single(r => r.Lanes == 8);
        Assert.Contains(plan.Regions, r => r.Lanes == 4);
        Assert.True(plan.TailFirstCode < plan.Columns);
        for (int i = 0; i < region.VectorCount * plan.Steps * 8; i++)
        {
            expected[region.FirstSlot + i] *= factors[i / 8 % plan.Steps];
        }

        Assert.Equal(expected, scaled);
    }

    [Fact]
    public unsafe void PermuteScaled_RejectsWrongFactorCount()
    {
        var plan = CodePlan.Get(992, 5, 32, KernelPath.Vector256);
        var x = new float[992];
        var permuted = new float[plan.PermutedLength];
        Assert.Throws<ArgumentException>(() =>
        {
            fixed (float* source = x, destination = permuted)
            {
                plan.PermuteScaled(source, destination, 8, new float[plan.Steps - 1]);
            }
        });
    }

    [Fact]
    public void Get_SharesPlansOfTheSameShape()
    {
        Assert.Same(CodePlan.Get(768, 3, 64, KernelPath.Vector128), CodePlan.Get(768, 3, 64, KernelPath.Vector128));
        Assert.NotSame(CodePlan.Get(768, 3, 64, KernelPath.Vector128), CodePlan.Get(768, 3, 128, KernelPath.Vector128));
    }
}
