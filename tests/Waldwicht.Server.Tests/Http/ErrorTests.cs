using System.Net;
using System.Text;
using System.Text.Json;
using Waldwicht.Server.Tests.Infrastructure;

namespace Waldwicht.Server.Tests.Http;

/// <summary>Every error class returns its status code and an OpenAI-style error body.</summary>
public sealed class ErrorTests : IAsyncLifetime
{
    private TestServer _server = null!;

    public async Task InitializeAsync() => _server = await TestServer.StartAsync(o =>
    {
        o.ContextLength = 64;
        o.MaxRequestBodyBytes = 4096;
    });

    public async Task DisposeAsync() => await _server.DisposeAsync();

    public static TheoryData<string, int, string?, string> BadRequests => new()
    {
        // body, status, param, text the message must contain
        { "{not json", 400, null, "not valid JSON at line 1, byte 2: " },
        { "{\"messages\":[{\"role\":\"user\"}", 400, null, "There is an open JSON object or array that should be closed." },
        { "[1,2]", 400, null, "must be a JSON object" },
        { """{"temperature":0}""", 400, "messages", "messages is required" },
        { """{"messages":[]}""", 400, "messages", "at least one message" },
        { """{"messages":"hi"}""", 400, "messages", "must be an array" },
        { """{"messages":[{"role":"robot","content":"x"}]}""", 400, "messages[0].role", "system, developer, user, assistant or tool" },
        { """{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"x"}}]}]}""", 400, "messages[0].content[0].type", "text-only" },
        { """{"messages":[{"role":"user","content":"x"}],"temperature":3}""", 400, "temperature", "at most 2" },
        { """{"messages":[{"role":"user","content":"x"}],"temperature":"hot"}""", 400, "temperature", "must be a number" },
        { """{"messages":[{"role":"user","content":"x"}],"top_p":0}""", 400, "top_p", "greater than 0" },
        { """{"messages":[{"role":"user","content":"x"}],"max_tokens":-1}""", 400, "max_tokens", "between 0 and" },
        { """{"messages":[{"role":"user","content":"x"}],"max_tokens":1.5}""", 400, "max_tokens", "integer" },
        { """{"messages":[{"role":"user","content":"x"}],"n":0}""", 400, "n", "between 1 and 16" },
        { """{"messages":[{"role":"user","content":"x"}],"stop":[""]}""", 400, "stop", "non-empty" },
        { """{"messages":[{"role":"user","content":"x"}],"logit_bias":{"99999":1}}""", 400, "logit_bias", "between 0 and 511" },
        { """{"messages":[{"role":"user","content":"x"}],"top_logprobs":3}""", 400, "top_logprobs", "needs logprobs" },
        { """{"messages":[{"role":"user","content":"x"}],"stream":"yes"}""", 400, "stream", "must be a boolean" },
        { """{"messages":[{"role":"user","content":"x"}],"stream_options":{"include_usage":true}}""", 400, "stream_options", "only allowed when stream" },
        { """{"messages":[{"role":"user","content":"x"}],"tool_choice":"required"}""", 400, "tool_choice", "needs at least one tool" },
        { """{"messages":[{"role":"user","content":"x"}],"tools":[{"type":"function","function":{"name":"a"}}],"tool_choice":{"type":"function","function":{"name":"b"}}}""", 400, "tool_choice", "not in tools" },
        { """{"messages":[{"role":"user","content":"x"}],"response_format":{"type":"json_schema","json_schema":{"name":"x","schema":{"type":"thing"}}}}""", 400, "response_format.json_schema.schema", "not a JSON schema type" },
        { """{"messages":[{"role":"user","content":"x"}],"reasoning_effort":"extreme"}""", 400, "reasoning_effort", "none, minimal, low, medium or high" },
        { """{"messages":[{"role":"user","content":"x"}],"functions":[]}""", 400, "functions", "not supported" },
    };

    [Theory]
    [MemberData(nameof(BadRequests))]
    public async Task InvalidRequestIs400(string body, int status, string? param, string message)
    {
        using var response = await _server.PostAsync("v1/chat/completions", body);

        await AssertErrorAsync(response, status, "invalid_request_error", param, message);
    }

    [Theory]
    [InlineData("")]
    [InlineData("{not json")]
    public async Task InvalidJsonHasCodeAndNoParserInternals(string body)
    {
        using var response = await _server.PostAsync("v1/chat/completions", body);

        var error = await AssertErrorAsync(response, 400, "invalid_request_error", null, "JSON");
        Assert.Equal("invalid_json", error.GetProperty("code").GetString());
        Assert.DoesNotContain("LineNumber", error.GetProperty("message").GetString());
    }

    [Fact]
    public async Task UnknownModelIs404()
    {
        using var response = await _server.PostAsync("v1/chat/completions", """{"model":"gpt-4o","messages":[{"role":"user","content":"x"}]}""");

        var error = await AssertErrorAsync(response, 404, "invalid_request_error", "model", "'gpt-4o' is not served");
        Assert.Equal("model_not_found", error.GetProperty("code").GetString());
    }

    [Theory]
    [InlineData("tiny-gemma4")]
    [InlineData("default")]
    public async Task ModelAliasesAreAccepted(string model)
    {
        _server.Script = (_, _) => new ScriptedProcessor(Script.Tokens("ok{<turn|>}"));

        var (status, json) = await _server.PostJsonAsync("v1/chat/completions", $$"""{"model":"{{model}}","messages":[{"role":"user","content":"x"}],"temperature":0}""");

        Assert.Equal(200, status);
        Assert.Equal("tiny-gemma4", json.GetProperty("model").GetString());
    }

    [Fact]
    public async Task UnknownPathIs404()
    {
        using var response = await _server.Http.GetAsync("v1/engines");

        await AssertErrorAsync(response, 404, "invalid_request_error", null, "No endpoint at GET /v1/engines");
    }

    [Fact]
    public async Task WrongMethodIs405()
    {
        using var response = await _server.Http.GetAsync("v1/chat/completions");

        await AssertErrorAsync(response, 405, "invalid_request_error", null, "Method GET is not allowed");
    }

    [Fact]
    public async Task OversizedBodyIs413()
    {
        string filler = new('x', 5000);
        using var response = await _server.PostAsync("v1/chat/completions", $$"""{"messages":[{"role":"user","content":"{{filler}}"}]}""");

        var error = await AssertErrorAsync(response, 413, "invalid_request_error", null, "exceeds the limit of 4096 bytes");
        Assert.Equal("request_too_large", error.GetProperty("code").GetString());
    }

    [Fact]
    public async Task PromptBeyondContextIs413()
    {
        string words = string.Join(' ', Enumerable.Repeat("aa", 200));
        using var response = await _server.PostAsync("v1/chat/completions", $$"""{"messages":[{"role":"user","content":"{{words}}"}]}""");

        var error = await AssertErrorAsync(response, 413, "invalid_request_error", "messages", "the context holds 64");
        Assert.Equal("context_length_exceeded", error.GetProperty("code").GetString());
    }

    [Fact]
    public async Task MaxTokensClampToContext()
    {
        _server.Script = (_, _) => new ScriptedProcessor([]) { BannedAfterScript = StopTokens.All };

        var (status, json) = await _server.PostJsonAsync("v1/chat/completions", """{"messages":[{"role":"user","content":"x"}],"temperature":0,"max_tokens":1000}""");

        Assert.Equal(200, status);
        var usage = json.GetProperty("usage");
        Assert.Equal(64, usage.GetProperty("prompt_tokens").GetInt32() + usage.GetProperty("completion_tokens").GetInt32());
        Assert.Equal("length", json.GetProperty("choices")[0].GetProperty("finish_reason").GetString());
    }

    [Fact]
    public async Task ZeroMaxTokensGivesEmptyLengthReply()
    {
        var (status, json) = await _server.PostJsonAsync("v1/chat/completions", """{"messages":[{"role":"user","content":"x"}],"max_tokens":0}""");

        Assert.Equal(200, status);
        Assert.Equal("length", json.GetProperty("choices")[0].GetProperty("finish_reason").GetString());
        Assert.Equal(0, json.GetProperty("usage").GetProperty("completion_tokens").GetInt32());
    }

    [Fact]
    public async Task MissingOrWrongKeyIs401()
    {
        await using var secured = await TestServer.StartAsync(o => o.ApiKey = "sk-test-12345");

        using var missing = await secured.PostAsync("v1/chat/completions", """{"messages":[{"role":"user","content":"x"}]}""");
        secured.Http.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", "sk-test-12346");
        using var wrong = await secured.Http.GetAsync("v1/models");
        using var health = await secured.Http.GetAsync("health");
        secured.Http.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", "sk-test-12345");
        using var right = await secured.Http.GetAsync("v1/models");

        var error = await AssertErrorAsync(missing, 401, "authentication_error", null, "API key");
        Assert.Equal("invalid_api_key", error.GetProperty("code").GetString());
        Assert.Equal("Bearer", missing.Headers.WwwAuthenticate.Single().Scheme);
        await AssertErrorAsync(wrong, 401, "authentication_error", null, "API key");
        Assert.Equal(HttpStatusCode.OK, health.StatusCode);
        Assert.Equal(HttpStatusCode.OK, right.StatusCode);
    }

    [Fact]
    public async Task FullQueueIs429WithRetryAfter()
    {
        await using var small = await TestServer.StartAsync(o => o.MaxQueue = 0);
        var gate = new ManualResetEventSlim();
        small.Script = (_, _) => new GateProcessor(gate);
        string body = """{"messages":[{"role":"user","content":"x"}],"temperature":0,"max_tokens":2}""";

        var first = small.PostAsync("v1/chat/completions", body);
        while (small.Server.Engine.RunningRequests == 0)
        {
            await Task.Delay(10);
        }

        using var rejected = await small.PostAsync("v1/chat/completions", body);
        gate.Set();
        using var accepted = await first;

        var error = await AssertErrorAsync(rejected, 429, "rate_limit_error", null, "busy");
        Assert.Equal("queue_full", error.GetProperty("code").GetString());
        Assert.Equal(TimeSpan.FromSeconds(1), rejected.Headers.RetryAfter?.Delta);
        Assert.Equal(HttpStatusCode.OK, accepted.StatusCode);
    }

    private static async Task<JsonElement> AssertErrorAsync(HttpResponseMessage response, int status, string type, string? param, string message)
    {
        string text = await response.Content.ReadAsStringAsync();
        Assert.True(status == (int)response.StatusCode, $"expected {status}, got {(int)response.StatusCode}: {text}");
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        var error = JsonDocument.Parse(text).RootElement.GetProperty("error");
        Assert.Equal(type, error.GetProperty("type").GetString());
        Assert.Contains(message, error.GetProperty("message").GetString(), StringComparison.Ordinal);
        if (param is null)
        {
            Assert.Equal(JsonValueKind.Null, error.GetProperty("param").ValueKind);
        }
        else
        {
            Assert.Equal(param, error.GetProperty("param").GetString());
        }

        return error.Clone();
    }

    /// <summary>Blocks the first step until the gate opens.</summary>
    private sealed class GateProcessor(ManualResetEventSlim gate) : Waldwicht.Runtime.Generation.ILogitsProcessor
    {
        public void Process(ReadOnlySpan<int> generated, Span<float> logits) => gate.Wait(TimeSpan.FromSeconds(30));
    }
}
