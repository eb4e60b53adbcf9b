using Waldwicht.Runtime;
using Waldwicht.Runtime.Generation;
using Waldwicht.Text.Tokenization;

namespace Waldwicht.Server.Tests.Infrastructure;

/// <summary>
/// Builds token sequences for scripted replies: control tokens by name and text as byte-fallback tokens, so
/// text that spells a marker stays ordinary text.
/// </summary>
internal static class Script
{
    /// <summary>Tokens of a reply written as segments: "&lt;|channel&gt;" style markers in <c>{…}</c> braces are control tokens, the rest is text.</summary>
    /// <example>Tokens("{&lt;|channel&gt;}thought\nplan{&lt;channel|&gt;}Answer{&lt;turn|&gt;}")</example>
    public static int[] Tokens(string script)
    {
        var tokenizer = TinyModel.Instance.Tokenizer;
        var tokens = new List<int>();
        int position = 0;
        while (position < script.Length)
        {
            int open = script.IndexOf("{<", position, StringComparison.Ordinal);
            int end = open < 0 ? -1 : script.IndexOf(">}", open, StringComparison.Ordinal);
            if (open < 0 || end < 0)
            {
                tokens.AddRange(TextTokens(tokenizer, script[position..]));
                break;
            }

            tokens.AddRange(TextTokens(tokenizer, script[position..open]));
            string marker = script[(open + 1)..(end + 1)];
            tokens.Add(tokenizer.TokenToId(marker) ?? throw new ArgumentException($"No token {marker}."));
            position = end + 2;
        }

        return [.. tokens];
    }

    /// <summary>Text as byte-fallback tokens.</summary>
    public static IEnumerable<int> TextTokens(GemmaTokenizer tokenizer, string text)
    {
        foreach (byte value in System.Text.Encoding.UTF8.GetBytes(text))
        {
            yield return tokenizer.TokenToId($"<0x{value:X2}>") ?? throw new ArgumentException($"No byte token for {value}.");
        }
    }
}

/// <summary>
/// Forces a fixed token sequence, one token per step; after the sequence it leaves the logits alone, or bans
/// <see cref="BannedAfterScript"/>. <see cref="Delay"/> slows every step (for keep-alive and disconnect tests).
/// </summary>
internal sealed class ScriptedProcessor(IReadOnlyList<int> tokens) : ILogitsProcessor
{
    private int _calls;

    public TimeSpan Delay { get; init; }

    /// <summary>Tokens banned once the script is over (for example the stop tokens, to keep a random model going).</summary>
    public IReadOnlyList<int> BannedAfterScript { get; init; } = [];

    /// <summary>Throw on this step (0-based) to simulate an internal failure; -1 never.</summary>
    public int ThrowAtStep { get; init; } = -1;

    /// <summary>Number of steps this processor saw.</summary>
    public int Calls => Volatile.Read(ref _calls);

    public void Process(ReadOnlySpan<int> generated, Span<float> logits)
    {
        Interlocked.Increment(ref _calls);
        if (Delay > TimeSpan.Zero)
        {
            Thread.Sleep(Delay);
        }

        if (generated.Length == ThrowAtStep)
        {
            throw new InvalidOperationException("Scripted failure.");
        }

        if (generated.Length < tokens.Count)
        {
            logits.Fill(float.NegativeInfinity);
            logits[tokens[generated.Length]] = 0;
            return;
        }

        foreach (int banned in BannedAfterScript)
        {
            logits[banned] = float.NegativeInfinity;
        }
    }
}

/// <summary>Stop token ids of the tiny model.</summary>
internal static class StopTokens
{
    public static IReadOnlyList<int> All => TinyModel.Instance.GenerationConfig.StopTokenIds;
}
