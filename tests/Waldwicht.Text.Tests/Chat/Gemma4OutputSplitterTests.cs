using System.Text;
using Waldwicht.Text.Chat;
using Xunit;

namespace Waldwicht.Text.Tests.Chat;

public class Gemma4OutputSplitterTests
{
    private const string Q = "<|\"|>";

    /// <summary>Whole replies and how they split: content, reasoning, calls ("name args" or "! raw"), stop.</summary>
    public static TheoryData<string, string, string, string[], ChatOutputStop> Replies => new()
    {
        { "Hello world<turn|>", "Hello world", "", [], ChatOutputStop.EndOfTurn },
        { "Just text at the limit", "Just text at the limit", "", [], ChatOutputStop.None },
        { "<|channel>thought\nLet me think.<channel|>The answer is 4.<turn|>", "The answer is 4.", "Let me think.", [], ChatOutputStop.EndOfTurn },
        { "<|channel>thought\n\nx\n<channel|>y", "y", "\nx\n", [], ChatOutputStop.None },
        { "<|channel>thought\nstep 1\nstep 2", "", "step 1\nstep 2", [], ChatOutputStop.None },
        { "<|channel>thought", "", "", [], ChatOutputStop.None },
        { "<|channel>thou", "", "thou", [], ChatOutputStop.None },
        { "<|channel>just thinking<channel|>ok", "ok", "just thinking", [], ChatOutputStop.None },
        { "<|channel>thought\nplan<turn|>", "", "plan", [], ChatOutputStop.EndOfTurn },
        {
            $"I'll check.<|tool_call>call:get_weather{{city:{Q}Paris{Q}}}<tool_call|><|tool_response>",
            "I'll check.", "", ["get_weather {\"city\":\"Paris\"}"], ChatOutputStop.ToolResponse
        },
        {
            $"<|tool_call>call:a{{q:{Q}x {{y}}, z: \"w\"{Q},n:{{m:[1,2]}}}}<tool_call|><|tool_call>call:ns:tool.get-x{{}}<tool_call|><|tool_response>",
            "", "", ["a {\"q\":\"x {y}, z: \\\"w\\\"\",\"n\":{\"m\":[1,2]}}", "ns:tool.get-x {}"], ChatOutputStop.ToolResponse
        },
        { $"<|tool_call>call:f{{a:{Q}x", "", "", [$"! call:f{{a:{Q}x"], ChatOutputStop.None },
        { "<|tool_call>call:f{city:Paris}<tool_call|><turn|>", "", "", ["! call:f{city:Paris}"], ChatOutputStop.EndOfTurn },
        { "<|tool_call>call:f{a:1}<|tool_response>", "", "", ["! call:f{a:1}"], ChatOutputStop.ToolResponse },
        { "<|tool_call>call:a{<|tool_call>call:b{}<tool_call|>", "", "", ["! call:a{", "b {}"], ChatOutputStop.None },
        { "<|channel>thought\nplan<|tool_call>call:f{}<tool_call|>", "", "plan", ["f {}"], ChatOutputStop.None },
        { "Before<|tool_call>call:f{}<tool_call|>After<turn|>", "BeforeAfter", "", ["f {}"], ChatOutputStop.EndOfTurn },
        { "<bos>Hi<|\"|> there<channel|><tool_call|><|image|><|turn>!", "Hi there!", "", [], ChatOutputStop.None },
        { "Done<turn|>ignored<|channel>thought\nx", "Done", "", [], ChatOutputStop.EndOfTurn },
        { "Done<eos>", "Done", "", [], ChatOutputStop.EndOfSequence },
        { "Use <turn|> to end", "Use ", "", [], ChatOutputStop.EndOfTurn },
        { "a < b and c <b> d <|e", "a < b and c <b> d <|e", "", [], ChatOutputStop.None },
        { "ends with <tu", "ends with <tu", "", [], ChatOutputStop.None },
        { "", "", "", [], ChatOutputStop.None },
        { "<|channel>thought\n<channel|><|channel>thought\nsecond<channel|>x", "x", "second", [], ChatOutputStop.None },
    };

    [Theory]
    [MemberData(nameof(Replies))]
    public void Parse_SplitsReply(string text, string content, string reasoning, string[] calls, ChatOutputStop stop)
    {
        var output = Gemma4OutputSplitter.Parse(text);

        Assert.Equal(content, output.Content);
        Assert.Equal(reasoning, output.Reasoning);
        Assert.Equal(calls, output.ToolCalls.Select(Describe));
        Assert.Equal(stop, output.Stop);
    }

    [Theory]
    [MemberData(nameof(Replies))]
    public void Append_AnyChunkingMatchesOneShot(string text, string content, string reasoning, string[] calls, ChatOutputStop stop)
    {
        _ = (content, reasoning, calls, stop);
        var expected = Normalize(OneShot(text));

        Assert.Equal(expected, Normalize(Stream(text, Enumerable.Repeat(1, text.Length))));
        for (var split = 0; split <= text.Length; split++)
        {
            Assert.Equal(expected, Normalize(Stream(text, [split, text.Length - split])));
        }

        var random = new Random(text.Length);
        for (var round = 0; round < 50; round++)
        {
            var sizes = new List<int>();
            for (var total = 0; total < text.Length; total += sizes[^1])
            {
                sizes.Add(random.Next(0, 9));
            }

            Assert.Equal(expected, Normalize(Stream(text, sizes)));
        }
    }

    [Theory]
    [MemberData(nameof(Replies))]
    public void AppendToken_MatchesTextWhenMarkersAreSpecial(string text, string content, string reasoning, string[] calls, ChatOutputStop stop)
    {
        _ = (content, reasoning, calls, stop);
        var expected = Normalize(OneShot(text));
        var random = new Random(7);
        var splitter = new Gemma4OutputSplitter();
        var events = new List<ChatOutputEvent>();

        foreach (var (piece, isSpecial) in Tokenize(text, random))
        {
            events.AddRange(splitter.AppendToken(piece, isSpecial));
        }

        events.AddRange(splitter.Finish());

        Assert.Equal(expected, Normalize(events));
    }

    [Fact]
    public void Append_HoldsBackPartialMarker()
    {
        var splitter = new Gemma4OutputSplitter();

        var first = splitter.Append("Hello <tu");
        var second = splitter.Append("rn|> more");

        Assert.Equal([new ContentDelta("Hello ")], first);
        Assert.Empty(second);
        Assert.Equal(ChatOutputStop.EndOfTurn, splitter.Stop);
        Assert.True(splitter.IsEnded);
    }

    [Fact]
    public void Append_ReleasesHeldTextThatIsNoMarker()
    {
        var splitter = new Gemma4OutputSplitter();

        var first = splitter.Append("a <b");
        var second = splitter.Append("ox");
        var last = splitter.Finish();

        Assert.Equal([new ContentDelta("a ")], first);
        Assert.Equal([new ContentDelta("<box")], second);
        Assert.Empty(last);
    }

    [Fact]
    public void Append_ReleasesHeldTextAtFinish()
    {
        var splitter = new Gemma4OutputSplitter();

        Assert.Equal([new ContentDelta("a ")], splitter.Append("a <|tool"));
        Assert.Equal([new ContentDelta("<|tool")], splitter.Finish());
    }

    [Fact]
    public void Append_ChannelNameWaitsForNewline()
    {
        var splitter = new Gemma4OutputSplitter();

        Assert.Empty(splitter.Append("<|channel>thought"));
        Assert.Equal([new ReasoningDelta("step")], splitter.Append("\nstep"));
    }

    [Fact]
    public void Append_MergesDeltasWithinBatch()
    {
        var splitter = new Gemma4OutputSplitter();

        var events = splitter.Append("a<bos>b<|image|>c");

        Assert.Equal([new ContentDelta("abc")], events);
    }

    [Fact]
    public void AppendToken_LiteralMarkerTextStaysContent()
    {
        var splitter = new Gemma4OutputSplitter();
        (string Text, bool Special)[] tokens =
        [
            ("<|channel>", true), ("thought", false), ("\n", false), ("plan", false), ("<channel|>", true),
            ("Use ", false), ("<turn|>", false), (" and ", false), ("<|tool_call>", false), (" literally", false),
            ("<unused7>", true), ("\n\n", true), ("<turn|>", true), ("after", false),
        ];
        var events = new List<ChatOutputEvent>();

        foreach (var (text, special) in tokens)
        {
            events.AddRange(splitter.AppendToken(text, special));
        }

        events.AddRange(splitter.Finish());
        var output = ChatOutput.FromEvents(events, splitter.Stop);

        Assert.Equal("plan", output.Reasoning);
        Assert.Equal("Use <turn|> and <|tool_call> literally\n\n", output.Content);
        Assert.Equal(ChatOutputStop.EndOfTurn, output.Stop);
    }

    [Fact]
    public void AppendToken_ToolCallWithDelimiterTokens()
    {
        var splitter = new Gemma4OutputSplitter();
        (string Text, bool Special)[] tokens =
        [
            ("<|tool_call>", true), ("call", false), (":", false), ("f", false), ("{", false), ("a", false), (":", false),
            (Q, true), ("x}", false), (Q, true), ("}", false), ("<tool_call|>", true), ("<|tool_response>", true),
        ];
        var events = new List<ChatOutputEvent>();

        foreach (var (text, special) in tokens)
        {
            events.AddRange(splitter.AppendToken(text, special));
        }

        var call = Assert.IsType<ToolCallCompleted>(Assert.Single(events));
        Assert.True(call.Result.Succeeded);
        Assert.Equal("{\"a\":\"x}\"}", call.Result.ArgumentsJson);
        Assert.Equal(ChatOutputStop.ToolResponse, splitter.Stop);
    }

    [Fact]
    public void TruncatedCall_ReportedAtFinish()
    {
        var splitter = new Gemma4OutputSplitter();

        Assert.Empty(splitter.Append("<|tool_call>call:f{a:1"));
        var call = Assert.IsType<ToolCallCompleted>(Assert.Single(splitter.Finish()));

        Assert.False(call.Result.Succeeded);
        Assert.Equal("call:f{a:1", call.Result.RawText);
        Assert.Contains("cut off before <tool_call|>", call.Result.Error);
    }

    [Fact]
    public void StartInsideThoughtChannel()
    {
        var output = Gemma4OutputSplitter.Parse("more thinking<channel|>Answer<turn|>", startInsideThoughtChannel: true);

        Assert.Equal("more thinking", output.Reasoning);
        Assert.Equal("Answer", output.Content);
    }

    [Theory]
    [InlineData("<|turn>model\n<|channel>thought\n", "abc<channel|>x", "abc", "x")]
    [InlineData("<|turn>model\n<|channel>thought", "\nabc<channel|>x", "abc", "x")]
    [InlineData("<|turn>model\n<|channel>", "thought\nabc<channel|>x", "abc", "x")]
    [InlineData("<|turn>model\n<|channel>thought\nprefilled", "abc<channel|>x", "abc", "x")]
    [InlineData("<|channel>thought\nold<channel|><|turn>model\n", "abc", "", "abc")]
    [InlineData("<|turn>model\n", "<|channel>thought\nabc<channel|>x", "abc", "x")]
    public void ForPrompt_StartsWhereThePromptEnds(string prompt, string reply, string reasoning, string content)
    {
        var splitter = Gemma4OutputSplitter.ForPrompt(prompt);
        var events = splitter.Append(reply).Concat(splitter.Finish());

        var output = ChatOutput.FromEvents(events, splitter.Stop);

        Assert.Equal(reasoning, output.Reasoning);
        Assert.Equal(content, output.Content);
    }

    [Fact]
    public void Finish_Twice_Throws()
    {
        var splitter = new Gemma4OutputSplitter();
        splitter.Finish();

        Assert.Throws<InvalidOperationException>(() => splitter.Finish());
        Assert.Throws<InvalidOperationException>(() => splitter.Append("x"));
        Assert.Throws<InvalidOperationException>(() => splitter.AppendToken("x", isSpecial: false));
    }

    [Fact]
    public void AfterEndToken_TextIsIgnored()
    {
        var splitter = new Gemma4OutputSplitter();
        splitter.Append("a<turn|>");

        Assert.Empty(splitter.Append("b"));
        Assert.Empty(splitter.AppendToken("<|channel>", isSpecial: true));
        Assert.Empty(splitter.Finish());
    }

    private static string Describe(ToolCallParseResult result) =>
        result.Succeeded ? $"{result.Name} {result.ArgumentsJson}" : $"! {result.RawText}";

    private static List<ChatOutputEvent> OneShot(string text)
    {
        var splitter = new Gemma4OutputSplitter();
        return [.. splitter.Append(text), .. splitter.Finish()];
    }

    private static List<ChatOutputEvent> Stream(string text, IEnumerable<int> sizes)
    {
        var splitter = new Gemma4OutputSplitter();
        var events = new List<ChatOutputEvent>();
        var position = 0;
        foreach (var size in sizes)
        {
            var length = Math.Min(size, text.Length - position);
            events.AddRange(splitter.Append(text.Substring(position, length)));
            position += length;
        }

        events.AddRange(splitter.Finish());
        return events;
    }

    /// <summary>Merges adjacent deltas of one kind, so event lists from different chunkings compare equal.</summary>
    private static List<string> Normalize(IEnumerable<ChatOutputEvent> events)
    {
        var result = new List<string>();
        foreach (var item in events)
        {
            var (kind, text) = item switch
            {
                ContentDelta delta => ("content", delta.Text),
                ReasoningDelta delta => ("reasoning", delta.Text),
                ToolCallCompleted call => ("call", Describe(call.Result)),
                _ => throw new InvalidOperationException($"unexpected event {item}"),
            };

            Assert.NotEqual("", text);
            if (kind != "call" && result.Count > 0 && result[^1].StartsWith(kind + ":", StringComparison.Ordinal))
            {
                result[^1] += text;
            }
            else
            {
                result.Add($"{kind}:{text}");
            }
        }

        return result;
    }

    /// <summary>Splits a text into tokens: every marker a special token, the text between in random plain pieces.</summary>
    private static IEnumerable<(string Text, bool IsSpecial)> Tokenize(string text, Random random)
    {
        var plain = new StringBuilder();
        for (var i = 0; i < text.Length;)
        {
            var marker = Gemma4ControlTokens.All.Where(m => text.AsSpan(i).StartsWith(m, StringComparison.Ordinal)).MaxBy(m => m.Length);
            if (marker is null)
            {
                plain.Append(text[i]);
                i++;
                continue;
            }

            foreach (var piece in RandomPieces(plain.ToString(), random))
            {
                yield return (piece, false);
            }

            plain.Clear();
            yield return (marker, true);
            i += marker.Length;
        }

        foreach (var piece in RandomPieces(plain.ToString(), random))
        {
            yield return (piece, false);
        }
    }

    private static IEnumerable<string> RandomPieces(string text, Random random)
    {
        for (var position = 0; position < text.Length;)
        {
            var length = Math.Min(random.Next(1, 5), text.Length - position);
            yield return text.Substring(position, length);
            position += length;
        }
    }
}
