using System.Text;
using System.Text.Json.Nodes;
using Waldwicht.Text.Tokenization;

namespace Waldwicht.Text.Tests.Tokenization;

public sealed class Gemma4VocabularyTests
{
    /// <summary>
    /// A tokenizer.json shaped like Gemma 3's, with 262,144 pieces: the Gemma 3 names at the renamed ids and "pN"
    /// elsewhere. It has byte pieces and one merge. Its added tokens are the renamed ids and &lt;image_soft_token&gt; (id 262144).
    /// </summary>
    private static JsonObject SyntheticGemma3()
    {
        var names = new string[Gemma4Vocabulary.Size];
        for (var i = 0; i < names.Length; i++)
        {
            names[i] = "p" + i;
        }

        names[0] = "<pad>";
        names[1] = "<eos>";
        names[2] = "<bos>";
        names[3] = "<unk>";
        for (var b = 0; b < 256; b++)
        {
            names[238 + b] = $"<0x{b:X2}>";
        }

        foreach (var (id, gemma3Name, _) in Gemma4Vocabulary.Renames)
        {
            names[id] = gemma3Name;
        }

        // The result of the one merge.
        names[^1] = "p10p11";

        var vocabulary = new JsonObject();
        for (var i = 0; i < names.Length; i++)
        {
            vocabulary[names[i]] = i;
        }

        var added = new JsonArray();
        foreach (var id in new[] { 0, 1, 2, 3 }.Concat(Gemma4Vocabulary.Renames.Select(r => r.Id)))
        {
            added.Add(Token(id, names[id], special: id < 4 || id is 105 or 106 or 255999 or 256000));
        }

        added.Add(Token(262144, "<image_soft_token>", special: true));
        return new JsonObject
        {
            ["version"] = "1.0",
            ["added_tokens"] = added,
            ["normalizer"] = JsonNode.Parse("""{"type": "Replace", "pattern": {"String": " "}, "content": "▁"}"""),
            ["pre_tokenizer"] = null,
            ["post_processor"] = null,
            ["decoder"] = JsonNode.Parse("""{"type": "Sequence", "decoders": [{"type": "ByteFallback"}, {"type": "Fuse"}]}"""),
            ["model"] = new JsonObject
            {
                ["type"] = "BPE",
                ["unk_token"] = "<unk>",
                ["fuse_unk"] = true,
                ["byte_fallback"] = true,
                ["vocab"] = vocabulary,
                ["merges"] = new JsonArray(new JsonArray("p10", "p11")),
            },
        };
    }

    private static JsonObject Token(int id, string content, bool special) => new()
    {
        ["id"] = id,
        ["content"] = content,
        ["single_word"] = false,
        ["lstrip"] = false,
        ["rstrip"] = false,
        ["normalized"] = false,
        ["special"] = special,
    };

    private static byte[] Bytes(JsonNode json) => Encoding.UTF8.GetBytes(json.ToJsonString());

    [Fact]
    public void FromGemma3_RenamesAndMarksSpecial()
    {
        var json = SyntheticGemma3();

        var converted = JsonNode.Parse(Gemma4Vocabulary.FromGemma3(Bytes(json)))!;
        var tokenizer = GemmaTokenizer.FromJson(Encoding.UTF8.GetBytes(converted.ToJsonString()));

        foreach (var (id, gemma3Name, gemma4Name) in Gemma4Vocabulary.Renames)
        {
            Assert.Equal(gemma4Name, tokenizer.IdToToken(id));
            Assert.True(tokenizer.IsSpecial(id), $"{gemma4Name} ({id}) must be special");
            Assert.Null(tokenizer.TokenToId(gemma3Name));
        }

        Assert.Equal(Gemma4Vocabulary.Size, tokenizer.VocabularySize);
        Assert.Null(tokenizer.TokenToId("<image_soft_token>"));
        Assert.Equal("p7", tokenizer.IdToToken(7));
        Assert.Equal(json["normalizer"]!.ToJsonString(), converted["normalizer"]!.ToJsonString());
        Assert.Equal(json["decoder"]!.ToJsonString(), converted["decoder"]!.ToJsonString());
        Assert.Equal([105, 238 + 0x41, 106], tokenizer.Encode("<|turn>A<turn|>", addSpecialTokens: false));
    }

    [Fact]
    public void FromGemma3_KeepsMergesAndOtherFields()
    {
        var json = SyntheticGemma3();

        var converted = JsonNode.Parse(Gemma4Vocabulary.FromGemma3(Bytes(json)))!;

        Assert.Equal("""[["p10","p11"]]""", converted["model"]!["merges"]!.ToJsonString());
        Assert.Equal("1.0", converted["version"]!.GetValue<string>());
        Assert.Equal(json["added_tokens"]!.AsArray().Count - 1, converted["added_tokens"]!.AsArray().Count);
    }

    [Fact]
    public void FromGemma3_WrongVocabularySize_Throws()
    {
        var json = SyntheticGemma3();
        json["model"]!["vocab"]!.AsObject().Remove("p1000");

        var error = Assert.Throws<InvalidDataException>(() => Gemma4Vocabulary.FromGemma3(Bytes(json)));
        Assert.Contains("262143 pieces", error.Message);
    }

    [Fact]
    public void FromGemma3_AlreadyConverted_Throws()
    {
        var json = SyntheticGemma3();
        var vocabulary = json["model"]!["vocab"]!.AsObject();
        vocabulary.Remove("<start_of_turn>");
        vocabulary["<|turn>"] = 105;

        var error = Assert.Throws<InvalidDataException>(() => Gemma4Vocabulary.FromGemma3(Bytes(json)));
        Assert.Contains("<start_of_turn>", error.Message);
    }

    [Fact]
    public void FromGemma3File_WritesLoadableFile()
    {
        var folder = Directory.CreateTempSubdirectory("waldwicht-gemma4-vocabulary-");
        try
        {
            var input = Path.Combine(folder.FullName, "gemma3.json");
            var output = Path.Combine(folder.FullName, "out", "tokenizer.json");
            var json = SyntheticGemma3();
            File.WriteAllBytes(input, Bytes(json));

            Gemma4Vocabulary.FromGemma3File(input, output);

            Assert.Equal(106, GemmaTokenizer.FromFile(output).TokenToId("<turn|>"));
            Assert.False(File.Exists(output + ".tmp"));
        }
        finally
        {
            folder.Delete(recursive: true);
        }
    }

    [TokenizerFact(NeedsFullVocabulary = true)]
    public void FullVocabulary_FirstIdsMatchTinyTokenizer()
    {
        // The committed tiny tokenizer is the Gemma 4 vocabulary cut to its first 512 ids.
        var full = TokenizerAssets.Full;
        var tiny = TokenizerAssets.Tiny;
        for (var id = 0; id < tiny.VocabularySize; id++)
        {
            Assert.Equal(tiny.IdToToken(id), full.IdToToken(id));
            Assert.True(tiny.IsSpecial(id) == full.IsSpecial(id), $"IsSpecial({id}) differs for '{tiny.IdToToken(id)}'");
        }

        var tinyAdded = tiny.AddedTokens.ToDictionary(t => t.Id);
        Assert.All(full.AddedTokens.Where(t => t.Id < 512), t => Assert.Equal(tinyAdded[t.Id], t));
    }

    [TokenizerFact(NeedsFullVocabulary = true)]
    public void FullVocabulary_HasGemma4ControlAndMediaTokens()
    {
        var full = TokenizerAssets.Full;

        Assert.Equal(Gemma4Vocabulary.Size, full.VocabularySize);
        Assert.Equal(105, full.TokenToId("<|turn>"));
        Assert.Equal(258884, full.TokenToId("<|video|>"));
        Assert.Equal(236743, full.TokenToId("\u2581"));
        Assert.Equal(107, full.TokenToId("\n"));
        Assert.Equal([2, 105, 2364, 107, 10979, 106], full.Encode("<|turn>user\nHi<turn|>", addSpecialTokens: true));
    }
}
