using System.Runtime.CompilerServices;
using Microsoft.Extensions.AI;
using AIChatMessage = Microsoft.Extensions.AI.ChatMessage;

namespace Waldwicht.Runtime.ChatClient;

/// <summary>
/// <see cref="IChatClient"/> over a <see cref="ChatEngine"/>, for in-process use from .NET without HTTP.
/// Options map as in the OpenAI-compatible server: see <see cref="ChatOptionsMapping"/>.
/// </summary>
/// <remarks>
/// Thread safety: the client is thread-safe; concurrent calls are queued by the engine and served on its
/// parallel sequences. The client does not own the engine unless constructed with <c>ownsEngine: true</c>.
/// Reasoning is returned as <see cref="TextReasoningContent"/>, tool calls as <see cref="FunctionCallContent"/>;
/// the client never invokes functions itself (wrap it with a function-invoking client for that).
/// </remarks>
public sealed class WaldwichtChatClient : IChatClient
{
    private readonly ChatEngine _engine;
    private readonly bool _ownsEngine;
    private readonly ChatClientMetadata _metadata;

    /// <param name="engine">The engine that runs the requests.</param>
    /// <param name="modelId">Model id reported in responses; defaults to the model's name.</param>
    /// <param name="ownsEngine">Dispose the engine with the client.</param>
    public WaldwichtChatClient(ChatEngine engine, string? modelId = null, bool ownsEngine = false)
    {
        ArgumentNullException.ThrowIfNull(engine);
        _engine = engine;
        _ownsEngine = ownsEngine;
        ModelId = modelId ?? engine.Model.Name;
        _metadata = new ChatClientMetadata("waldwicht", null, ModelId);
    }

    /// <summary>Model id reported in responses.</summary>
    public string ModelId { get; }

    /// <summary>Sends the conversation and returns the whole reply (the first choice).</summary>
    /// <exception cref="ChatRequestException">The messages or options are invalid; the message names the field.</exception>
    /// <exception cref="ChatEngineBusyException">The engine's queue is full.</exception>
    public async Task<ChatResponse> GetResponseAsync(
        IEnumerable<AIChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default)
    {
        var updates = new List<ChatResponseUpdate>();
        await foreach (var update in GetStreamingResponseAsync(messages, options, cancellationToken).ConfigureAwait(false))
        {
            updates.Add(update);
        }

        var response = updates.ToChatResponse();
        response.ModelId ??= ModelId;
        return response;
    }

    /// <summary>Sends the conversation and streams the reply as it is generated.</summary>
    /// <exception cref="ChatRequestException">The messages or options are invalid; the message names the field.</exception>
    /// <exception cref="ChatEngineBusyException">The engine's queue is full.</exception>
    public async IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(
        IEnumerable<AIChatMessage> messages,
        ChatOptions? options = null,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(messages);
        var request = ChatOptionsMapping.ToRequest(messages, options);
        var prepared = _engine.Prepare(request);
        var run = _engine.Submit(prepared, cancellationToken);
        string responseId = "chatcmpl-" + Guid.NewGuid().ToString("N");
        string messageId = "msg-" + Guid.NewGuid().ToString("N");
        var created = run.SubmittedAt;

        ChatResponseUpdate NewUpdate(IList<AIContent> contents) => new(ChatRole.Assistant, contents)
        {
            ResponseId = responseId,
            MessageId = messageId,
            CreatedAt = created,
            ModelId = ModelId,
        };

        ChatFinishReason? finish = null;
        await foreach (var update in run.Updates.ReadAllAsync(cancellationToken).ConfigureAwait(false))
        {
            if (update.Choice != 0)
            {
                continue;
            }

            switch (update)
            {
                case ReplyContent content:
                    yield return NewUpdate([new TextContent(content.Text)]);
                    break;
                case ReplyReasoning reasoning:
                    yield return NewUpdate([new TextReasoningContent(reasoning.Text)]);
                    break;
                case ReplyToolCall call:
                    yield return NewUpdate([ChatOptionsMapping.ToFunctionCall(call)]);
                    break;
                case ReplyFinished done:
                    finish = ChatOptionsMapping.ToFinishReason(done.FinishReason);
                    break;
            }
        }

        var usage = await run.Completion.ConfigureAwait(false);
        cancellationToken.ThrowIfCancellationRequested();
        var last = NewUpdate([new UsageContent(ChatOptionsMapping.ToUsageDetails(usage))]);
        last.FinishReason = finish;
        yield return last;
    }

    public object? GetService(Type serviceType, object? serviceKey = null)
    {
        ArgumentNullException.ThrowIfNull(serviceType);
        if (serviceKey is not null)
        {
            return null;
        }

        if (serviceType == typeof(ChatClientMetadata))
        {
            return _metadata;
        }

        if (serviceType.IsInstanceOfType(_engine))
        {
            return _engine;
        }

        return serviceType.IsInstanceOfType(this) ? this : null;
    }

    public void Dispose()
    {
        if (_ownsEngine)
        {
            _engine.Dispose();
        }
    }
}
