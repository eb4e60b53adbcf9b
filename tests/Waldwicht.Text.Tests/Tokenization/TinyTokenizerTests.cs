using System.Text;
using Waldwicht.Tests;
using Waldwicht.Text.Tokenization;

namespace Waldwicht.Text.Tests.Tokenization;

/// <summary>Expected ids and texts of the committed 512-piece Gemma 4 tokenizer (the first 512 real Gemma ids).</summary>
public sealed class TinyTokenizerTests
{
    private static GemmaTokenizer Tiny => TokenizerAssets.Tiny;

    [Fact]
    public void Encode_HelloWorld_GivesBosAndBytePieces()
    {
        int[] expected = [2, 310, 339, 346, 346, 349, 464, 388, 367, 357, 349, 352, 346, 338];

        Assert.Equal(expected, Tiny.Encode("Hello world", addSpecialTokens: true));
        Assert.Equal(expected[1..], Tiny.Encode("Hello world", addSpecialTokens: false));
    }

    [Fact]
    public void Encode_ChatPrompt_MatchesControlTokens()
    {
        var prompt = "<bos><|turn>user\nHi<turn|>\n<|turn>model\n";
        int[] expected = [2, 105, 355, 353, 339, 352, 107, 310, 343, 106, 107, 105, 347, 349, 338, 339, 346, 107];

        Assert.Equal(expected, Tiny.Encode(prompt, addSpecialTokens: false));
        Assert.Equal([2, .. expected], Tiny.Encode(prompt, addSpecialTokens: true));
    }

    [Fact]
    public void Encode_EmptyText_GivesOnlyBos()
    {
        Assert.Equal([2], Tiny.Encode("", addSpecialTokens: true));
        Assert.Empty(Tiny.Encode("", addSpecialTokens: false));
    }

    [Fact]
    public void Encode_NewlineRuns_UseLongestAddedToken()
    {
        // 107 is one newline and 107 + n - 1 a run of n newlines, up to 31.
        Assert.Equal([109], Tiny.Encode("\n\n\n", addSpecialTokens: false));
        Assert.Equal([137], Tiny.Encode(new string('\n', 31), addSpecialTokens: false));
        Assert.Equal([137, 107], Tiny.Encode(new string('\n', 32), addSpecialTokens: false));
    }

    [Fact]
    public void Encode_UnpairedSurrogate_EncodesAsReplacementCharacter()
    {
        Assert.Equal(Tiny.Encode("a\uFFFDb", addSpecialTokens: false), Tiny.Encode("a\uD800b", addSpecialTokens: false));
        Assert.Equal(Tiny.Encode("\uFFFD", addSpecialTokens: false), Tiny.Encode("\uDC00", addSpecialTokens: false));
    }

    [Fact]
    public void Decode_U2581BytePieces_StayU2581()
    {
        Assert.Equal("\u2581", Tiny.Decode([464, 388, 367]));
        Assert.Equal(" ", Tiny.Decode([464, 388, 367], mode: DecodeMode.MlxLm));
    }

    [Fact]
    public void Decode_U2581Piece_GivesSpace()
    {
        // 494 is U+2581 followed by t.
        Assert.Equal(" t", Tiny.Decode([494]));
        Assert.Equal(" t", Tiny.Decode([494], mode: DecodeMode.MlxLm));
    }

    [Fact]
    public void Decode_InvalidByteRun_ReplacesEachByte()
    {
        // E2 96 is an incomplete three-byte sequence; 41 is 'A'. The whole run is invalid in the Hugging Face decoder.
        int[] ids = [238 + 0x41, 238 + 0xE2, 238 + 0x96, 494];

        Assert.Equal("\uFFFD\uFFFD\uFFFD t", Tiny.Decode(ids));
        Assert.Equal("A\uFFFD t", Tiny.Decode(ids, mode: DecodeMode.MlxLm));
    }

    [Fact]
    public void Decode_SkipSpecialTokens_DropsControlTokensOnly()
    {
        var ids = Tiny.Encode("<bos><|turn>user\nHi<turn|>\n<table>", addSpecialTokens: false);

        Assert.Equal("<bos><|turn>user\nHi<turn|>\n<table>", Tiny.Decode(ids));
        Assert.Equal("user\nHi\n<table>", Tiny.Decode(ids, skipSpecialTokens: true));
    }

    [Fact]
    public void Decode_IdOutsideVocabulary_Throws()
    {
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => Tiny.Decode([2, 512]));
        Assert.Contains("512", error.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => Tiny.Decode([-1]));
    }

    [Fact]
    public void Vocabulary_SpecialIdsAndSize()
    {
        Assert.Equal(512, Tiny.VocabularySize);
        Assert.Equal(2, Tiny.BosId);
        Assert.Equal(1, Tiny.EosId);
        Assert.Equal(0, Tiny.PadId);
        Assert.Equal(3, Tiny.UnknownId);
        Assert.Equal([2], Tiny.SpecialTokenPrefix);
        Assert.Empty(Tiny.SpecialTokenSuffix);
    }

    [Fact]
    public void Vocabulary_ControlTokensAreSpecial()
    {
        int[] special = [0, 1, 2, 3, 46, 47, 48, 49, 50, 51, 52, 98, 100, 101, 105, 106];
        for (var id = 0; id < Tiny.VocabularySize; id++)
        {
            Assert.True(special.Contains(id) == Tiny.IsSpecial(id), $"IsSpecial({id}) for '{Tiny.IdToToken(id)}'");
        }
    }

    [Theory]
    [InlineData(105, "<|turn>")]
    [InlineData(106, "<turn|>")]
    [InlineData(52, "<|\"|>")]
    [InlineData(107, "\n")]
    [InlineData(238, "<0x00>")]
    [InlineData(493, "<0xFF>")]
    [InlineData(494, "\u2581t")]
    public void IdToToken_And_TokenToId_AreInverse(int id, string token)
    {
        Assert.Equal(token, Tiny.IdToToken(id));
        Assert.Equal(id, Tiny.TokenToId(token));
    }

    [Fact]
    public void IdToToken_UnknownId_ReturnsNull()
    {
        Assert.Null(Tiny.IdToToken(512));
        Assert.Null(Tiny.IdToToken(-5));
        Assert.Null(Tiny.TokenToId("not a piece"));
    }

    [Fact]
    public void AddedTokens_ListsAllIdsBelow238()
    {
        Assert.Equal(Enumerable.Range(0, 238), Tiny.AddedTokens.Select(t => t.Id).Order());
        Assert.All(Tiny.AddedTokens, t => Assert.False(t.Normalized));
    }

    [Fact]
    public void FromFile_And_FromDirectory_EncodeTheSame()
    {
        var fromFile = GemmaTokenizer.FromFile(TestData.Path("tiny-gemma4", "tokenizer.json"));
        var text = "Grüße <|turn>model\n😀";

        Assert.Equal(Tiny.Encode(text, addSpecialTokens: true), fromFile.Encode(text, addSpecialTokens: true));
    }

    [Theory]
    [MemberData(nameof(ModelFolders))]
    public void FromDirectory_LoadsEveryFixtureFolder(string folder)
    {
        var tokenizer = GemmaTokenizer.FromDirectory(TestData.Path("tiny-gemma4", folder));

        Assert.Equal(Tiny.Encode("Hello world", true), tokenizer.Encode("Hello world", true));
    }

    public static TheoryData<string> ModelFolders() => new(TestData.TinyModelFolders);

    [Fact]
    public void Encode_PromptOfFixture_DecodesToText()
    {
        // The prompt of the forward-pass fixture is random ids; decoding it must not throw and must round-trip
        // through the streaming detokenizer.
        int[] prompt = [2, 171, 433, 19, 98, 453, 137, 177, 313, 486, 61, 385, 235, 301, 215, 271, 461, 48, 384, 92];
        var streaming = Tiny.CreateStreamingDetokenizer();
        var text = new StringBuilder();
        foreach (var id in prompt)
        {
            text.Append(streaming.Add(id));
        }

        text.Append(streaming.Flush());
        Assert.Equal(Tiny.Decode(prompt), text.ToString());
    }
}
