using System.Text;
using System.Text.Json.Nodes;
using Waldwicht.Text.Tokenization;

namespace Waldwicht.Text.Tests.Tokenization;

public sealed class StreamingDetokenizerTests
{
    private const int TinyByteBase = 238;

    private static (string Text, List<string> Chunks) Stream(GemmaTokenizer tokenizer, int[] ids, bool skip, DecodeMode mode)
    {
        var detokenizer = tokenizer.CreateStreamingDetokenizer(skip, mode);
        var chunks = ids.Select(detokenizer.Add).ToList();
        chunks.Add(detokenizer.Flush());
        return (string.Concat(chunks), chunks);
    }

    private static void AssertStreamEqualsDecode(GemmaTokenizer tokenizer, IEnumerable<int[]> sequences)
    {
        var failures = new List<string>();
        var count = 0;
        foreach (var ids in sequences)
        {
            foreach (var mode in new[] { DecodeMode.HuggingFace, DecodeMode.MlxLm })
            {
                foreach (var skip in new[] { false, true })
                {
                    count++;
                    var expected = tokenizer.Decode(ids, skip, mode);
                    var (actual, chunks) = Stream(tokenizer, ids, skip, mode);
                    if (expected != actual)
                    {
                        failures.Add($"[{string.Join(", ", ids)}] {mode} skip {skip}: Decode {OracleParityTests.Show(expected)}, stream {OracleParityTests.Show(actual)}");
                    }

                    if (chunks.Any(HasUnpairedSurrogate))
                    {
                        failures.Add($"[{string.Join(", ", ids)}] {mode} skip {skip}: a chunk splits a surrogate pair");
                    }
                }
            }
        }

        Assert.True(failures.Count == 0, $"{failures.Count} of {count} streams differ from Decode:\n{string.Join("\n", failures.Take(8))}");
    }

    private static bool HasUnpairedSurrogate(string text)
    {
        for (var i = 0; i < text.Length; i++)
        {
            if (char.IsHighSurrogate(text[i]) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
            {
                i++;
            }
            else if (char.IsSurrogate(text[i]))
            {
                return true;
            }
        }

        return false;
    }

    [Fact]
    public void TinyTokenizer_RandomIds_StreamEqualsDecode() =>
        AssertStreamEqualsDecode(TokenizerAssets.Tiny, OracleParityTests.RandomIdSequences(TokenizerAssets.Tiny, count: 1000, seed: 3));

    [Fact]
    public void TinyTokenizer_EncodedText_StreamEqualsDecode() =>
        AssertStreamEqualsDecode(
            TokenizerAssets.Tiny,
            ParityCorpus.HandPicked.Concat(ParityCorpus.Generated(100, seed: 4)).Select(t => TokenizerAssets.Tiny.Encode(t, addSpecialTokens: true)));

    [TokenizerFact(NeedsFullVocabulary = true)]
    public void FullVocabulary_RandomIds_StreamEqualsDecode() =>
        AssertStreamEqualsDecode(TokenizerAssets.Full, OracleParityTests.RandomIdSequences(TokenizerAssets.Full, count: 1000, seed: 8));

    [TokenizerFact(NeedsFullVocabulary = true)]
    public void FullVocabulary_EncodedText_StreamEqualsDecodeAndInput()
    {
        var tokenizer = TokenizerAssets.Full;
        var texts = ParityCorpus.HandPicked.Concat(ParityCorpus.Generated(200, seed: 6)).ToList();
        AssertStreamEqualsDecode(tokenizer, texts.Select(t => tokenizer.Encode(t, addSpecialTokens: false)));

        // Text without literal U+2581 and without lone surrogates comes back unchanged.
        foreach (var text in texts.Where(t => !t.Contains('\u2581')))
        {
            Assert.Equal(text, Stream(tokenizer, tokenizer.Encode(text, addSpecialTokens: false), skip: false, DecodeMode.HuggingFace).Text);
        }
    }

    [Fact]
    public void MlxMode_EmitsEachCharacterOnceComplete()
    {
        var tokenizer = TokenizerAssets.Tiny;
        var ids = Encoding.UTF8.GetBytes("ü😀").Select(b => TinyByteBase + b).ToArray();

        var (_, chunks) = Stream(tokenizer, ids, skip: false, DecodeMode.MlxLm);

        Assert.Equal(["", "ü", "", "", "", "😀", ""], chunks);
    }

    [Fact]
    public void HuggingFaceMode_HoldsValidByteRun()
    {
        var tokenizer = TokenizerAssets.Tiny;
        var bytes = Encoding.UTF8.GetBytes("ü😀").Select(b => TinyByteBase + b);
        int[] ids = [.. bytes, 494];

        var (text, chunks) = Stream(tokenizer, ids, skip: false, DecodeMode.HuggingFace);

        Assert.Equal("ü😀 t", text);
        Assert.All(chunks.Take(6), chunk => Assert.Equal("", chunk));
        Assert.Equal("ü😀 t", chunks[6]);
    }

    [Fact]
    public void HuggingFaceMode_InvalidRunEmitsAtOnce()
    {
        var detokenizer = TokenizerAssets.Tiny.CreateStreamingDetokenizer();

        Assert.Equal("", detokenizer.Add(TinyByteBase + 0xE2));
        Assert.Equal("\uFFFD\uFFFD", detokenizer.Add(TinyByteBase + 0x41));
        Assert.Equal("\uFFFD", detokenizer.Add(TinyByteBase + 0x42));
        Assert.Equal("\uFFFD", detokenizer.Add(TinyByteBase + 0xFF));
        Assert.Equal(" t", detokenizer.Add(494));
        Assert.Equal("", detokenizer.Flush());
    }

    [Fact]
    public void Flush_IncompleteCharacter_GivesReplacements()
    {
        var hugging = TokenizerAssets.Tiny.CreateStreamingDetokenizer();
        var mlx = TokenizerAssets.Tiny.CreateStreamingDetokenizer(mode: DecodeMode.MlxLm);
        foreach (var b in new[] { 0xF0, 0x9F, 0x98 })
        {
            Assert.Equal("", hugging.Add(TinyByteBase + b));
            Assert.Equal("", mlx.Add(TinyByteBase + b));
        }

        Assert.Equal("\uFFFD\uFFFD\uFFFD", hugging.Flush());
        Assert.Equal("\uFFFD", mlx.Flush());

        // After Flush the detokenizer starts a new sequence.
        Assert.Equal("", hugging.Add(TinyByteBase + 0x41));
        Assert.Equal("A", hugging.Flush());
    }

    [Fact]
    public void SkipSpecialTokens_DropsControlTokens()
    {
        var tokenizer = TokenizerAssets.Tiny;
        var ids = tokenizer.Encode("<|turn>model\nHi<turn|>", addSpecialTokens: true);

        Assert.Equal("model\nHi", Stream(tokenizer, ids, skip: true, DecodeMode.HuggingFace).Text);
        Assert.Equal("<bos><|turn>model\nHi<turn|>", Stream(tokenizer, ids, skip: false, DecodeMode.HuggingFace).Text);
    }

    [Fact]
    public void Add_IdOutsideVocabulary_Throws()
    {
        var detokenizer = TokenizerAssets.Tiny.CreateStreamingDetokenizer();

        Assert.Throws<ArgumentOutOfRangeException>(() => detokenizer.Add(100_000));
    }

    [Fact]
    public void LeadingStripDecoder_StreamsLikeDecode()
    {
        var tokenizer = LoadWithDecoder("""
            {"type": "Sequence", "decoders": [
                {"type": "Replace", "pattern": {"String": "\u2581"}, "content": " "},
                {"type": "ByteFallback"}, {"type": "Fuse"},
                {"type": "Strip", "content": " ", "start": 1, "stop": 0}]}
            """);
        var sequences = OracleParityTests.RandomIdSequences(tokenizer, count: 300, seed: 12)
            .Append(tokenizer.Encode("  a b", addSpecialTokens: false))
            .Append([TinyByteBase + 0x20, TinyByteBase + 0x20]);

        AssertStreamEqualsDecode(tokenizer, sequences);
    }

    [Fact]
    public void TrailingStripDecoder_StreamingIsRejected()
    {
        var tokenizer = LoadWithDecoder("""
            {"type": "Sequence", "decoders": [{"type": "ByteFallback"}, {"type": "Fuse"},
                {"type": "Strip", "content": " ", "start": 0, "stop": 1}]}
            """);

        var error = Assert.Throws<NotSupportedException>(() => tokenizer.CreateStreamingDetokenizer());
        Assert.Contains("Strip", error.Message);
        Assert.Equal("a", tokenizer.Decode([TinyByteBase + 0x61, TinyByteBase + 0x20]));
    }

    /// <summary>The tiny tokenizer with another decoder.</summary>
    private static GemmaTokenizer LoadWithDecoder(string decoder)
    {
        var json = JsonNode.Parse(File.ReadAllText(TokenizerAssets.TinyTokenizerJson))!;
        json["decoder"] = JsonNode.Parse(decoder);
        return GemmaTokenizer.FromJson(Encoding.UTF8.GetBytes(json.ToJsonString()));
    }
}
