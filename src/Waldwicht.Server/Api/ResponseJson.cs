using System.Text.Json;
using Waldwicht.Runtime.ChatClient;

namespace Waldwicht.Server.Api;

/// <summary>Identity fields shared by every body and chunk of one response.</summary>
/// <param name="Id">"chatcmpl-…" or "cmpl-…".</param>
/// <param name="Created">Unix seconds when the request arrived.</param>
/// <param name="Model">The served model id.</param>
/// <param name="Fingerprint">system_fingerprint: server name and version.</param>
internal sealed record ResponseIdentity(string Id, long Created, string Model, string Fingerprint);

/// <summary>Writes response bodies and stream chunks in OpenAI's shapes.</summary>
internal static class ResponseJson
{
    public static string FinishReasonName(ReplyFinishReason reason) => reason switch
    {
        ReplyFinishReason.Length => "length",
        ReplyFinishReason.ToolCalls => "tool_calls",
        _ => "stop",
    };

    /// <summary>A whole chat completion (object "chat.completion").</summary>
    public static byte[] ChatCompletion(ResponseIdentity identity, IReadOnlyList<ChoiceAccumulator> choices, ChatUsage usage) =>
        JsonBody.Write(writer =>
        {
            writer.WriteStartObject();
            WriteIdentity(writer, identity, "chat.completion");
            writer.WriteStartArray("choices");
            for (int i = 0; i < choices.Count; i++)
            {
                var choice = choices[i];
                writer.WriteStartObject();
                writer.WriteNumber("index", i);
                writer.WriteStartObject("message");
                writer.WriteString("role", "assistant");
                if (choice.Content.Length > 0)
                {
                    writer.WriteString("content", choice.Content.ToString());
                }
                else
                {
                    writer.WriteNull("content");
                }

                if (choice.Reasoning.Length > 0)
                {
                    string reasoning = choice.Reasoning.ToString();
                    writer.WriteString("reasoning", reasoning);
                    writer.WriteString("reasoning_content", reasoning);
                }

                if (choice.ToolCalls.Count > 0)
                {
                    writer.WriteStartArray("tool_calls");
                    foreach (var call in choice.ToolCalls)
                    {
                        WriteToolCall(writer, call, index: null);
                    }

                    writer.WriteEndArray();
                }

                writer.WriteEndObject();
                WriteChatLogprobs(writer, choice.Logprobs, present: choice.Logprobs.Count > 0);
                writer.WriteString("finish_reason", FinishReasonName(choice.Finished?.FinishReason ?? ReplyFinishReason.Stop));
                writer.WriteEndObject();
            }

            writer.WriteEndArray();
            WriteUsage(writer, usage);
            writer.WriteEndObject();
        });

    /// <summary>A whole text completion (object "text_completion").</summary>
    public static byte[] TextCompletion(ResponseIdentity identity, IReadOnlyList<ChoiceAccumulator> choices, ChatUsage usage) =>
        JsonBody.Write(writer =>
        {
            writer.WriteStartObject();
            WriteIdentity(writer, identity, "text_completion");
            writer.WriteStartArray("choices");
            for (int i = 0; i < choices.Count; i++)
            {
                var choice = choices[i];
                writer.WriteStartObject();
                writer.WriteNumber("index", i);
                writer.WriteString("text", choice.Content.ToString());
                WriteCompletionLogprobs(writer, choice.Logprobs, choice.Logprobs.Count > 0);
                writer.WriteString("finish_reason", FinishReasonName(choice.Finished?.FinishReason ?? ReplyFinishReason.Stop));
                writer.WriteEndObject();
            }

            writer.WriteEndArray();
            WriteUsage(writer, usage);
            writer.WriteEndObject();
        });

    /// <summary>
    /// One chat stream chunk (object "chat.completion.chunk") for one choice. <paramref name="delta"/> writes
    /// the members of the delta object.
    /// </summary>
    public static byte[] ChatChunk(
        ResponseIdentity identity,
        int choice,
        Action<Utf8JsonWriter>? delta,
        ReplyFinishReason? finish = null,
        IReadOnlyList<TokenLogprobInfo>? logprobs = null) =>
        JsonBody.Write(writer =>
        {
            writer.WriteStartObject();
            WriteIdentity(writer, identity, "chat.completion.chunk");
            writer.WriteStartArray("choices");
            writer.WriteStartObject();
            writer.WriteNumber("index", choice);
            writer.WriteStartObject("delta");
            delta?.Invoke(writer);
            writer.WriteEndObject();
            WriteChatLogprobs(writer, logprobs ?? [], present: logprobs is { Count: > 0 });
            if (finish is { } reason)
            {
                writer.WriteString("finish_reason", FinishReasonName(reason));
            }
            else
            {
                writer.WriteNull("finish_reason");
            }

            writer.WriteEndObject();
            writer.WriteEndArray();
            writer.WriteEndObject();
        });

    /// <summary>One text completion stream chunk (object "text_completion").</summary>
    public static byte[] TextChunk(
        ResponseIdentity identity, int choice, string text, ReplyFinishReason? finish = null, IReadOnlyList<TokenLogprobInfo>? logprobs = null) =>
        JsonBody.Write(writer =>
        {
            writer.WriteStartObject();
            WriteIdentity(writer, identity, "text_completion");
            writer.WriteStartArray("choices");
            writer.WriteStartObject();
            writer.WriteNumber("index", choice);
            writer.WriteString("text", text);
            WriteCompletionLogprobs(writer, logprobs ?? [], logprobs is { Count: > 0 });
            if (finish is { } reason)
            {
                writer.WriteString("finish_reason", FinishReasonName(reason));
            }
            else
            {
                writer.WriteNull("finish_reason");
            }

            writer.WriteEndObject();
            writer.WriteEndArray();
            writer.WriteEndObject();
        });

    /// <summary>The final usage chunk of a stream: empty choices and the usage object.</summary>
    public static byte[] UsageChunk(ResponseIdentity identity, bool chat, ChatUsage usage) =>
        JsonBody.Write(writer =>
        {
            writer.WriteStartObject();
            WriteIdentity(writer, identity, chat ? "chat.completion.chunk" : "text_completion");
            writer.WriteStartArray("choices");
            writer.WriteEndArray();
            WriteUsage(writer, usage);
            writer.WriteEndObject();
        });

    /// <summary>
    /// Writes a tool call; <paramref name="index"/> is set in stream deltas, and <paramref name="arguments"/> replaces the
    /// call's arguments where a stream sends them in a later delta.
    /// </summary>
    public static void WriteToolCall(Utf8JsonWriter writer, ReplyToolCall call, int? index, string? arguments = null)
    {
        writer.WriteStartObject();
        if (index is int position)
        {
            writer.WriteNumber("index", position);
        }

        writer.WriteString("id", call.Id);
        writer.WriteString("type", "function");
        writer.WriteStartObject("function");
        writer.WriteString("name", call.Name);
        writer.WriteString("arguments", arguments ?? call.ArgumentsJson);
        writer.WriteEndObject();
        writer.WriteEndObject();
    }

    private static void WriteIdentity(Utf8JsonWriter writer, ResponseIdentity identity, string objectName)
    {
        writer.WriteString("id", identity.Id);
        writer.WriteString("object", objectName);
        writer.WriteNumber("created", identity.Created);
        writer.WriteString("model", identity.Model);
        writer.WriteString("system_fingerprint", identity.Fingerprint);
    }

    private static void WriteUsage(Utf8JsonWriter writer, ChatUsage usage)
    {
        writer.WriteStartObject("usage");
        writer.WriteNumber("prompt_tokens", usage.PromptTokens);
        writer.WriteNumber("completion_tokens", usage.CompletionTokens);
        writer.WriteNumber("total_tokens", usage.TotalTokens);
        writer.WriteStartObject("prompt_tokens_details");
        writer.WriteNumber("cached_tokens", usage.CachedPromptTokens);
        writer.WriteEndObject();
        writer.WriteStartObject("completion_tokens_details");
        writer.WriteNumber("reasoning_tokens", usage.ReasoningTokens);
        writer.WriteEndObject();
        writer.WriteEndObject();
    }

    private static void WriteChatLogprobs(Utf8JsonWriter writer, IReadOnlyList<TokenLogprobInfo> tokens, bool present)
    {
        if (!present)
        {
            writer.WriteNull("logprobs");
            return;
        }

        writer.WriteStartObject("logprobs");
        writer.WriteStartArray("content");
        foreach (var token in tokens)
        {
            writer.WriteStartObject();
            WriteTokenFields(writer, token);
            writer.WriteStartArray("top_logprobs");
            foreach (var alternative in token.TopAlternatives)
            {
                writer.WriteStartObject();
                WriteTokenFields(writer, alternative);
                writer.WriteEndObject();
            }

            writer.WriteEndArray();
            writer.WriteEndObject();
        }

        writer.WriteEndArray();
        writer.WriteNull("refusal");
        writer.WriteEndObject();
    }

    // A token that a logits processor or grammar ruled out has probability 0, log −∞, which JSON cannot express.
    // It is written as −9999, the value OpenAI's API reports for tokens of negligible probability.
    private const float ImpossibleLogprob = -9999f;

    private static float JsonLogprob(float logprob) => float.IsFinite(logprob) ? logprob : ImpossibleLogprob;

    private static void WriteTokenFields(Utf8JsonWriter writer, TokenLogprobInfo token)
    {
        writer.WriteString("token", token.Text);
        writer.WriteNumber("logprob", JsonLogprob(token.Logprob));
        writer.WriteStartArray("bytes");
        foreach (byte value in token.Bytes)
        {
            writer.WriteNumberValue(value);
        }

        writer.WriteEndArray();
    }

    /// <summary>The legacy completions layout: tokens, token_logprobs, top_logprobs (token → logprob maps), text_offset.</summary>
    private static void WriteCompletionLogprobs(Utf8JsonWriter writer, IReadOnlyList<TokenLogprobInfo> tokens, bool present)
    {
        if (!present)
        {
            writer.WriteNull("logprobs");
            return;
        }

        writer.WriteStartObject("logprobs");
        writer.WriteStartArray("tokens");
        foreach (var token in tokens)
        {
            writer.WriteStringValue(token.Text);
        }

        writer.WriteEndArray();
        writer.WriteStartArray("token_logprobs");
        foreach (var token in tokens)
        {
            writer.WriteNumberValue(JsonLogprob(token.Logprob));
        }

        writer.WriteEndArray();
        writer.WriteStartArray("top_logprobs");
        foreach (var token in tokens)
        {
            writer.WriteStartObject();
            foreach (var alternative in token.TopAlternatives)
            {
                writer.WriteNumber(alternative.Text, JsonLogprob(alternative.Logprob));
            }

            writer.WriteEndObject();
        }

        writer.WriteEndArray();
        writer.WriteStartArray("text_offset");
        int offset = 0;
        foreach (var token in tokens)
        {
            writer.WriteNumberValue(offset);
            offset += token.Text.Length;
        }

        writer.WriteEndArray();
        writer.WriteEndObject();
    }
}
