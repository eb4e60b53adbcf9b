using Waldwicht.Model.Gemma4;
using Waldwicht.Runtime.Generation;
using Waldwicht.Runtime.Sampling;
using Waldwicht.Tests;

namespace Waldwicht.Runtime.Tests;

public sealed class GeneratorTests
{
    [Theory]
    [InlineData("")]
    [InlineData("winzling-export")]
    [InlineData("uniform-q4-g64")]
    public void GreedyGenerationMatchesReference(string variant)
    {
        using var model = Gemma4Model.Load(TestData.Path("tiny-gemma4", variant));
        var (prompt, continuation) = ReadGreedy(variant);
        var generator = new Generator(model.CreateSession());

        var result = generator.Generate(prompt, new GenerationOptions { MaxTokens = continuation.Length, StopTokenIds = [1, 106, 50] });

        Assert.Equal(continuation, result.TokenIds);
        Assert.Equal(FinishReason.Length, result.FinishReason);
        Assert.Equal(prompt.Length, result.Stats.PromptTokens);
    }

    [Fact]
    public void StopTokenEndsGeneration()
    {
        using var model = Gemma4Model.Load(TestData.Path("tiny-gemma4"));
        var (prompt, continuation) = ReadGreedy("");
        var generator = new Generator(model.CreateSession());

        var result = generator.Generate(prompt, new GenerationOptions { MaxTokens = 16, StopTokenIds = [continuation[3]] });

        Assert.Equal(continuation[..3], result.TokenIds);
        Assert.Equal(FinishReason.Stop, result.FinishReason);
    }

    [Fact]
    public void CallbackCanStopGeneration()
    {
        using var model = Gemma4Model.Load(TestData.Path("tiny-gemma4"));
        var (prompt, _) = ReadGreedy("");
        var generator = new Generator(model.CreateSession());

        var result = generator.Generate(prompt, new GenerationOptions { MaxTokens = 16 }, token => token.Index < 4);

        Assert.Equal(5, result.TokenIds.Count);
        Assert.Equal(FinishReason.Stop, result.FinishReason);
    }

    [Fact]
    public void PrefixReuseGivesSameTokens()
    {
        using var model = Gemma4Model.Load(TestData.Path("tiny-gemma4"));
        var (prompt, continuation) = ReadGreedy("");
        var generator = new Generator(model.CreateSession());
        var options = new GenerationOptions { MaxTokens = 6 };

        // First request: a prefix; second request: the full prompt, which extends the cached prefix.
        // The first request stays within the sliding window (8) so its cache can be rewound.
        generator.Generate(prompt[..5], options with { MaxTokens = 2 });
        var reused = generator.Generate(prompt, options);

        Assert.Equal(5, reused.Stats.CachedPromptTokens);
        Assert.Equal(continuation[..6], reused.TokenIds);
    }

    [Fact]
    public void SeededSamplingIsReproducible()
    {
        using var model = Gemma4Model.Load(TestData.Path("tiny-gemma4"));
        var (prompt, _) = ReadGreedy("");
        var options = new GenerationOptions
        {
            MaxTokens = 12,
            Sampling = new SamplingOptions { Temperature = 1f, TopK = 64, TopP = 0.95f, Seed = 5 },
        };

        var first = new Generator(model.CreateSession()).Generate(prompt, options);
        var second = new Generator(model.CreateSession()).Generate(prompt, options);

        Assert.Equal(first.TokenIds, second.TokenIds);
    }

    [Fact]
    public void LogprobsAreReported()
    {
        using var model = Gemma4Model.Load(TestData.Path("tiny-gemma4"));
        var (prompt, continuation) = ReadGreedy("");
        var tokens = new List<GeneratedToken>();
        var generator = new Generator(model.CreateSession());

        generator.Generate(prompt, new GenerationOptions { MaxTokens = 3, Logprobs = true, TopLogprobs = 2 }, t =>
        {
            tokens.Add(t);
            return true;
        });

        Assert.Equal(3, tokens.Count);
        Assert.All(tokens, t => Assert.True(t.Logprob <= 0));
        Assert.Equal(continuation[0], tokens[0].TopLogprobs![0].Id);
        Assert.Equal(tokens[0].Logprob!.Value, tokens[0].TopLogprobs![0].Logprob, 5);
    }

    [Fact]
    public void CancellationStopsGeneration()
    {
        using var model = Gemma4Model.Load(TestData.Path("tiny-gemma4"));
        var (prompt, _) = ReadGreedy("");
        using var cancellation = new CancellationTokenSource();
        var generator = new Generator(model.CreateSession());

        var result = generator.Generate(prompt, new GenerationOptions { MaxTokens = 16 }, t =>
        {
            if (t.Index == 1)
            {
                cancellation.Cancel();
            }

            return true;
        }, cancellation.Token);

        Assert.Equal(FinishReason.Cancelled, result.FinishReason);
        Assert.Equal(2, result.TokenIds.Count);
    }

    [Fact]
    public void InvalidMaxTokensIsRejected()
    {
        using var model = Gemma4Model.Load(TestData.Path("tiny-gemma4"));
        var generator = new Generator(model.CreateSession());
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => generator.Generate([2], new GenerationOptions { MaxTokens = 0 }));
        Assert.Equal("max_tokens", error.ParamName);
    }

    private static (int[] Prompt, int[] Continuation) ReadGreedy(string variant)
    {
        using var document = System.Text.Json.JsonDocument.Parse(File.ReadAllText(TestData.Path("tiny-gemma4", variant, "expected_greedy.json")));
        var root = document.RootElement;
        return (
            root.GetProperty("prompt_token_ids").EnumerateArray().Select(e => e.GetInt32()).ToArray(),
            root.GetProperty("greedy_continuation").EnumerateArray().Select(e => e.GetInt32()).ToArray());
    }
}
