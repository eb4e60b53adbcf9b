using System.Text.Json;
using Waldwicht.Server.Tests.Infrastructure;

namespace Waldwicht.Server.Tests.Http;

/// <summary>
/// Scripted replies through the live server: the split into content, reasoning and tool calls, streaming and
/// non-streaming alike.
/// </summary>
public sealed class ToolAndReasoningTests : IAsyncLifetime
{
    private TestServer _server = null!;

    public async Task InitializeAsync() => _server = await TestServer.StartAsync();

    public async Task DisposeAsync() => await _server.DisposeAsync();

    public static TheoryData<string, string, string, string, string, bool> Cases => new()
    {
        // name, script, expected content, expected reasoning, expected calls as "name(args)|…", thinking
        {
            "nested arguments",
            "{<|tool_call>}call:get_weather{city:{<|\"|>}Paris, {France}{<|\"|>},opts:{units:[1,2],deep:{a:true}}}{<tool_call|>}{<|tool_response>}",
            "", "", "get_weather({\"city\":\"Paris, {France}\",\"opts\":{\"units\":[1,2],\"deep\":{\"a\":true}}})", false
        },
        {
            "several calls",
            "Let me check.{<|tool_call>}call:a{x:1}{<tool_call|>}{<|tool_call>}call:b{y:{<|\"|>}two{<|\"|>}}{<tool_call|>}{<|tool_response>}",
            "Let me check.", "", "a({\"x\":1})|b({\"y\":\"two\"})", false
        },
        {
            "namespaced name",
            "{<|tool_call>}call:ns:tool.get-x{q:{<|\"|>}v{<|\"|>}}{<tool_call|>}{<|tool_response>}",
            "", "", "ns:tool.get-x({\"q\":\"v\"})", false
        },
        {
            "malformed call",
            "Hi{<|tool_call>}call:f{a:}{<tool_call|>}{<turn|>}",
            "Hicall:f{a:}", "", "", false
        },
        {
            "thinking on",
            "{<|channel>}thought\nplan it{<channel|>}The answer.{<turn|>}",
            "The answer.", "plan it", "", true
        },
        {
            "thought channel with thinking off",
            "{<|channel>}thought\nquiet{<channel|>}Done{<turn|>}",
            "Done", "quiet", "", false
        },
        {
            "literal end-of-turn text",
            "say <turn|> and <end_of_turn> here{<turn|>}",
            "say <turn|> and <end_of_turn> here", "", "", false
        },
        {
            "reasoning then call",
            "{<|channel>}thought\nneed data{<channel|>}{<|tool_call>}call:lookup{id:7}{<tool_call|>}{<|tool_response>}",
            "", "need data", "lookup({\"id\":7})", true
        },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task ScriptedReplySplitsAlike(string name, string script, string content, string reasoning, string calls, bool thinking)
    {
        _server.Script = (_, _) => new ScriptedProcessor(Script.Tokens(script));
        string body = Body(thinking, stream: false);

        var (status, json) = await _server.PostJsonAsync("v1/chat/completions", body);
        var lines = await _server.StreamLinesAsync("v1/chat/completions", Body(thinking, stream: true));

        Assert.True(status == 200, name);
        var complete = StreamReplay.FromCompletion(json);
        var streamed = StreamReplay.FromLines(lines);
        Assert.Equal(content, complete.Content);
        Assert.Equal(reasoning, complete.Reasoning);
        Assert.Equal(calls, string.Join('|', complete.ToolCalls.Select(c => $"{c.Name}({c.Arguments})")));
        Assert.Equal(complete.Content, streamed.Content);
        Assert.Equal(complete.Reasoning, streamed.Reasoning);
        Assert.Equal(complete.ToolCalls.Select(c => (c.Name, c.Arguments)), streamed.ToolCalls.Select(c => (c.Name, c.Arguments)));
        Assert.Equal(complete.FinishReason, streamed.FinishReason);
        Assert.Equal(calls.Length > 0 ? "tool_calls" : "stop", complete.FinishReason);
        Assert.All(complete.ToolCalls, c => Assert.Matches("^call_[A-Za-z0-9]{24}$", c.Id));
        Assert.DoesNotContain("<|", complete.Content.Replace("<turn|>", "", StringComparison.Ordinal), StringComparison.Ordinal);
    }

    [Fact]
    public async Task MalformedCallLogsWarning()
    {
        _server.Script = (_, _) => new ScriptedProcessor(Script.Tokens("{<|tool_call>}call:f{a:}{<tool_call|>}{<turn|>}"));

        var (status, json) = await _server.PostJsonAsync("v1/chat/completions", Body(false, false));

        Assert.Equal(200, status);
        Assert.Equal("call:f{a:}", json.GetProperty("choices")[0].GetProperty("message").GetProperty("content").GetString());
        Assert.Contains(_server.Logs.Entries, e => e.Id.Name == "ToolCallUnparsed");
    }

    [Fact]
    public async Task TruncatedCallIsContentWithLength()
    {
        // The token limit ends the reply inside the call.
        _server.Script = (_, _) => new ScriptedProcessor(Script.Tokens("{<|tool_call>}call:f{a:1,b:2}{<tool_call|>}"));
        string body = """{"messages":[{"role":"user","content":"hi"}],"temperature":0,"max_tokens":10}""";
        string streamBody = """{"messages":[{"role":"user","content":"hi"}],"temperature":0,"max_tokens":10,"stream":true}""";

        var (_, json) = await _server.PostJsonAsync("v1/chat/completions", body);
        var streamed = StreamReplay.FromLines(await _server.StreamLinesAsync("v1/chat/completions", streamBody));

        var choice = json.GetProperty("choices")[0];
        Assert.Equal("length", choice.GetProperty("finish_reason").GetString());
        Assert.Equal("call:f{a:", choice.GetProperty("message").GetProperty("content").GetString());
        Assert.False(choice.GetProperty("message").TryGetProperty("tool_calls", out _));
        Assert.Equal("call:f{a:", streamed.Content);
        Assert.Equal("length", streamed.FinishReason);
    }

    [Fact]
    public async Task UnterminatedThoughtAtLimitIsReasoningOnly()
    {
        _server.Script = (_, _) => new ScriptedProcessor(Script.Tokens("{<|channel>}thought\nstill thinking about it"));
        string body = """{"messages":[{"role":"user","content":"hi"}],"temperature":0,"max_tokens":17,"chat_template_kwargs":{"enable_thinking":true}}""";

        var (_, json) = await _server.PostJsonAsync("v1/chat/completions", body);

        var choice = json.GetProperty("choices")[0];
        var message = choice.GetProperty("message");
        Assert.Equal("length", choice.GetProperty("finish_reason").GetString());
        Assert.Equal(JsonValueKind.Null, message.GetProperty("content").ValueKind);
        Assert.Equal("still th", message.GetProperty("reasoning").GetString());
        Assert.Equal("still th", message.GetProperty("reasoning_content").GetString());
        Assert.Equal(17, json.GetProperty("usage").GetProperty("completion_tokens_details").GetProperty("reasoning_tokens").GetInt32());
    }

    [Fact]
    public async Task ReasoningBudgetClosesChannel()
    {
        var stops = StopTokens.All.Append(TinyModel.Instance.Tokenizer.TokenToId("<channel|>")!.Value).ToArray();
        _server.Script = (_, _) => new ScriptedProcessor(Script.Tokens("{<|channel>}")) { BannedAfterScript = stops };
        string body = """{"messages":[{"role":"user","content":"hi"}],"temperature":0,"max_tokens":20,"reasoning_effort":"low","max_reasoning_tokens":5}""";

        var (_, json) = await _server.PostJsonAsync("v1/chat/completions", body);

        var usage = json.GetProperty("usage");
        var message = json.GetProperty("choices")[0].GetProperty("message");
        // Five tokens inside the channel (the opening marker included), then the forced closing marker.
        Assert.Equal(6, usage.GetProperty("completion_tokens_details").GetProperty("reasoning_tokens").GetInt32());
        Assert.Equal(20, usage.GetProperty("completion_tokens").GetInt32());
        Assert.True(message.TryGetProperty("reasoning", out _));
    }

    [Fact]
    public async Task RequiredToolChoiceForcesNamedCall()
    {
        string body = """
            {"messages":[{"role":"user","content":"weather?"}],"temperature":0,"max_tokens":7,
             "tools":[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object","properties":{"city":{"type":"string"}}}}}],
             "tool_choice":{"type":"function","function":{"name":"get_weather"}}}
            """;
        var forced = new List<int>();
        _server.Script = (_, _) => new RecordingProcessor(forced);

        var (status, json) = await _server.PostJsonAsync("v1/chat/completions", body);

        Assert.Equal(200, status);
        var expected = new[] { TinyModel.Instance.Tokenizer.TokenToId("<|tool_call>")!.Value }
            .Concat(TinyModel.Instance.Tokenizer.Encode("call:get_weather{", addSpecialTokens: false)).Take(6);
        Assert.Equal(expected, forced.Take(6));
        Assert.Equal("length", json.GetProperty("choices")[0].GetProperty("finish_reason").GetString());
    }

    [Fact]
    public async Task NoneToolChoiceSuppressesCalls()
    {
        int toolCall = TinyModel.Instance.Tokenizer.TokenToId("<|tool_call>")!.Value;
        var seen = new List<int>();
        _server.Script = (_, _) => new BoostProcessor(toolCall, seen);
        string body = """
            {"messages":[{"role":"user","content":"weather?"}],"temperature":0,"max_tokens":4,
             "tools":[{"type":"function","function":{"name":"get_weather"}}],"tool_choice":"none"}
            """;

        var (status, _) = await _server.PostJsonAsync("v1/chat/completions", body);

        Assert.Equal(200, status);
        Assert.DoesNotContain(toolCall, seen);
    }

    private static string Body(bool thinking, bool stream) =>
        $$$"""{"messages":[{"role":"user","content":"hi"}],"temperature":0,"max_tokens":200,"stream":{{{(stream ? "true" : "false")}}},"chat_template_kwargs":{"enable_thinking":{{{(thinking ? "true" : "false")}}}}}""";

    /// <summary>Records the token the engine's constraints leave as the single choice, by reading the next call's history.</summary>
    private sealed class RecordingProcessor(List<int> generatedTokens) : Waldwicht.Runtime.Generation.ILogitsProcessor
    {
        public void Process(ReadOnlySpan<int> generated, Span<float> logits)
        {
            if (generated.Length > 0)
            {
                generatedTokens.Add(generated[^1]);
            }
        }
    }

    /// <summary>Pushes one token to the top and records what was generated.</summary>
    private sealed class BoostProcessor(int token, List<int> generatedTokens) : Waldwicht.Runtime.Generation.ILogitsProcessor
    {
        public void Process(ReadOnlySpan<int> generated, Span<float> logits)
        {
            if (generated.Length > 0)
            {
                generatedTokens.Add(generated[^1]);
            }

            logits[token] = 1000;
        }
    }
}
