using Waldwicht.Runtime.Sampling;

namespace Waldwicht.Runtime.Tests;

public sealed class SamplerTests
{
    private static readonly float[] Logits = [1.0f, 3.0f, 2.5f, -1.0f, 0.5f, 2.9f];

    [Fact]
    public void GreedyPicksLargestLogit()
    {
        var sampler = new Sampler(new SamplingOptions(), Logits.Length);
        Assert.Equal(1, sampler.Select(Logits));
    }

    [Fact]
    public void TopKOfOneIsGreedy()
    {
        var sampler = new Sampler(new SamplingOptions { Temperature = 1.5f, TopK = 1, Seed = 7 }, Logits.Length);
        for (int i = 0; i < 50; i++)
        {
            Assert.Equal(1, sampler.Select(Logits));
        }
    }

    [Fact]
    public void TinyTopPIsGreedy()
    {
        var sampler = new Sampler(new SamplingOptions { Temperature = 1f, TopP = 1e-6f, Seed = 3 }, Logits.Length);
        for (int i = 0; i < 50; i++)
        {
            Assert.Equal(1, sampler.Select(Logits));
        }
    }

    [Fact]
    public void MinPOfOneIsGreedy()
    {
        var sampler = new Sampler(new SamplingOptions { Temperature = 1f, MinP = 1f, Seed = 3 }, Logits.Length);
        for (int i = 0; i < 50; i++)
        {
            Assert.Equal(1, sampler.Select(Logits));
        }
    }

    [Fact]
    public void TopKTwoOnlyYieldsTwoBest()
    {
        var sampler = new Sampler(new SamplingOptions { Temperature = 5f, TopK = 2, Seed = 11 }, Logits.Length);
        var seen = new HashSet<int>();
        for (int i = 0; i < 400; i++)
        {
            seen.Add(sampler.Select(Logits));
        }

        Assert.Equal(new HashSet<int> { 1, 5 }, seen);
    }

    [Fact]
    public void SampleFrequenciesFollowSoftmax()
    {
        var sampler = new Sampler(new SamplingOptions { Temperature = 1f, Seed = 1234 }, Logits.Length);
        var counts = new int[Logits.Length];
        const int Draws = 40_000;
        for (int i = 0; i < Draws; i++)
        {
            counts[sampler.Select(Logits)]++;
        }

        double normalizer = Logits.Sum(l => Math.Exp(l));
        for (int i = 0; i < Logits.Length; i++)
        {
            double expected = Math.Exp(Logits[i]) / normalizer;
            Assert.InRange(counts[i] / (double)Draws, expected - 0.012, expected + 0.012);
        }
    }

    [Fact]
    public void SameSeedGivesSameSequence()
    {
        var options = new SamplingOptions { Temperature = 1f, TopP = 0.9f, Seed = 42 };
        var first = new Sampler(options, Logits.Length);
        var second = new Sampler(options, Logits.Length);
        var a = Enumerable.Range(0, 100).Select(_ => first.Select(Logits)).ToArray();
        var b = Enumerable.Range(0, 100).Select(_ => second.Select(Logits)).ToArray();
        Assert.Equal(a, b);
    }

    [Fact]
    public void RepetitionPenaltyScalesByLogitSign()
    {
        var sampler = new Sampler(new SamplingOptions { RepetitionPenalty = 2f }, 4);
        float[] logits = [4f, -2f, 1f, 1f];
        sampler.ApplyPenalties(logits, [0, 1, 1]);
        Assert.Equal([2f, -4f, 1f, 1f], logits);
    }

    [Fact]
    public void PresenceAndFrequencyPenaltiesSubtract()
    {
        var sampler = new Sampler(new SamplingOptions { PresencePenalty = 0.5f, FrequencyPenalty = 0.25f }, 4);
        float[] logits = [1f, 1f, 1f, 1f];
        sampler.ApplyPenalties(logits, [2, 2, 3]);
        Assert.Equal([1f, 1f, 0f, 0.25f], logits);
    }

    [Fact]
    public void PenaltyWindowLimitsHistory()
    {
        var sampler = new Sampler(new SamplingOptions { PresencePenalty = 1f, PenaltyContextSize = 2 }, 4);
        float[] logits = [0f, 0f, 0f, 0f];
        sampler.ApplyPenalties(logits, [0, 1, 2]);
        Assert.Equal([0f, -1f, -1f, 0f], logits);
    }

    [Fact]
    public void LogitBiasShiftsChoice()
    {
        var sampler = new Sampler(new SamplingOptions { LogitBias = new Dictionary<int, float> { [3] = 100f } }, Logits.Length);
        float[] logits = (float[])Logits.Clone();
        sampler.ApplyPenalties(logits, []);
        Assert.Equal(3, sampler.Select(logits));
    }

    [Theory]
    [InlineData("temperature")]
    [InlineData("top_p")]
    [InlineData("top_k")]
    [InlineData("min_p")]
    [InlineData("repetition_penalty")]
    [InlineData("presence_penalty")]
    [InlineData("frequency_penalty")]
    [InlineData("logit_bias")]
    public void InvalidOptionNamesField(string field)
    {
        var options = field switch
        {
            "temperature" => new SamplingOptions { Temperature = -1 },
            "top_p" => new SamplingOptions { TopP = 0 },
            "top_k" => new SamplingOptions { TopK = -5 },
            "min_p" => new SamplingOptions { MinP = 1.5f },
            "repetition_penalty" => new SamplingOptions { RepetitionPenalty = 0 },
            "presence_penalty" => new SamplingOptions { PresencePenalty = 3 },
            "frequency_penalty" => new SamplingOptions { FrequencyPenalty = float.NaN },
            _ => new SamplingOptions { LogitBias = new Dictionary<int, float> { [99] = 1 } },
        };

        var error = Assert.Throws<ArgumentOutOfRangeException>(() => options.Validate(vocabSize: 10));
        Assert.Equal(field, error.ParamName);
        Assert.StartsWith(field, error.Message);
    }

    [Fact]
    public void TopLogprobsAreSortedAndNormalized()
    {
        var ids = new int[3];
        var values = new float[3];
        int count = LogProbabilities.Top(Logits, ids, values);
        Assert.Equal(3, count);
        Assert.Equal([1, 5, 2], ids);
        double normalizer = Math.Log(Logits.Sum(l => Math.Exp(l)));
        Assert.Equal(3.0 - normalizer, values[0], 5);
        Assert.Equal(LogProbabilities.Of(Logits, 2), values[2], 5);
    }
}
