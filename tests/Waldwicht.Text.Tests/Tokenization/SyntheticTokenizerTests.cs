using System.Text;
using System.Text.Json.Nodes;
using Waldwicht.Text.Tokenization;

namespace Waldwicht.Text.Tests.Tokenization;

/// <summary>
/// Small hand-made tokenizer.json files for the rules the Gemma files do not exercise (merge order, unknown tokens,
/// added-token flags, split behaviours, other normalizers and decoders) and for load errors. Where the reference
/// library is available the expected ids come from it; the hand-written expectations hold either way.
/// </summary>
public sealed class SyntheticTokenizerTests
{
    private const int ByteBase = 4;

    /// <summary>
    /// A Gemma-shaped tokenizer.json: &lt;pad&gt; &lt;eos&gt; &lt;bos&gt; &lt;unk&gt;, 256 byte pieces, the letters a to e,
    /// U+2581 and the given merges (whose results are added to the vocabulary).
    /// </summary>
    private static JsonObject Build(string[][]? merges = null, bool byteFallback = true, bool fuseUnknown = true)
    {
        var vocabulary = new JsonObject();
        var pieces = new List<string> { "<pad>", "<eos>", "<bos>", "<unk>" };
        pieces.AddRange(Enumerable.Range(0, 256).Select(b => $"<0x{b:X2}>"));
        pieces.AddRange(["a", "b", "c", "d", "e", "\u2581"]);
        merges ??= [];
        foreach (var merge in merges)
        {
            if (!pieces.Contains(merge[0] + merge[1]))
            {
                pieces.Add(merge[0] + merge[1]);
            }
        }

        for (var i = 0; i < pieces.Count; i++)
        {
            vocabulary[pieces[i]] = i;
        }

        var addedTokens = new JsonArray();
        foreach (var (name, id) in new[] { ("<pad>", 0), ("<eos>", 1), ("<bos>", 2), ("<unk>", 3) })
        {
            addedTokens.Add(AddedToken(id, name, special: true));
        }

        return new JsonObject
        {
            ["version"] = "1.0",
            ["truncation"] = null,
            ["padding"] = null,
            ["added_tokens"] = addedTokens,
            ["normalizer"] = new JsonObject { ["type"] = "Replace", ["pattern"] = new JsonObject { ["String"] = " " }, ["content"] = "\u2581" },
            ["pre_tokenizer"] = null,
            ["post_processor"] = JsonNode.Parse("""
                {"type": "TemplateProcessing",
                 "single": [{"SpecialToken": {"id": "<bos>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
                 "pair": [{"SpecialToken": {"id": "<bos>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                          {"SpecialToken": {"id": "<bos>", "type_id": 1}}, {"Sequence": {"id": "B", "type_id": 1}}],
                 "special_tokens": {"<bos>": {"id": "<bos>", "ids": [2], "tokens": ["<bos>"]}}}
                """),
            ["decoder"] = JsonNode.Parse("""
                {"type": "Sequence", "decoders": [
                    {"type": "Replace", "pattern": {"String": "\u2581"}, "content": " "},
                    {"type": "ByteFallback"}, {"type": "Fuse"}]}
                """),
            ["model"] = new JsonObject
            {
                ["type"] = "BPE",
                ["dropout"] = null,
                ["unk_token"] = "<unk>",
                ["continuing_subword_prefix"] = null,
                ["end_of_word_suffix"] = null,
                ["fuse_unk"] = fuseUnknown,
                ["byte_fallback"] = byteFallback,
                ["ignore_merges"] = false,
                ["vocab"] = vocabulary,
                ["merges"] = new JsonArray(merges.Select(m => (JsonNode)new JsonArray(m[0], m[1])).ToArray()),
            },
        };
    }

    private static JsonObject AddedToken(int id, string content, bool special = false, bool normalized = false,
        bool lstrip = false, bool rstrip = false, bool singleWord = false) => new()
    {
        ["id"] = id,
        ["content"] = content,
        ["single_word"] = singleWord,
        ["lstrip"] = lstrip,
        ["rstrip"] = rstrip,
        ["normalized"] = normalized,
        ["special"] = special,
    };

    private static int Id(JsonObject json, string piece) => json["model"]!["vocab"]![piece]!.GetValue<int>();

    private static GemmaTokenizer Load(JsonObject json) => GemmaTokenizer.FromJson(Encoding.UTF8.GetBytes(json.ToJsonString()));

    /// <summary>Checks the ids against the reference library when it can run here.</summary>
    private static void AssertMatchesOracle(JsonObject json, params string[] texts)
    {
        if (TokenizerAssets.OracleMissing != null)
        {
            return;
        }

        var tokenizer = Load(json);
        var oracle = new TokenizerAssets.Oracle(Encoding.UTF8.GetBytes(json.ToJsonString()));
        foreach (var text in texts)
        {
            var expected = oracle.EncodeWithSpecialTokens(text);
            var actual = tokenizer.Encode(text, addSpecialTokens: true);
            Assert.True(expected.SequenceEqual(actual),
                $"Encode({OracleParityTests.Show(text)}): Hugging Face gives [{string.Join(", ", expected)}], this tokenizer [{string.Join(", ", actual)}]");
            Assert.Equal(oracle.Decode(expected, skipSpecialTokens: false), tokenizer.Decode(actual));
        }
    }

    [Fact]
    public void Merges_ApplyLowestRankFirst()
    {
        // (b, c) has rank 0 and wins over (a, b) although (a, b) is further left; then (a, bc) applies.
        var json = Build([["b", "c"], ["a", "b"], ["a", "bc"]]);
        Assert.Equal([Id(json, "abc")], Load(json).Encode("abc", addSpecialTokens: false));

        // With (a, b) first, "ab" forms and no merge (ab, c) exists.
        var reordered = Build([["a", "b"], ["b", "c"], ["a", "bc"]]);
        Assert.Equal([Id(reordered, "ab"), Id(reordered, "c")], Load(reordered).Encode("abc", addSpecialTokens: false));
        AssertMatchesOracle(json, "abc", "abcabc", "aabbcc");
        AssertMatchesOracle(reordered, "abc", "abcabc", "aabbcc");
    }

    [Fact]
    public void Merges_EqualRanksMergeLeftToRight()
    {
        var json = Build([["a", "a"], ["aa", "aa"]]);
        var tokenizer = Load(json);

        Assert.Equal([Id(json, "aaaa"), Id(json, "aa"), Id(json, "a")], tokenizer.Encode("aaaaaaa", addSpecialTokens: false));
        AssertMatchesOracle(json, "aaaaaaa", "aaaaaaaa", "a", "");
    }

    [Fact]
    public void Merges_LegacyStringFormatLoads()
    {
        var json = Build([["a", "b"]]);
        json["model"]!["merges"] = new JsonArray("a b");

        Assert.Equal([Id(json, "ab")], Load(json).Encode("ab", addSpecialTokens: false));
    }

    [Fact]
    public void ByteFallback_MissingCharacterBecomesBytePieces()
    {
        var json = Build();
        Assert.Equal([ByteBase + 0xC3, ByteBase + 0xA9, Id(json, "a")], Load(json).Encode("éa", addSpecialTokens: false));
        AssertMatchesOracle(json, "éa", "😀", "x y z");
    }

    [Fact]
    public void UnknownToken_FusedWhenFuseUnkIsTrue()
    {
        var fused = Build(byteFallback: false, fuseUnknown: true);
        var unfused = Build(byteFallback: false, fuseUnknown: false);

        Assert.Equal([3, Id(fused, "a"), 3], Load(fused).Encode("xyaz", addSpecialTokens: false));
        Assert.Equal([3, 3, Id(unfused, "a"), 3], Load(unfused).Encode("xyaz", addSpecialTokens: false));
        AssertMatchesOracle(fused, "xyaz", "éé a");
        AssertMatchesOracle(unfused, "xyaz", "éé a");
    }

    [Fact]
    public void AddedTokens_LongestMatchAtLeftmostPosition()
    {
        var json = Build();
        var added = json["added_tokens"]!.AsArray();
        added.Add(AddedToken(300, "<x>"));
        added.Add(AddedToken(301, "<x><y>"));
        added.Add(AddedToken(302, "<y>"));
        added.Add(AddedToken(303, "y>a"));
        var tokenizer = Load(json);
        var x = tokenizer.TokenToId("<x>")!.Value;
        var xy = tokenizer.TokenToId("<x><y>")!.Value;

        Assert.Equal([xy, Id(json, "a")], tokenizer.Encode("<x><y>a", addSpecialTokens: false));
        Assert.Equal([x, xy], tokenizer.Encode("<x><x><y>", addSpecialTokens: false));
        AssertMatchesOracle(json, "<x><y>a", "<x><x><y>", "<y>a", "a<x>b<y>c", "<<x>>");
    }

    [Fact]
    public void AddedTokens_IdsFollowTheModelVocabulary()
    {
        // Like the Hugging Face library, the "id" field is ignored: tokens outside the model vocabulary are numbered
        // from the number of model pieces on, in file order.
        var json = Build();
        var added = json["added_tokens"]!.AsArray();
        added.Add(AddedToken(500, "<x>"));
        added.Add(AddedToken(400, "<y>"));
        var tokenizer = Load(json);
        var pieceCount = json["model"]!["vocab"]!.AsObject().Count;

        Assert.Equal(pieceCount, tokenizer.TokenToId("<x>"));
        Assert.Equal(pieceCount + 1, tokenizer.TokenToId("<y>"));
        Assert.Equal(pieceCount + 2, tokenizer.VocabularySize);
        AssertMatchesOracle(json, "<y><x>");
    }

    [Fact]
    public void AddedTokens_StripAndSingleWordFlags()
    {
        var json = Build();
        var added = json["added_tokens"]!.AsArray();
        added.Add(AddedToken(300, "<l>", lstrip: true));
        added.Add(AddedToken(301, "<r>", rstrip: true));
        added.Add(AddedToken(302, "cab", singleWord: true));
        added.Add(AddedToken(303, "<lr>", lstrip: true, rstrip: true, special: true));
        var tokenizer = Load(json);
        var left = tokenizer.TokenToId("<l>")!.Value;
        var right = tokenizer.TokenToId("<r>")!.Value;
        var word = tokenizer.TokenToId("cab")!.Value;

        // The whitespace next to the token becomes part of it, so it produces no ids of its own.
        Assert.Equal([Id(json, "a"), left, Id(json, "b")], tokenizer.Encode("a  <l>b", addSpecialTokens: false));
        Assert.Equal([Id(json, "a"), right, Id(json, "b")], tokenizer.Encode("a<r> \t b", addSpecialTokens: false));
        Assert.Equal([word], tokenizer.Encode("cab", addSpecialTokens: false));
        Assert.DoesNotContain(word, tokenizer.Encode("acabd", addSpecialTokens: false));
        Assert.True(tokenizer.IsSpecial(tokenizer.TokenToId("<lr>")!.Value));
        AssertMatchesOracle(json, "a  <l>b", "a<r> \t b", "cab", "acab", "cabd", "a cab d", "x <lr> y", " <l><r> ", "\n<lr>\n", "é cab é");
    }

    [Fact]
    public void AddedTokens_NormalizedTokenMatchesNormalizedText()
    {
        var json = Build();
        json["added_tokens"]!.AsArray().Add(AddedToken(300, "a b", normalized: true));
        var tokenizer = Load(json);
        var token = tokenizer.TokenToId("a b")!.Value;

        Assert.Equal([Id(json, "c"), token, Id(json, "c")], tokenizer.Encode("ca bc", addSpecialTokens: false));
        AssertMatchesOracle(json, "ca bc", "a b a b", "a\u2581b");
    }

    [Theory]
    [InlineData("Removed", false)]
    [InlineData("Isolated", false)]
    [InlineData("MergedWithPrevious", false)]
    [InlineData("MergedWithNext", false)]
    [InlineData("Contiguous", false)]
    [InlineData("Removed", true)]
    [InlineData("Isolated", true)]
    [InlineData("MergedWithPrevious", true)]
    [InlineData("MergedWithNext", true)]
    [InlineData("Contiguous", true)]
    public void SplitPreTokenizer_BehavioursMatchHuggingFace(string behavior, bool invert)
    {
        // Without the normalizer the spaces reach the pre-tokenizer; the merges would join words across a space.
        var json = Build([["a", "\u2581"], ["\u2581", "b"], ["b", "b"]]);
        json["normalizer"] = null;
        json["model"]!["vocab"]![" "] = 1000;
        json["pre_tokenizer"] = new JsonObject
        {
            ["type"] = "Split",
            ["pattern"] = new JsonObject { ["String"] = "\u2581" },
            ["behavior"] = behavior,
            ["invert"] = invert,
        };

        var tokenizer = Load(json);
        Assert.NotEmpty(tokenizer.Encode("a\u2581b", addSpecialTokens: false));
        AssertMatchesOracle(json, "a\u2581b", "\u2581\u2581a\u2581\u2581bb\u2581", "ab", "\u2581", "", "a\u2581\u2581\u2581b c");
    }

    [Fact]
    public void PrependAndStrip_GemmaTwoStyle()
    {
        var json = Build([["\u2581", "a"]]);
        json["normalizer"] = JsonNode.Parse("""
            {"type": "Sequence", "normalizers": [
                {"type": "Prepend", "prepend": "\u2581"},
                {"type": "Replace", "pattern": {"String": " "}, "content": "\u2581"}]}
            """);
        json["decoder"] = JsonNode.Parse("""
            {"type": "Sequence", "decoders": [
                {"type": "Replace", "pattern": {"String": "\u2581"}, "content": " "},
                {"type": "ByteFallback"}, {"type": "Fuse"},
                {"type": "Strip", "content": " ", "start": 1, "stop": 0}]}
            """);
        var tokenizer = Load(json);

        var ids = tokenizer.Encode("a b", addSpecialTokens: false);
        Assert.Equal([Id(json, "\u2581a"), Id(json, "\u2581"), Id(json, "b")], ids);
        Assert.Equal("a b", tokenizer.Decode(ids));
        AssertMatchesOracle(json, "a b", " a", "", "<bos>a", "ab<eos>ba");
    }

    [Fact]
    public void NullDecoder_JoinsTokensWithSpaces()
    {
        var json = Build();
        json["decoder"] = null;

        Assert.Equal("a b <0xC3>", Load(json).Decode([ByteBase + 256, ByteBase + 257, ByteBase + 0xC3]));
    }

    [Fact]
    public void FromDirectory_ConfigFlagsDecideSpecialTokens()
    {
        var folder = Directory.CreateTempSubdirectory("waldwicht-tokenizer-test-");
        try
        {
            File.WriteAllText(Path.Combine(folder.FullName, "tokenizer.json"), Build().ToJsonString());
            File.WriteAllText(Path.Combine(folder.FullName, "tokenizer_config.json"), """{"add_bos_token": false, "add_eos_token": true, "eos_token": {"content": "<eos>"}}""");
            var tokenizer = GemmaTokenizer.FromDirectory(folder.FullName);

            Assert.Equal([ByteBase + 256, 1], tokenizer.Encode("a", addSpecialTokens: true));
            Assert.Equal([ByteBase + 256], tokenizer.Encode("a", addSpecialTokens: false));
        }
        finally
        {
            folder.Delete(recursive: true);
        }
    }

    [Theory]
    [InlineData("normalizer", """{"type": "NFKC"}""", "NFKC")]
    [InlineData("pre_tokenizer", """{"type": "ByteLevel", "add_prefix_space": false}""", "ByteLevel")]
    [InlineData("decoder", """{"type": "Metaspace", "replacement": "▁"}""", "Metaspace")]
    [InlineData("post_processor", """{"type": "BertProcessing"}""", "BertProcessing")]
    [InlineData("normalizer", """{"type": "Replace", "pattern": {"Regex": "\\s+"}, "content": " "}""", "\\s+")]
    public void Load_UnsupportedComponent_ThrowsNamingIt(string component, string value, string expectedInMessage)
    {
        var json = Build();
        json[component] = JsonNode.Parse(value);

        var error = Assert.Throws<NotSupportedException>(() => Load(json));
        Assert.Contains(expectedInMessage, error.Message);
        Assert.Contains(component, error.Message);
    }

    [Fact]
    public void Load_UnigramModel_Throws()
    {
        var json = Build();
        json["model"] = JsonNode.Parse("""{"type": "Unigram", "unk_id": 0, "vocab": [["<unk>", 0.0]]}""");

        var error = Assert.Throws<NotSupportedException>(() => Load(json));
        Assert.Contains("Unigram", error.Message);
    }

    [Fact]
    public void Load_MergeOutsideVocabulary_ThrowsNamingIt()
    {
        var json = Build();
        json["model"]!["merges"] = new JsonArray(new JsonArray("a", "zz"));

        var error = Assert.Throws<InvalidDataException>(() => Load(json));
        Assert.Contains("'zz'", error.Message);
    }

    [Fact]
    public void Load_DropoutSet_Throws()
    {
        var json = Build();
        json["model"]!["dropout"] = 0.1;

        Assert.Throws<NotSupportedException>(() => Load(json));
    }

    [Fact]
    public void Load_MalformedJson_ThrowsInvalidData()
    {
        Assert.Throws<InvalidDataException>(() => GemmaTokenizer.FromJson(Encoding.UTF8.GetBytes("{\"model\": ")));
        Assert.Throws<InvalidDataException>(() => GemmaTokenizer.FromJson(Encoding.UTF8.GetBytes("[]")));
        Assert.Throws<InvalidDataException>(() => GemmaTokenizer.FromJson(Encoding.UTF8.GetBytes("{}")));
    }

    [Fact]
    public void Load_MissingBos_ThrowsNamingIt()
    {
        var json = Build();
        var vocabulary = json["model"]!["vocab"]!.AsObject();
        vocabulary.Remove("<bos>");
        vocabulary["<start>"] = 2;
        json["added_tokens"]!.AsArray().RemoveAt(2);
        json["post_processor"] = null;

        var error = Assert.Throws<InvalidDataException>(() => Load(json));
        Assert.Contains("<bos>", error.Message);
    }

    [Fact]
    public void FromFile_MissingFile_ThrowsFileNotFound()
    {
        var path = Path.Combine(Path.GetTempPath(), "waldwicht-missing-" + Guid.NewGuid().ToString("N"), "tokenizer.json");

        var error = Assert.Throws<FileNotFoundException>(() => GemmaTokenizer.FromFile(path));
        Assert.Contains(path, error.Message);
        Assert.Throws<FileNotFoundException>(() => GemmaTokenizer.FromDirectory(Path.GetDirectoryName(path)!));
    }
}
