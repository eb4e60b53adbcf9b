using System.Text.Json;
using Microsoft.Extensions.AI;
using Waldwicht.Runtime.ChatClient;
using Waldwicht.Runtime.Generation;
using Waldwicht.Server.Tests.Infrastructure;

namespace Waldwicht.Server.Tests.ChatClientAdapter;

public sealed class WaldwichtChatClientTests : IDisposable
{
    private readonly ChatEngine _engine;
    private readonly WaldwichtChatClient _client;
    private Func<ILogitsProcessor?>? _script;

    public WaldwichtChatClientTests()
    {
        _engine = new ChatEngine(TinyModel.Instance, new ChatEngineOptions { ExtraLogitsProcessor = (_, _) => _script?.Invoke() });
        _client = new WaldwichtChatClient(_engine, "tiny");
    }

    public void Dispose()
    {
        _client.Dispose();
        _engine.Dispose();
    }

    [Fact]
    public async Task ResponseCarriesTextReasoningAndUsage()
    {
        _script = () => new ScriptedProcessor(Script.Tokens("{<|channel>}thought\nhmm{<channel|>}Hello!{<turn|>}"));

        var response = await _client.GetResponseAsync([new ChatMessage(ChatRole.User, "Hi")]);

        Assert.Equal("Hello!", response.Text);
        Assert.Equal("hmm", Assert.Single(response.Messages[0].Contents.OfType<TextReasoningContent>()).Text);
        Assert.Equal(ChatFinishReason.Stop, response.FinishReason);
        Assert.Equal("tiny", response.ModelId);
        Assert.True(response.Usage!.InputTokenCount > 0);
        Assert.Equal(response.Usage.InputTokenCount + response.Usage.OutputTokenCount, response.Usage.TotalTokenCount);
        Assert.True(response.Usage.ReasoningTokenCount > 0);
    }

    [Fact]
    public async Task StreamingMatchesResponse()
    {
        var options = new ChatOptions { Temperature = 0, MaxOutputTokens = 16 };
        ChatMessage[] messages = [new(ChatRole.System, "Be brief."), new(ChatRole.User, "Say something")];

        var response = await _client.GetResponseAsync(messages, options);
        var streamed = new List<ChatResponseUpdate>();
        await foreach (var update in _client.GetStreamingResponseAsync(messages, options))
        {
            streamed.Add(update);
        }

        Assert.Equal(response.Text, string.Concat(streamed.Select(u => u.Text)));
        Assert.Equal(response.FinishReason, streamed.Last().FinishReason);
        Assert.Equal(ChatFinishReason.Length, response.FinishReason);
    }

    [Fact]
    public async Task ToolCallsBecomeFunctionCallContent()
    {
        _script = () => new ScriptedProcessor(Script.Tokens("{<|tool_call>}call:get_weather{city:{<|\"|>}Oslo{<|\"|>},days:3}{<tool_call|>}{<|tool_response>}"));
        var tool = AIFunctionFactory.Create((string city, int days) => "sunny", "get_weather");

        var response = await _client.GetResponseAsync([new ChatMessage(ChatRole.User, "Weather?")], new ChatOptions { Tools = [tool] });

        var call = Assert.Single(response.Messages[0].Contents.OfType<FunctionCallContent>());
        Assert.Equal("get_weather", call.Name);
        Assert.StartsWith("call_", call.CallId);
        Assert.Equal("Oslo", ((JsonElement)call.Arguments!["city"]!).GetString());
        Assert.Equal(3, ((JsonElement)call.Arguments!["days"]!).GetInt32());
        Assert.Equal(ChatFinishReason.ToolCalls, response.FinishReason);
    }

    [Fact]
    public async Task ToolResultsAreRenderedIntoTheNextPrompt()
    {
        _script = () => new ScriptedProcessor(Script.Tokens("Sunny.{<turn|>}"));
        ChatMessage[] history =
        [
            new(ChatRole.User, "Weather?"),
            new(ChatRole.Assistant, [new FunctionCallContent("call_1", "get_weather", new Dictionary<string, object?> { ["city"] = "Oslo" })]),
            new(ChatRole.Tool, [new FunctionResultContent("call_1", "sunny and 20 C")]),
        ];

        var request = ChatOptionsMapping.ToRequest(history, null);
        var prepared = _engine.Prepare(request);
        var response = await _client.GetResponseAsync(history);

        Assert.Contains("call:get_weather{city:<|\"|>Oslo<|\"|>}", prepared.PromptText, StringComparison.Ordinal);
        Assert.Contains("sunny and 20 C", prepared.PromptText, StringComparison.Ordinal);
        Assert.Equal("Sunny.", response.Text);
    }

    [Fact]
    public void OptionsMapToRequest()
    {
        var options = new ChatOptions
        {
            Instructions = "Answer in French.",
            Temperature = 0.7f,
            TopP = 0.9f,
            TopK = 40,
            MaxOutputTokens = 123,
            Seed = 99,
            FrequencyPenalty = 0.5f,
            PresencePenalty = -0.5f,
            StopSequences = ["###"],
            ToolMode = ChatToolMode.RequireSpecific("f"),
            Tools = [AIFunctionFactory.Create(() => 1, "f")],
            ResponseFormat = ChatResponseFormat.Json,
            Reasoning = new ReasoningOptions { Effort = ReasoningEffort.Medium },
            AdditionalProperties = new() { ["min_p"] = 0.05, ["repetition_penalty"] = 1.1f },
        };

        var request = ChatOptionsMapping.ToRequest([new ChatMessage(ChatRole.User, "x")], options);

        Assert.Equal("system", request.Messages![0].Role);
        Assert.Equal(0.7f, request.Sampling.Temperature);
        Assert.Equal(0.9f, request.Sampling.TopP);
        Assert.Equal(40, request.Sampling.TopK);
        Assert.Equal(0.05f, request.Sampling.MinP, 5);
        Assert.Equal(1.1f, request.Sampling.RepetitionPenalty, 5);
        Assert.Equal(0.5f, request.Sampling.FrequencyPenalty);
        Assert.Equal(-0.5f, request.Sampling.PresencePenalty);
        Assert.Equal(99, request.Sampling.Seed);
        Assert.Equal(123, request.MaxTokens);
        Assert.Equal(["###"], request.StopSequences);
        Assert.Equal(ToolChoiceMode.Function, request.ToolChoice.Mode);
        Assert.Equal("f", request.ToolChoice.FunctionName);
        Assert.Equal(ResponseFormatKind.JsonObject, request.ResponseFormat.Kind);
        Assert.True(request.EnableThinking);
        Assert.Equal(ReasoningBudgets.Medium, request.ReasoningBudget);
    }

    [Fact]
    public void EnableThinkingPropertyWinsOverEffort()
    {
        var options = new ChatOptions
        {
            Reasoning = new ReasoningOptions { Effort = ReasoningEffort.High },
            AdditionalProperties = new() { ["enable_thinking"] = false },
        };

        var request = ChatOptionsMapping.ToRequest([new ChatMessage(ChatRole.User, "x")], options);

        Assert.False(request.EnableThinking);
        Assert.Null(request.ReasoningBudget);
    }

    [Fact]
    public async Task InvalidOptionNamesField()
    {
        var error = await Assert.ThrowsAsync<ChatRequestException>(() =>
            _client.GetResponseAsync([new ChatMessage(ChatRole.User, "x")], new ChatOptions { Temperature = -1 }));

        Assert.Equal("temperature", error.Param);
    }

    [Fact]
    public async Task JsonSchemaResponseParses()
    {
        var schema = JsonDocument.Parse("""{"type":"object","properties":{"ok":{"type":"boolean"},"n":{"enum":[1,2,3]}},"required":["ok","n"]}""").RootElement;

        var response = await _client.GetResponseAsync(
            [new ChatMessage(ChatRole.User, "x")],
            new ChatOptions { Temperature = 0, ResponseFormat = ChatResponseFormat.ForJsonSchema(schema, "answer") });

        using var document = JsonDocument.Parse(response.Text);
        Assert.Contains(document.RootElement.GetProperty("n").GetInt32(), new[] { 1, 2, 3 });
        Assert.True(document.RootElement.GetProperty("ok").ValueKind is JsonValueKind.True or JsonValueKind.False);
    }

    [Fact]
    public void MetadataNamesProviderAndModel()
    {
        var metadata = _client.GetService<ChatClientMetadata>();

        Assert.Equal("waldwicht", metadata!.ProviderName);
        Assert.Equal("tiny", metadata.DefaultModelId);
        Assert.Same(_engine, _client.GetService<ChatEngine>());
    }

    [Fact]
    public async Task ConcurrentCallsAreSafe()
    {
        var options = new ChatOptions { Temperature = 0, MaxOutputTokens = 6 };
        string[] prompts = ["one", "two", "three", "four"];
        var sequential = new List<string>();
        foreach (var prompt in prompts)
        {
            sequential.Add((await _client.GetResponseAsync([new ChatMessage(ChatRole.User, prompt)], options)).Text);
        }

        var concurrent = await Task.WhenAll(prompts.Select(async p => (await _client.GetResponseAsync([new ChatMessage(ChatRole.User, p)], options)).Text));

        Assert.Equal(sequential, concurrent);
    }
}
