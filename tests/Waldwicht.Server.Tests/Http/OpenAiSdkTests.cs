using System.ClientModel;
using System.Text.Json;
using OpenAI;
using OpenAI.Chat;
using Waldwicht.Server.Tests.Infrastructure;

namespace Waldwicht.Server.Tests.Http;

/// <summary>The official OpenAI .NET SDK against the live server.</summary>
public sealed class OpenAiSdkTests : IAsyncLifetime
{
    private TestServer _server = null!;
    private ChatClient _client = null!;

    public async Task InitializeAsync()
    {
        _server = await TestServer.StartAsync(o => o.ApiKey = "sk-local-test");
        var options = new OpenAIClientOptions { Endpoint = new Uri(_server.BaseAddress, "v1") };
        _client = new ChatClient("tiny-gemma4", new ApiKeyCredential("sk-local-test"), options);
    }

    public async Task DisposeAsync() => await _server.DisposeAsync();

    [Fact]
    public async Task ChatReturnsContentAndUsage()
    {
        _server.Script = (_, _) => new ScriptedProcessor(Script.Tokens("Hello there.{<turn|>}"));

        ChatCompletion completion = await _client.CompleteChatAsync(
            [new SystemChatMessage("Be brief."), new UserChatMessage("Hi")],
            new ChatCompletionOptions { Temperature = 0, MaxOutputTokenCount = 50 });

        Assert.Equal("Hello there.", completion.Content.Single().Text);
        Assert.Equal(ChatFinishReason.Stop, completion.FinishReason);
        Assert.Equal(ChatMessageRole.Assistant, completion.Role);
        Assert.Equal("tiny-gemma4", completion.Model);
        Assert.True(completion.Usage.InputTokenCount > 0);
        Assert.Equal(12, completion.Usage.OutputTokenCount);
        Assert.Equal(completion.Usage.InputTokenCount + 12, completion.Usage.TotalTokenCount);
    }

    [Fact]
    public async Task StreamingMatchesNonStreaming()
    {
        var options = new ChatCompletionOptions { Temperature = 0, MaxOutputTokenCount = 24 };
        ChatMessage[] messages = [new UserChatMessage("Tell me something.")];

        ChatCompletion complete = await _client.CompleteChatAsync(messages, options);
        var streamed = new System.Text.StringBuilder();
        ChatFinishReason? finish = null;
        await foreach (var update in _client.CompleteChatStreamingAsync(messages, options))
        {
            foreach (var part in update.ContentUpdate)
            {
                streamed.Append(part.Text);
            }

            finish ??= update.FinishReason;
        }

        Assert.Equal(complete.Content.Count == 0 ? string.Empty : complete.Content[0].Text, streamed.ToString());
        Assert.Equal(complete.FinishReason, finish);
    }

    [Fact]
    public async Task ToolCallsParse()
    {
        _server.Script = (_, _) => new ScriptedProcessor(Script.Tokens(
            "{<|tool_call>}call:get_weather{city:{<|\"|>}Paris{<|\"|>},days:2}{<tool_call|>}{<|tool_response>}"));
        var tool = ChatTool.CreateFunctionTool(
            "get_weather", "Weather for a city.",
            BinaryData.FromString("""{"type":"object","properties":{"city":{"type":"string"},"days":{"type":"integer"}},"required":["city"]}"""));
        var options = new ChatCompletionOptions { Temperature = 0, Tools = { tool } };

        ChatCompletion completion = await _client.CompleteChatAsync([new UserChatMessage("Weather in Paris?")], options);

        Assert.Equal(ChatFinishReason.ToolCalls, completion.FinishReason);
        var call = Assert.Single(completion.ToolCalls);
        Assert.Equal("get_weather", call.FunctionName);
        Assert.StartsWith("call_", call.Id);
        using var arguments = JsonDocument.Parse(call.FunctionArguments);
        Assert.Equal("Paris", arguments.RootElement.GetProperty("city").GetString());
        Assert.Equal(2, arguments.RootElement.GetProperty("days").GetInt32());

        // The follow-up turn with the tool result is accepted.
        _server.Script = (_, _) => new ScriptedProcessor(Script.Tokens("Sunny.{<turn|>}"));
        ChatCompletion followUp = await _client.CompleteChatAsync(
            [new UserChatMessage("Weather in Paris?"), new AssistantChatMessage(completion), new ToolChatMessage(call.Id, """{"sky":"sunny"}""")],
            options);
        Assert.Equal("Sunny.", followUp.Content.Single().Text);
    }

    [Fact]
    public async Task StreamingToolCallsAssemble()
    {
        _server.Script = (_, _) => new ScriptedProcessor(Script.Tokens(
            "{<|tool_call>}call:a{x:1}{<tool_call|>}{<|tool_call>}call:b{y:[1,2]}{<tool_call|>}{<|tool_response>}"));
        var options = new ChatCompletionOptions
        {
            Temperature = 0,
            Tools = { ChatTool.CreateFunctionTool("a"), ChatTool.CreateFunctionTool("b") },
        };

        var names = new Dictionary<int, string>();
        var arguments = new Dictionary<int, string>();
        ChatFinishReason? finish = null;
        await foreach (var update in _client.CompleteChatStreamingAsync([new UserChatMessage("go")], options))
        {
            foreach (var call in update.ToolCallUpdates)
            {
                if (call.FunctionName is { } name)
                {
                    names[call.Index] = name;
                }

                arguments[call.Index] = arguments.GetValueOrDefault(call.Index, "") + call.FunctionArgumentsUpdate?.ToString();
            }

            finish ??= update.FinishReason;
        }

        Assert.Equal("a", names[0]);
        Assert.Equal("b", names[1]);
        Assert.Equal("{\"x\":1}", arguments[0]);
        Assert.Equal("{\"y\":[1,2]}", arguments[1]);
        Assert.Equal(ChatFinishReason.ToolCalls, finish);
    }

    [Fact]
    public async Task ErrorsSurfaceAsClientResultException()
    {
        var other = new ChatClient("gpt-4o", new ApiKeyCredential("sk-local-test"), new OpenAIClientOptions { Endpoint = new Uri(_server.BaseAddress, "v1") });
        var badKey = new ChatClient("tiny-gemma4", new ApiKeyCredential("sk-wrong-key"), new OpenAIClientOptions { Endpoint = new Uri(_server.BaseAddress, "v1") });

        var notFound = await Assert.ThrowsAsync<ClientResultException>(() => other.CompleteChatAsync([new UserChatMessage("x")]));
        var unauthorized = await Assert.ThrowsAsync<ClientResultException>(() => badKey.CompleteChatAsync([new UserChatMessage("x")]));
        var invalid = await Assert.ThrowsAsync<ClientResultException>(() =>
            _client.CompleteChatAsync([new UserChatMessage("x")], new ChatCompletionOptions { Temperature = 5 }));

        Assert.Equal(404, notFound.Status);
        Assert.Equal(401, unauthorized.Status);
        Assert.Equal(400, invalid.Status);
        Assert.Contains("temperature", invalid.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task JsonSchemaOutputParses()
    {
        var schema = BinaryData.FromString("""
            {"type":"object","properties":{
               "ok":{"type":"boolean"},
               "size":{"enum":["small","large"]},
               "count":{"type":"integer"},
               "point":{"type":"object","properties":{"x":{"type":"number"},"y":{"type":"null"}},"required":["x","y"]},
               "flags":{"type":"array","items":{"type":"boolean"},"maxItems":3}},
             "required":["ok","size","count","point","flags"]}
            """);
        var options = new ChatCompletionOptions
        {
            Temperature = 0,
            MaxOutputTokenCount = 400,
            ResponseFormat = ChatResponseFormat.CreateJsonSchemaFormat("reply", schema, jsonSchemaIsStrict: true),
        };

        ChatCompletion completion = await _client.CompleteChatAsync([new UserChatMessage("Describe.")], options);

        Assert.Equal(ChatFinishReason.Stop, completion.FinishReason);
        using var document = JsonDocument.Parse(completion.Content.Single().Text);
        var root = document.RootElement;
        Assert.Equal(5, root.EnumerateObject().Count());
        Assert.True(root.GetProperty("ok").ValueKind is JsonValueKind.True or JsonValueKind.False);
        Assert.Contains(root.GetProperty("size").GetString(), new[] { "small", "large" });
        Assert.True(root.GetProperty("count").TryGetInt64(out _));
        Assert.True(root.GetProperty("point").GetProperty("x").TryGetDouble(out _));
        Assert.Equal(JsonValueKind.Null, root.GetProperty("point").GetProperty("y").ValueKind);
        Assert.InRange(root.GetProperty("flags").GetArrayLength(), 0, 3);
    }
}
