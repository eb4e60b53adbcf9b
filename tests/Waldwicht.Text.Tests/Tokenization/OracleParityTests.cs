using System.Text;
using Waldwicht.Text.Tokenization;

namespace Waldwicht.Text.Tests.Tokenization;

/// <summary>
/// Compares encoding and decoding with the Hugging Face tokenizers library (Rust, through Tokenizers.DotNet) on the
/// full Gemma 4 vocabulary and on the tiny tokenizer.
/// </summary>
public sealed class OracleParityTests
{
    private static readonly string[] FullCorpus =
        [.. ParityCorpus.HandPicked, .. ParityCorpus.Generated(count: 400, seed: 20240501), .. ParityCorpus.Long()];

    private static readonly string[] TinyCorpus = [.. ParityCorpus.HandPicked, .. ParityCorpus.Generated(count: 150, seed: 99)];

    [Fact]
    public void Corpus_HasAtLeastThreeHundredTexts()
    {
        Assert.True(FullCorpus.Length >= 300, $"The parity corpus has only {FullCorpus.Length} texts.");
        Assert.True(FullCorpus.Distinct().Count() >= 300, "The parity corpus has fewer than 300 distinct texts.");
    }

    [TokenizerFact(NeedsFullVocabulary = true, NeedsOracle = true)]
    public void FullVocabulary_EncodeMatchesHuggingFace() =>
        AssertEncodeParity(TokenizerAssets.Full, TokenizerAssets.FullOracle, FullCorpus);

    [TokenizerFact(NeedsFullVocabulary = true, NeedsOracle = true)]
    public void FullVocabulary_DecodeOfEncodedTextMatchesHuggingFace() =>
        AssertDecodeParity(TokenizerAssets.Full, TokenizerAssets.FullOracle, FullCorpus.Select(t => TokenizerAssets.Full.Encode(t, addSpecialTokens: true)));

    [TokenizerFact(NeedsFullVocabulary = true, NeedsOracle = true)]
    public void FullVocabulary_DecodeOfRandomIdsMatchesHuggingFace() =>
        AssertDecodeParity(TokenizerAssets.Full, TokenizerAssets.FullOracle, RandomIdSequences(TokenizerAssets.Full, count: 1500, seed: 5));

    [TokenizerFact(NeedsFullVocabulary = true, NeedsOracle = true)]
    public void FullVocabulary_EncodesCommonWordsAsSinglePieces()
    {
        // Guards against a parity pass that only compares byte fallback: real merges must fire.
        var ids = TokenizerAssets.Full.Encode("Hello world", addSpecialTokens: false);
        Assert.Equal(TokenizerAssets.FullOracle.EncodeWithSpecialTokens("Hello world")[1..], ids);
        Assert.True(ids.Length <= 3, $"'Hello world' took {ids.Length} tokens: {string.Join(", ", ids)}.");
    }

    [TokenizerFact(NeedsFullVocabulary = true, NeedsOracle = true)]
    public void FullVocabulary_UnpairedSurrogatesEncodeAsReplacementCharacter()
    {
        // The Hugging Face library rejects text with unpaired surrogates. This tokenizer encodes each as U+FFFD,
        // which is what .NET's default UTF-8 conversion does.
        string[] texts = ["a\uD800b", "\uDC00", "x\uDBFF", "\uDC00\uD800", "😀\uD83D"];
        foreach (var text in texts)
        {
            var replaced = Encoding.UTF8.GetString(Encoding.UTF8.GetBytes(text));
            Assert.Contains('\uFFFD', replaced);
            Assert.Equal(TokenizerAssets.FullOracle.EncodeWithSpecialTokens(replaced), TokenizerAssets.Full.Encode(text, addSpecialTokens: true));
        }
    }

    [TokenizerFact(NeedsFullVocabulary = true)]
    public void FullVocabulary_ConcurrentEncodingGivesSameIds()
    {
        var tokenizer = TokenizerAssets.Full;
        var texts = ParityCorpus.Generated(count: 200, seed: 77).ToArray();
        var expected = texts.Select(t => tokenizer.Encode(t, addSpecialTokens: true)).ToArray();

        var actual = new int[texts.Length][];
        Parallel.For(0, texts.Length * 4, new ParallelOptions { MaxDegreeOfParallelism = 8 }, i =>
            actual[i % texts.Length] = tokenizer.Encode(texts[i % texts.Length], addSpecialTokens: true));

        for (var i = 0; i < texts.Length; i++)
        {
            Assert.Equal(expected[i], actual[i]);
        }
    }

    [TokenizerFact(NeedsOracle = true)]
    public void TinyTokenizer_EncodeMatchesHuggingFace() =>
        AssertEncodeParity(TokenizerAssets.Tiny, TokenizerAssets.TinyOracle, TinyCorpus);

    [TokenizerFact(NeedsOracle = true)]
    public void TinyTokenizer_DecodeOfRandomIdsMatchesHuggingFace() =>
        AssertDecodeParity(TokenizerAssets.Tiny, TokenizerAssets.TinyOracle, RandomIdSequences(TokenizerAssets.Tiny, count: 1500, seed: 11));

    [TokenizerFact(NeedsOracle = true)]
    public void TinyTokenizer_DecodeOfEncodedTextMatchesHuggingFace() =>
        AssertDecodeParity(TokenizerAssets.Tiny, TokenizerAssets.TinyOracle, TinyCorpus.Select(t => TokenizerAssets.Tiny.Encode(t, addSpecialTokens: true)));

    /// <summary>
    /// Random id sequences biased towards the hard cases: byte pieces (partial and invalid UTF-8 runs), pieces that
    /// contain U+2581, and control tokens.
    /// </summary>
    internal static IEnumerable<int[]> RandomIdSequences(GemmaTokenizer tokenizer, int count, int seed)
    {
        var random = new Random(seed);
        var byteIds = Enumerable.Range(0, 256).Select(b => tokenizer.TokenToId($"<0x{b:X2}>")!.Value).ToArray();
        var utf8Ids = Encoding.UTF8.GetBytes("é€😀▁").Select(b => byteIds[b]).ToArray();
        for (var i = 0; i < count; i++)
        {
            var length = random.Next(1, 40);
            var ids = new int[length];
            for (var j = 0; j < length; j++)
            {
                ids[j] = random.Next(10) switch
                {
                    < 3 => byteIds[random.Next(256)],
                    < 5 => utf8Ids[random.Next(utf8Ids.Length)],
                    5 => random.Next(0, 110),
                    _ => random.Next(0, tokenizer.VocabularySize),
                };
            }

            yield return ids;
        }
    }

    private static void AssertEncodeParity(GemmaTokenizer tokenizer, TokenizerAssets.Oracle oracle, IEnumerable<string> texts)
    {
        var failures = new List<string>();
        var count = 0;
        foreach (var text in texts)
        {
            count++;
            var expected = oracle.EncodeWithSpecialTokens(text);
            var withSpecial = tokenizer.Encode(text, addSpecialTokens: true);
            if (!expected.SequenceEqual(withSpecial))
            {
                failures.Add($"Encode({Show(text)}, true): expected [{Ids(expected)}], got [{Ids(withSpecial)}]");
            }

            Assert.Equal(tokenizer.BosId, expected[0]);
            var withoutSpecial = tokenizer.Encode(text, addSpecialTokens: false);
            if (!expected.AsSpan(1).SequenceEqual(withoutSpecial))
            {
                failures.Add($"Encode({Show(text)}, false): expected [{Ids(expected[1..])}], got [{Ids(withoutSpecial)}]");
            }
        }

        Assert.True(failures.Count == 0, $"{failures.Count} of {count * 2} encodings differ from Hugging Face:\n{string.Join("\n", failures.Take(8))}");
    }

    private static void AssertDecodeParity(GemmaTokenizer tokenizer, TokenizerAssets.Oracle oracle, IEnumerable<int[]> sequences)
    {
        var failures = new List<string>();
        var count = 0;
        foreach (var ids in sequences)
        {
            count++;
            foreach (var skip in new[] { false, true })
            {
                var expected = oracle.Decode(ids, skip);
                var actual = tokenizer.Decode(ids, skip);
                if (expected != actual)
                {
                    failures.Add($"Decode([{Ids(ids)}], skip {skip}): expected {Show(expected)}, got {Show(actual)}");
                }
            }
        }

        Assert.True(failures.Count == 0, $"{failures.Count} of {count * 2} decodings differ from Hugging Face:\n{string.Join("\n", failures.Take(8))}");
    }

    private static string Ids(IEnumerable<int> ids)
    {
        var list = ids.ToList();
        return list.Count <= 60 ? string.Join(", ", list) : string.Join(", ", list.Take(60)) + $", ... ({list.Count} ids)";
    }

    internal static string Show(string text)
    {
        var builder = new StringBuilder("\"");
        foreach (var rune in text.Take(200).ToArray().AsSpan().EnumerateRunes())
        {
            builder.Append(rune.Value is < 0x20 or (>= 0x7F and < 0xA0) or 0x2581 or 0xFFFD ? $"\\u{rune.Value:X4}" : rune.ToString());
        }

        return builder.Append(text.Length > 200 ? "\"..." : "\"").ToString();
    }
}
