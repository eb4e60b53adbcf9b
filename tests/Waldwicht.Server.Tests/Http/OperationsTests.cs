using System.Text.Json;
using Waldwicht.Server.Tests.Infrastructure;

namespace Waldwicht.Server.Tests.Http;

/// <summary>Models, health, metrics, debug endpoints, choices, log-probabilities, prompt cache and concurrency.</summary>
public sealed class OperationsTests : IAsyncLifetime
{
    private TestServer _server = null!;

    public async Task InitializeAsync() => _server = await TestServer.StartAsync(o => o.Parallel = 2);

    public async Task DisposeAsync() => await _server.DisposeAsync();

    [Fact]
    public async Task ModelsListServedModel()
    {
        var list = JsonDocument.Parse(await _server.Http.GetStringAsync("v1/models")).RootElement;
        using var one = await _server.Http.GetAsync("v1/models/tiny-gemma4");
        using var other = await _server.Http.GetAsync("v1/models/org/other");

        Assert.Equal("list", list.GetProperty("object").GetString());
        var model = Assert.Single(list.GetProperty("data").EnumerateArray());
        Assert.Equal("tiny-gemma4", model.GetProperty("id").GetString());
        Assert.Equal("model", model.GetProperty("object").GetString());
        Assert.Equal(200, (int)one.StatusCode);
        Assert.Equal(404, (int)other.StatusCode);
    }

    [Fact]
    public async Task HealthIsOk()
    {
        var health = JsonDocument.Parse(await _server.Http.GetStringAsync("health")).RootElement;

        Assert.Equal("ok", health.GetProperty("status").GetString());
    }

    [Fact]
    public async Task MetricsUsePrometheusFormat()
    {
        _server.Script = (_, _) => new ScriptedProcessor(Script.Tokens("abc{<turn|>}"));
        await _server.PostJsonAsync("v1/chat/completions", """{"messages":[{"role":"user","content":"x"}],"temperature":0}""");

        using var response = await _server.Http.GetAsync("metrics");
        string text = await response.Content.ReadAsStringAsync();

        Assert.StartsWith("text/plain", response.Content.Headers.ContentType?.ToString());
        Assert.Contains("# TYPE waldwicht_requests_queued gauge", text);
        Assert.Contains("# TYPE waldwicht_requests_running gauge", text);
        Assert.Contains("# TYPE waldwicht_kv_cache_utilization_ratio gauge", text);
        Assert.Contains("# TYPE waldwicht_prompt_tokens_total counter", text);
        Assert.Contains("# TYPE waldwicht_generation_tokens_total counter", text);
        Assert.Contains("# TYPE waldwicht_time_to_first_token_seconds histogram", text);
        Assert.Contains("# TYPE waldwicht_time_per_output_token_seconds histogram", text);
        Assert.Contains("waldwicht_time_to_first_token_seconds_bucket{le=\"+Inf\"} ", text);
        Assert.Matches(@"waldwicht_generation_tokens_total [1-9]", text);
        Assert.Matches(@"waldwicht_requests_total\{route=""/v1/chat/completions"",status=""200""\} [1-9]", text);
    }

    [Fact]
    public async Task DebugEndpointsReportMemory()
    {
        var memory = JsonDocument.Parse(await _server.Http.GetStringAsync("debug/memory")).RootElement;
        using var clear = await _server.Http.PostAsync("debug/clear_cache", null);
        var cleared = JsonDocument.Parse(await clear.Content.ReadAsStringAsync()).RootElement;

        Assert.True(memory.GetProperty("resident_bytes").GetInt64() > 0);
        Assert.True(memory.TryGetProperty("prompt_cache_entries", out _));
        Assert.True(memory.TryGetProperty("kv_cache_mb", out _));
        Assert.Equal(200, (int)clear.StatusCode);
        Assert.Equal(0, cleared.GetProperty("after_prompt_cache_entries").GetInt32());
        Assert.True(cleared.TryGetProperty("freed_bytes", out _));
    }

    [Fact]
    public async Task SeveralChoicesAndLogprobs()
    {
        string body = """{"messages":[{"role":"user","content":"x"}],"temperature":0.8,"seed":7,"n":2,"max_tokens":4,"logprobs":true,"top_logprobs":3}""";

        var (status, json) = await _server.PostJsonAsync("v1/chat/completions", body);

        Assert.Equal(200, status);
        var choices = json.GetProperty("choices");
        Assert.Equal(2, choices.GetArrayLength());
        Assert.Equal(1, choices[1].GetProperty("index").GetInt32());
        var content = choices[0].GetProperty("logprobs").GetProperty("content");
        int generated = json.GetProperty("usage").GetProperty("completion_tokens").GetInt32();
        Assert.True(content.GetArrayLength() > 0);
        foreach (var token in content.EnumerateArray())
        {
            Assert.True(token.GetProperty("logprob").GetDouble() <= 0);
            var top = token.GetProperty("top_logprobs");
            Assert.Equal(3, top.GetArrayLength());
            Assert.True(top[0].GetProperty("logprob").GetDouble() >= top[1].GetProperty("logprob").GetDouble());
            Assert.True(token.GetProperty("bytes").GetArrayLength() > 0);
        }

        Assert.True(generated >= content.GetArrayLength());
    }

    [Fact]
    public async Task SeededSamplingRepeats()
    {
        string body = """{"messages":[{"role":"user","content":"seed"}],"temperature":1,"seed":42,"max_tokens":8}""";

        var (_, first) = await _server.PostJsonAsync("v1/chat/completions", body);
        var (_, second) = await _server.PostJsonAsync("v1/chat/completions", body);

        Assert.Equal(
            first.GetProperty("choices")[0].GetProperty("message").GetRawText(),
            second.GetProperty("choices")[0].GetProperty("message").GetRawText());
    }

    [Fact]
    public async Task NextTurnReusesCachedPrefix()
    {
        // The reply is scripted with the tokens the template produces for the same text, so the next prompt extends it.
        var reply = TinyModel.Instance.Tokenizer.Encode("Fine thanks", addSpecialTokens: false);
        _server.Script = (_, _) => new ScriptedProcessor([.. reply, TinyModel.Instance.Tokenizer.TokenToId("<turn|>")!.Value]);
        string first = """{"messages":[{"role":"user","content":"How are you?"}],"temperature":0}""";
        string second = """{"messages":[{"role":"user","content":"How are you?"},{"role":"assistant","content":"Fine thanks"},{"role":"user","content":"Good."}],"temperature":0}""";

        var (_, one) = await _server.PostJsonAsync("v1/chat/completions", first);
        var (_, two) = await _server.PostJsonAsync("v1/chat/completions", second);

        int firstPrompt = one.GetProperty("usage").GetProperty("prompt_tokens").GetInt32();
        int cached = two.GetProperty("usage").GetProperty("prompt_tokens_details").GetProperty("cached_tokens").GetInt32();
        Assert.Equal(0, one.GetProperty("usage").GetProperty("prompt_tokens_details").GetProperty("cached_tokens").GetInt32());
        Assert.Equal(firstPrompt + reply.Length, cached);
    }

    [Fact]
    public async Task ConcurrentRequestsDoNotMixState()
    {
        // Greedy replies to different prompts, first one at a time, then all at once on two sequences.
        string[] prompts = ["alpha", "beta gamma", "delta", "epsilon zeta eta", "theta", "iota kappa"];
        string Body(string prompt) => $$"""{"messages":[{"role":"user","content":"{{prompt}}"}],"temperature":0,"max_tokens":12}""";
        var sequential = new List<string>();
        foreach (var prompt in prompts)
        {
            var (_, json) = await _server.PostJsonAsync("v1/chat/completions", Body(prompt));
            sequential.Add(json.GetProperty("choices")[0].GetProperty("message").GetRawText());
        }

        _server.Server.Engine.PromptCache.Clear();
        var parallel = await Task.WhenAll(prompts.Select(async prompt =>
        {
            var (_, json) = await _server.PostJsonAsync("v1/chat/completions", Body(prompt));
            return json.GetProperty("choices")[0].GetProperty("message").GetRawText();
        }));

        Assert.Equal(sequential, parallel);
    }

    [Fact]
    public async Task PromptsAreLoggedOnlyAtTrace()
    {
        _server.Script = (_, _) => new ScriptedProcessor(Script.Tokens("ok{<turn|>}"));

        await _server.PostJsonAsync("v1/chat/completions", """{"messages":[{"role":"user","content":"secret words"}],"temperature":0}""");

        var withPrompt = _server.Logs.Entries.Where(e => e.Message.Contains("secret words", StringComparison.Ordinal)).ToList();
        Assert.NotEmpty(withPrompt);
        Assert.All(withPrompt, e => Assert.Equal(Microsoft.Extensions.Logging.LogLevel.Trace, e.Level));
    }
}

/// <summary>Graceful shutdown with requests in flight.</summary>
public sealed class ShutdownTests
{
    [Fact]
    public async Task ShutdownCancelsStreamsAfterDrainTimeout()
    {
        var server = await TestServer.StartAsync(o => o.ShutdownDrainTimeout = TimeSpan.FromMilliseconds(300));
        server.Script = (_, _) => new ScriptedProcessor([]) { Delay = TimeSpan.FromMilliseconds(20), BannedAfterScript = StopTokens.All };
        string body = """{"messages":[{"role":"user","content":"x"}],"temperature":0,"max_tokens":100000,"stream":true}""";

        var stream = server.StreamLinesAsync("v1/chat/completions", body);
        while (server.Server.Engine.RunningRequests == 0)
        {
            await Task.Delay(10);
        }

        await server.Server.StopAsync();
        var lines = await stream;

        Assert.Equal("data: [DONE]", lines[^1]);
        var error = JsonDocument.Parse(lines[^2][6..]).RootElement.GetProperty("error");
        Assert.Equal("server_shutting_down", error.GetProperty("code").GetString());
        Assert.Contains(server.Logs.Entries, e => e.Id.Name == "ShutdownCancelling");
        await server.Server.DisposeAsync();
        server.Http.Dispose();
    }

    [Fact]
    public async Task ShutdownLetsShortRequestsFinish()
    {
        var server = await TestServer.StartAsync(o => o.ShutdownDrainTimeout = TimeSpan.FromSeconds(20));
        server.Script = (_, _) => new ScriptedProcessor(Script.Tokens("done{<turn|>}")) { Delay = TimeSpan.FromMilliseconds(50) };

        var request = server.PostJsonAsync("v1/chat/completions", """{"messages":[{"role":"user","content":"x"}],"temperature":0}""");
        while (server.Server.Engine.RunningRequests == 0)
        {
            await Task.Delay(10);
        }

        await server.Server.StopAsync();
        var (status, json) = await request;

        Assert.Equal(200, status);
        Assert.Equal("done", json.GetProperty("choices")[0].GetProperty("message").GetProperty("content").GetString());
        await server.Server.DisposeAsync();
        server.Http.Dispose();
    }
}
