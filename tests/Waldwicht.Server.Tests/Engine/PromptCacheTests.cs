using Waldwicht.Runtime.ChatClient;
using Waldwicht.Runtime.Generation;
using Waldwicht.Server.Tests.Infrastructure;

namespace Waldwicht.Server.Tests.Engine;

public sealed class PromptCacheTests
{
    private static readonly GenerationOptions Greedy = new() { MaxTokens = 6 };

    [Fact]
    public void RestoredPrefixGivesSameTokens()
    {
        var model = TinyModel.Instance.Model;
        var cache = new PromptCache(model, maxEntries: 4, maxBytes: 1L << 30);
        var first = new Generator(model.CreateSession());
        var second = new Generator(model.CreateSession());
        var fresh = new Generator(model.CreateSession());
        int[] prompt = [2, 171, 433, 19, 98, 453];

        var original = first.Generate(prompt, Greedy);
        cache.Store(first);
        int[] extended = [.. prompt, .. original.TokenIds, 106, 107, 105];
        int reused = cache.Restore(second, extended);
        var continued = second.Generate(extended, Greedy);
        var expected = fresh.Generate(extended, Greedy);

        Assert.Equal(first.CachedTokens.Count, reused);
        Assert.Equal(reused, continued.Stats.CachedPromptTokens);
        Assert.Equal(expected.TokenIds, continued.TokenIds);
        Assert.Equal(1, cache.Count);
    }

    [Fact]
    public void WrappedWindowIsNotRewound()
    {
        // The tiny model's sliding window is 8 tokens: a 12-token state cannot be cut back to 5.
        var model = TinyModel.Instance.Model;
        var generator = new Generator(model.CreateSession());
        int[] prompt = [2, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20];
        generator.Generate(prompt, new GenerationOptions { MaxTokens = 1 });
        int[] diverging = [2, 10, 11, 12, 13, 99, 98];

        int usable = PromptCacheProbe.Usable(generator, diverging);
        int extending = PromptCacheProbe.Usable(generator, [.. generator.CachedTokens, 5, 6]);

        Assert.Equal(0, usable);
        Assert.Equal(generator.CachedTokens.Count, extending);
    }

    [Fact]
    public void EvictsLeastRecentlyUsed()
    {
        var model = TinyModel.Instance.Model;
        var cache = new PromptCache(model, maxEntries: 2, maxBytes: 1L << 30);
        var generator = new Generator(model.CreateSession());

        foreach (int token in new[] { 30, 31, 32 })
        {
            generator.Reset();
            generator.Generate([2, token, token], new GenerationOptions { MaxTokens = 1 });
            cache.Store(generator);
        }

        Assert.Equal(2, cache.Count);
        Assert.True(cache.Bytes > 0);
        Assert.Equal(cache.Bytes, cache.Clear());
        Assert.Equal(0, cache.Count);
    }

    /// <summary>Calls the cache's prefix rule through a cache with no entries, so only the generator's own state counts.</summary>
    private static class PromptCacheProbe
    {
        public static int Usable(Generator generator, IReadOnlyList<int> prompt) =>
            new PromptCache(TinyModel.Instance.Model, 0, 0).Restore(generator, prompt);
    }
}
