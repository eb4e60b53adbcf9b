using System.Text;
using System.Text.Json;

namespace Waldwicht.Server.Tests.Infrastructure;

/// <summary>The reply rebuilt from chat stream chunks, for comparison with a non-streaming response.</summary>
internal sealed record StreamReplay(string Content, string Reasoning, IReadOnlyList<(string Id, string Name, string Arguments)> ToolCalls, string? FinishReason, JsonElement? Usage)
{
    public static StreamReplay FromLines(IReadOnlyList<string> lines)
    {
        var content = new StringBuilder();
        var reasoning = new StringBuilder();
        var calls = new SortedDictionary<int, (string Id, string Name, StringBuilder Arguments)>();
        string? finish = null;
        JsonElement? usage = null;
        foreach (var line in lines)
        {
            if (!line.StartsWith("data: ", StringComparison.Ordinal) || line == "data: [DONE]")
            {
                continue;
            }

            var chunk = JsonDocument.Parse(line["data: ".Length..]).RootElement.Clone();
            if (chunk.TryGetProperty("usage", out var u) && u.ValueKind == JsonValueKind.Object)
            {
                usage = u;
            }

            foreach (var choice in chunk.GetProperty("choices").EnumerateArray())
            {
                var delta = choice.GetProperty("delta");
                if (delta.TryGetProperty("content", out var c) && c.ValueKind == JsonValueKind.String)
                {
                    content.Append(c.GetString());
                }

                if (delta.TryGetProperty("reasoning_content", out var r))
                {
                    reasoning.Append(r.GetString());
                }

                if (delta.TryGetProperty("tool_calls", out var toolCalls))
                {
                    foreach (var call in toolCalls.EnumerateArray())
                    {
                        int index = call.GetProperty("index").GetInt32();
                        if (call.TryGetProperty("id", out var id))
                        {
                            calls[index] = (id.GetString()!, call.GetProperty("function").GetProperty("name").GetString()!, new StringBuilder());
                        }

                        calls[index].Arguments.Append(call.GetProperty("function").GetProperty("arguments").GetString());
                    }
                }

                if (choice.GetProperty("finish_reason").ValueKind == JsonValueKind.String)
                {
                    Assert.Null(finish);
                    finish = choice.GetProperty("finish_reason").GetString();
                }
            }
        }

        return new StreamReplay(content.ToString(), reasoning.ToString(), calls.Values.Select(c => (c.Id, c.Name, c.Arguments.ToString())).ToList(), finish, usage);
    }

    /// <summary>The same fields read from a non-streaming chat completion.</summary>
    public static StreamReplay FromCompletion(JsonElement body)
    {
        var choice = body.GetProperty("choices")[0];
        var message = choice.GetProperty("message");
        string content = message.GetProperty("content").ValueKind == JsonValueKind.String ? message.GetProperty("content").GetString()! : string.Empty;
        string reasoning = message.TryGetProperty("reasoning_content", out var r) ? r.GetString()! : string.Empty;
        var calls = new List<(string, string, string)>();
        if (message.TryGetProperty("tool_calls", out var toolCalls))
        {
            foreach (var call in toolCalls.EnumerateArray())
            {
                var function = call.GetProperty("function");
                calls.Add((call.GetProperty("id").GetString()!, function.GetProperty("name").GetString()!, function.GetProperty("arguments").GetString()!));
            }
        }

        return new StreamReplay(content, reasoning, calls, choice.GetProperty("finish_reason").GetString(), body.GetProperty("usage"));
    }
}
