using System.Text.Json;
using Waldwicht.Server.Tests.Infrastructure;

namespace Waldwicht.Server.Tests.Http;

/// <summary>The SSE wire format, keep-alives, stop sequences and client disconnects, checked with raw HTTP.</summary>
public sealed class StreamingTests : IAsyncLifetime
{
    private TestServer _server = null!;

    public async Task InitializeAsync() => _server = await TestServer.StartAsync(o => o.KeepAliveInterval = TimeSpan.FromMilliseconds(100));

    public async Task DisposeAsync() => await _server.DisposeAsync();

    [Fact]
    public async Task ChunkSequenceIsExact()
    {
        _server.Script = (_, _) => new ScriptedProcessor(Script.Tokens("{<|channel>}thought\nhm{<channel|>}Hi!{<|tool_call>}call:f{x:1}{<tool_call|>}{<|tool_response>}"));
        string body = """{"model":"tiny-gemma4","messages":[{"role":"user","content":"hi"}],"temperature":0,"stream":true,"stream_options":{"include_usage":true}}""";

        var lines = await _server.StreamLinesAsync("v1/chat/completions", body);

        var data = lines.Where(l => l.StartsWith("data: ", StringComparison.Ordinal)).Select(l => l[6..]).ToList();
        Assert.Equal("[DONE]", data[^1]);
        var chunks = data[..^1].Select(d => JsonDocument.Parse(d).RootElement).ToList();
        string id = chunks[0].GetProperty("id").GetString()!;
        Assert.StartsWith("chatcmpl-", id);
        Assert.All(chunks, c => Assert.Equal(id, c.GetProperty("id").GetString()));
        Assert.All(chunks, c => Assert.Equal("chat.completion.chunk", c.GetProperty("object").GetString()));
        Assert.All(chunks, c => Assert.Equal("tiny-gemma4", c.GetProperty("model").GetString()));

        // 1. The role chunk.
        var role = chunks[0].GetProperty("choices")[0];
        Assert.Equal("assistant", role.GetProperty("delta").GetProperty("role").GetString());
        Assert.Equal(JsonValueKind.Null, role.GetProperty("finish_reason").ValueKind);

        // 2. Deltas, then exactly one chunk with a finish reason, then the usage chunk with no choices.
        var usageChunk = chunks[^1];
        Assert.Equal(0, usageChunk.GetProperty("choices").GetArrayLength());
        Assert.True(usageChunk.GetProperty("usage").GetProperty("prompt_tokens").GetInt32() > 0);
        var finishChunks = chunks.Where(c => c.GetProperty("choices").GetArrayLength() > 0
            && c.GetProperty("choices")[0].GetProperty("finish_reason").ValueKind == JsonValueKind.String).ToList();
        Assert.Single(finishChunks);
        Assert.Equal(chunks[^2].GetRawText(), finishChunks[0].GetRawText());
        Assert.Equal("tool_calls", finishChunks[0].GetProperty("choices")[0].GetProperty("finish_reason").GetString());

        // 3. The tool call: first chunk with id, type and name, then the arguments.
        var toolDeltas = chunks.Select(c => c.GetProperty("choices")).Where(c => c.GetArrayLength() > 0)
            .Select(c => c[0].GetProperty("delta")).Where(d => d.TryGetProperty("tool_calls", out _))
            .Select(d => d.GetProperty("tool_calls")[0]).ToList();
        Assert.Equal(2, toolDeltas.Count);
        Assert.Equal(0, toolDeltas[0].GetProperty("index").GetInt32());
        Assert.Equal("function", toolDeltas[0].GetProperty("type").GetString());
        Assert.Equal("f", toolDeltas[0].GetProperty("function").GetProperty("name").GetString());
        Assert.False(toolDeltas[1].TryGetProperty("id", out _));
        Assert.Equal("{\"x\":1}", toolDeltas[1].GetProperty("function").GetProperty("arguments").GetString());

        var replay = StreamReplay.FromLines(lines);
        Assert.Equal("Hi!", replay.Content);
        Assert.Equal("hm", replay.Reasoning);
    }

    [Theory]
    [InlineData("v1/chat/completions")]
    [InlineData("v1/completions")]
    public async Task LogprobsRideWithTheirText(string path)
    {
        _server.Script = (_, _) => new ScriptedProcessor(Script.Tokens("Hello world, again{<turn|>}"));
        string body = path.Contains("chat", StringComparison.Ordinal)
            ? """{"messages":[{"role":"user","content":"hi"}],"temperature":0,"stream":true,"logprobs":true,"top_logprobs":2}"""
            : """{"prompt":"hi","temperature":0,"stream":true,"logprobs":true,"top_logprobs":2}""";

        var lines = await _server.StreamLinesAsync(path, body);

        var choices = lines.Where(l => l.StartsWith("data: {", StringComparison.Ordinal))
            .Select(l => JsonDocument.Parse(l[6..]).RootElement.GetProperty("choices"))
            .Where(c => c.GetArrayLength() > 0)
            .Select(c => c[0])
            .ToList();
        string allText = "";
        string allTokens = "";
        foreach (var choice in choices)
        {
            string text = path.Contains("chat", StringComparison.Ordinal)
                ? choice.GetProperty("delta").TryGetProperty("content", out var content) ? content.GetString()! : ""
                : choice.GetProperty("text").GetString()!;
            var logprobs = choice.GetProperty("logprobs");
            // Chat chunks list token objects under "content"; text completions use the legacy "tokens" array.
            string tokens = logprobs.ValueKind == JsonValueKind.Null
                ? ""
                : logprobs.TryGetProperty("content", out var entries)
                    ? string.Concat(entries.EnumerateArray().Select(t => t.GetProperty("token").GetString()))
                    : string.Concat(logprobs.GetProperty("tokens").EnumerateArray().Select(t => t.GetString()));
            if (text.Length > 0)
            {
                // Nothing is held back in this reply, so each chunk carries exactly the tokens of its text.
                Assert.Equal(text, tokens);
            }

            allText += text;
            allTokens += tokens;
        }

        Assert.Equal("Hello world, again", allText);
        Assert.StartsWith(allText, allTokens, StringComparison.Ordinal);

        // The script rules out every other token, whose log-probability −∞ is written as −9999.
        if (path.Contains("chat", StringComparison.Ordinal))
        {
            var alternative = choices.Select(c => c.GetProperty("logprobs")).First(l => l.ValueKind != JsonValueKind.Null)
                .GetProperty("content")[0].GetProperty("top_logprobs")[1];
            Assert.Equal(-9999f, alternative.GetProperty("logprob").GetSingle());
        }
    }

    [Fact]
    public async Task LogprobsRideWithReasoningAndToolCalls()
    {
        _server.Script = (_, _) => new ScriptedProcessor(Script.Tokens("{<|channel>}thought\nhm{<channel|>}Hi!{<|tool_call>}call:f{x:1}{<tool_call|>}{<|tool_response>}"));
        string body = """{"messages":[{"role":"user","content":"hi"}],"temperature":0,"stream":true,"logprobs":true,"stream_options":{"include_usage":true}}""";

        var lines = await _server.StreamLinesAsync("v1/chat/completions", body);

        var chunks = lines.Where(l => l.StartsWith("data: {", StringComparison.Ordinal)).Select(l => JsonDocument.Parse(l[6..]).RootElement).ToList();
        var choices = chunks.Select(c => c.GetProperty("choices")).Where(c => c.GetArrayLength() > 0).Select(c => c[0]).ToList();
        static int Count(JsonElement choice) =>
            choice.GetProperty("logprobs").ValueKind == JsonValueKind.Null ? 0 : choice.GetProperty("logprobs").GetProperty("content").GetArrayLength();

        var reasoning = choices.Where(c => c.GetProperty("delta").TryGetProperty("reasoning", out _)).ToList();
        var content = choices.Where(c => c.GetProperty("delta").TryGetProperty("content", out var text) && text.GetString()!.Length > 0).ToList();
        var toolStart = choices.First(c => c.GetProperty("delta").TryGetProperty("tool_calls", out var calls) && calls[0].TryGetProperty("id", out _));
        Assert.All(reasoning, c => Assert.True(Count(c) > 0, "a reasoning chunk without its tokens' logprobs"));
        Assert.All(content, c => Assert.True(Count(c) > 0, "a content chunk without its tokens' logprobs"));
        Assert.True(Count(toolStart) > 0, "the tool call's first chunk without its tokens' logprobs");

        // Every generated token's log-probability is sent once.
        int completionTokens = chunks[^1].GetProperty("usage").GetProperty("completion_tokens").GetInt32();
        Assert.InRange(choices.Sum(Count), completionTokens, completionTokens + 1);
    }

    [Fact]
    public async Task UsageChunkOnlyWhenAsked()
    {
        _server.Script = (_, _) => new ScriptedProcessor(Script.Tokens("ok{<turn|>}"));
        string body = """{"messages":[{"role":"user","content":"hi"}],"temperature":0,"stream":true}""";

        var lines = await _server.StreamLinesAsync("v1/chat/completions", body);

        Assert.DoesNotContain(lines, l => l.Contains("\"usage\"", StringComparison.Ordinal));
        Assert.Equal("data: [DONE]", lines[^1]);
    }

    [Fact]
    public async Task KeepAliveCommentsWhileIdle()
    {
        _server.Script = (_, _) => new ScriptedProcessor(Script.Tokens("slow{<turn|>}")) { Delay = TimeSpan.FromMilliseconds(150) };
        string body = """{"messages":[{"role":"user","content":"hi"}],"temperature":0,"stream":true}""";

        var lines = await _server.StreamLinesAsync("v1/chat/completions", body);

        Assert.Contains(": keep-alive", lines);
        Assert.Equal("slow", StreamReplay.FromLines(lines).Content);
    }

    public static TheoryData<string, string[], string> StopCases => new()
    {
        { "Hello world END tail", ["d EN"], "Hello worl" },
        { "Hello world END tail", ["END", "wor"], "Hello " },
        { "abcabcabd", ["abd"], "abcabc" },
        { "no match here", ["xyz"], "no match here" },
        { "ends with a partial sto", ["stop"], "ends with a partial sto" },
        { "Grüße, Welt", ["ü"], "Gr" },
    };

    [Theory]
    [MemberData(nameof(StopCases))]
    public async Task StopSequenceEndsAtMatch(string text, string[] stops, string expected)
    {
        _server.Script = (_, _) => new ScriptedProcessor(Script.Tokens(text + "{<turn|>}"));
        string stopJson = JsonSerializer.Serialize(stops);
        string body = $$"""{"messages":[{"role":"user","content":"hi"}],"temperature":0,"stop":{{stopJson}}}""";
        string streamBody = $$"""{"messages":[{"role":"user","content":"hi"}],"temperature":0,"stop":{{stopJson}},"stream":true}""";

        var (_, json) = await _server.PostJsonAsync("v1/chat/completions", body);
        var lines = await _server.StreamLinesAsync("v1/chat/completions", streamBody);

        var complete = StreamReplay.FromCompletion(json);
        var streamed = StreamReplay.FromLines(lines);
        Assert.Equal(expected, complete.Content);
        Assert.Equal(expected, streamed.Content);
        Assert.Equal("stop", complete.FinishReason);
        Assert.Equal("stop", streamed.FinishReason);
    }

    [Fact]
    public async Task CompletionEndpointAppliesStop()
    {
        _server.Script = (_, _) => new ScriptedProcessor(Script.Tokens("one two three{<turn|>}"));

        var (status, json) = await _server.PostJsonAsync("v1/completions", """{"prompt":"count:","temperature":0,"stop":"three"}""");

        Assert.Equal(200, status);
        Assert.Equal("text_completion", json.GetProperty("object").GetString());
        Assert.StartsWith("cmpl-", json.GetProperty("id").GetString());
        Assert.Equal("one two ", json.GetProperty("choices")[0].GetProperty("text").GetString());
        Assert.Equal("stop", json.GetProperty("choices")[0].GetProperty("finish_reason").GetString());
    }

    [Fact]
    public async Task ClientDisconnectCancelsGeneration()
    {
        var processor = new ScriptedProcessor([]) { Delay = TimeSpan.FromMilliseconds(20), BannedAfterScript = StopTokens.All };
        _server.Script = (_, _) => processor;
        string body = """{"messages":[{"role":"user","content":"hi"}],"temperature":0,"max_tokens":5000,"stream":true}""";
        using var request = new HttpRequestMessage(HttpMethod.Post, "v1/chat/completions") { Content = new StringContent(body, System.Text.Encoding.UTF8, "application/json") };

        using (var response = await _server.Http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead))
        {
            using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
            Assert.StartsWith("data: ", await reader.ReadLineAsync());
        }

        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (_server.Server.Engine.RunningRequests > 0 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(20);
        }

        while (!_server.Logs.Entries.Any(e => e.Id.Name == "RequestCancelled") && DateTime.UtcNow < deadline)
        {
            await Task.Delay(20);
        }

        Assert.Equal(0, _server.Server.Engine.RunningRequests);
        Assert.True(processor.Calls < 5000, $"generation ran for {processor.Calls} steps");
        Assert.Contains(_server.Logs.Entries, e => e.Id.Name == "RequestCancelled");
    }

    [Fact]
    public async Task InternalFailureMidStreamEndsWithErrorEvent()
    {
        _server.Script = (_, _) => new ScriptedProcessor(Script.Tokens("abc")) { ThrowAtStep = 2 };
        string body = """{"messages":[{"role":"user","content":"hi"}],"temperature":0,"stream":true}""";

        var lines = await _server.StreamLinesAsync("v1/chat/completions", body);

        Assert.Equal("data: [DONE]", lines[^1]);
        var error = JsonDocument.Parse(lines[^2][6..]).RootElement.GetProperty("error");
        Assert.Equal("server_error", error.GetProperty("type").GetString());
        Assert.Contains(_server.Logs.Entries, e => e.Id.Name == "RequestFailed");
    }

    [Fact]
    public async Task InternalFailureWithoutStreamIs500()
    {
        _server.Script = (_, _) => new ScriptedProcessor(Script.Tokens("abc")) { ThrowAtStep = 1 };

        var (status, json) = await _server.PostJsonAsync("v1/chat/completions", """{"messages":[{"role":"user","content":"hi"}],"temperature":0}""");

        Assert.Equal(500, status);
        Assert.Equal("internal_error", json.GetProperty("error").GetProperty("code").GetString());

        // The failed sequence was reset: the next request works.
        _server.Script = null;
        var (next, _) = await _server.PostJsonAsync("v1/chat/completions", """{"messages":[{"role":"user","content":"hi"}],"temperature":0,"max_tokens":3}""");
        Assert.Equal(200, next);
    }
}
