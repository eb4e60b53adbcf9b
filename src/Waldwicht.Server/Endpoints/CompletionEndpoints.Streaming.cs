using System.Diagnostics;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Waldwicht.Runtime.ChatClient;
using Waldwicht.Server.Api;
using Waldwicht.Server.Logging;

namespace Waldwicht.Server.Endpoints;

internal sealed partial class CompletionEndpoints
{
    private static readonly byte[] DoneEvent = "data: [DONE]\n\n"u8.ToArray();
    private static readonly byte[] KeepAliveComment = ": keep-alive\n\n"u8.ToArray();

    /// <summary>
    /// Streams the run as server-sent events: a role chunk first (chat), then content, reasoning and tool-call
    /// deltas, one chunk with finish_reason per choice, the usage chunk when asked for, and <c>data: [DONE]</c>.
    /// A comment line keeps the connection alive while nothing else is sent for the keep-alive interval.
    /// An internal failure after the headers ends the stream with an error event and <c>[DONE]</c>.
    /// </summary>
    private async Task StreamAsync(HttpContext context, ChatRun run, ResponseIdentity identity, bool chat, bool includeUsage)
    {
        var response = context.Response;
        var aborted = context.RequestAborted;
        response.StatusCode = StatusCodes.Status200OK;
        response.ContentType = "text/event-stream; charset=utf-8";
        response.Headers.CacheControl = "no-cache";
        response.Headers["X-Accel-Buffering"] = "no";
        var writer = new SseWriter(response, _options.KeepAliveInterval);
        var started = new bool[run.Prepared.Request.ChoiceCount];
        var pendingLogprobs = new PendingLogprobs(run.Prepared.Request.ChoiceCount);
        ReplyFinished? first = null;
        bool cancelled = false;

        try
        {
            if (chat)
            {
                await writer.DataAsync(RoleChunk(identity, 0), aborted);
                started[0] = true;
            }

            await writer.FlushAsync(aborted);
            var reader = run.Updates;
            while (true)
            {
                while (reader.TryRead(out var update))
                {
                    Observe(update, identity.Id);
                    if (chat && !started[update.Choice])
                    {
                        await writer.DataAsync(RoleChunk(identity, update.Choice), aborted);
                        started[update.Choice] = true;
                    }

                    if (update is ReplyFinished finished)
                    {
                        first ??= finished;
                        cancelled |= finished.FinishReason == ReplyFinishReason.Cancelled;
                    }

                    foreach (var chunk in Chunks(identity, update, chat, pendingLogprobs))
                    {
                        await writer.DataAsync(chunk, aborted);
                    }
                }

                await writer.FlushAsync(aborted);
                if (!await writer.WaitAsync(reader, aborted))
                {
                    break;
                }
            }

            var usage = await run.Completion;
            if (cancelled)
            {
                Log.RequestCancelled(_logger, identity.Id, usage.CompletionTokens);
                if (!aborted.IsCancellationRequested)
                {
                    await writer.DataAsync(ApiErrorWriter.ToJson(ShuttingDown("The server is shutting down; the reply was cancelled.")), aborted);
                    await writer.RawAsync(DoneEvent, aborted);
                    await writer.FlushAsync(aborted);
                }

                return;
            }

            Completed(identity.Id, chat, first, usage, run);
            if (includeUsage)
            {
                await writer.DataAsync(ResponseJson.UsageChunk(identity, chat, usage), aborted);
            }

            await writer.RawAsync(DoneEvent, aborted);
            await writer.FlushAsync(aborted);
        }
        catch (Exception ex) when (ex is OperationCanceledException or IOException && aborted.IsCancellationRequested)
        {
            // The client went away; the engine stops generating through the same token.
            _ = run.Completion.ContinueWith(
                finished => Log.RequestCancelled(_logger, identity.Id, finished.IsCompletedSuccessfully ? finished.Result.CompletionTokens : 0),
                TaskScheduler.Default);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            Log.RequestFailed(_logger, identity.Id, ex);
            await TryWriteStreamErrorAsync(writer, aborted);
        }
    }

    private static async Task TryWriteStreamErrorAsync(SseWriter writer, CancellationToken aborted)
    {
        try
        {
            await writer.DataAsync(ApiErrorWriter.ToJson(InternalError()), aborted);
            await writer.RawAsync(DoneEvent, aborted);
            await writer.FlushAsync(aborted);
        }
        catch (Exception ex) when (ex is IOException or OperationCanceledException)
        {
            // The connection is gone as well; nothing more can be sent.
        }
    }

    private static byte[] RoleChunk(ResponseIdentity identity, int choice) =>
        ResponseJson.ChatChunk(identity, choice, delta =>
        {
            delta.WriteString("role", "assistant");
            delta.WriteString("content", string.Empty);
        });

    /// <summary>
    /// The chunks of one update; tool calls take two: name and id first, then the arguments. Token
    /// log-probabilities wait in <paramref name="pending"/> and go out with the next chunk of their choice that
    /// carries generated text (content, reasoning or the first chunk of a tool call), as OpenAI sends them with
    /// their content, or in a chunk of their own just before the choice's finish chunk.
    /// </summary>
    /// <remarks>
    /// Text that may still turn into a stop sequence or a control marker is held back, so a content chunk can
    /// carry the log-probabilities of tokens whose text follows in a later chunk.
    /// </remarks>
    private static IEnumerable<byte[]> Chunks(ResponseIdentity identity, ReplyUpdate update, bool chat, PendingLogprobs pending)
    {
        if (update is ReplyLogprob logprob)
        {
            pending.Add(logprob);
            yield break;
        }

        if (!chat)
        {
            // NOTE: text completions return content only; reasoning and parsed tool calls are not part of that API.
            switch (update)
            {
                case ReplyContent content:
                    yield return ResponseJson.TextChunk(identity, content.Choice, content.Text, logprobs: pending.Take(content.Choice));
                    break;
                case ReplyFinished finished when finished.FinishReason != ReplyFinishReason.Cancelled:
                    if (pending.Take(finished.Choice) is { } rest)
                    {
                        yield return ResponseJson.TextChunk(identity, finished.Choice, string.Empty, logprobs: rest);
                    }

                    yield return ResponseJson.TextChunk(identity, finished.Choice, string.Empty, finished.FinishReason);
                    break;
            }

            yield break;
        }

        switch (update)
        {
            case ReplyContent content:
                yield return ResponseJson.ChatChunk(
                    identity, content.Choice, delta => delta.WriteString("content", content.Text), logprobs: pending.Take(content.Choice));
                break;
            case ReplyReasoning reasoning:
                yield return ResponseJson.ChatChunk(
                    identity,
                    reasoning.Choice,
                    delta =>
                    {
                        delta.WriteString("reasoning", reasoning.Text);
                        delta.WriteString("reasoning_content", reasoning.Text);
                    },
                    logprobs: pending.Take(reasoning.Choice));
                break;
            case ReplyToolCall call:
                yield return ResponseJson.ChatChunk(
                    identity, call.Choice, delta => WriteToolCallStart(delta, call), logprobs: pending.Take(call.Choice));
                yield return ResponseJson.ChatChunk(identity, call.Choice, delta => WriteToolCallArguments(delta, call));
                break;
            case ReplyFinished finished when finished.FinishReason != ReplyFinishReason.Cancelled:
                if (pending.Take(finished.Choice) is { } rest)
                {
                    yield return ResponseJson.ChatChunk(identity, finished.Choice, null, logprobs: rest);
                }

                yield return ResponseJson.ChatChunk(identity, finished.Choice, null, finished.FinishReason);
                break;
        }
    }

    // The first delta of a tool call: index, id, type and name, with empty arguments.
    private static void WriteToolCallStart(Utf8JsonWriter delta, ReplyToolCall call)
    {
        delta.WriteStartArray("tool_calls");
        ResponseJson.WriteToolCall(delta, call, call.Index, arguments: string.Empty);
        delta.WriteEndArray();
    }

    // The second delta of a tool call: its arguments as one JSON string.
    private static void WriteToolCallArguments(Utf8JsonWriter delta, ReplyToolCall call)
    {
        delta.WriteStartArray("tool_calls");
        delta.WriteStartObject();
        delta.WriteNumber("index", call.Index);
        delta.WriteStartObject("function");
        delta.WriteString("arguments", call.ArgumentsJson);
        delta.WriteEndObject();
        delta.WriteEndObject();
        delta.WriteEndArray();
    }

    /// <summary>Token log-probabilities per choice that no chunk has carried yet.</summary>
    private sealed class PendingLogprobs(int choices)
    {
        private readonly List<TokenLogprobInfo>?[] _tokens = new List<TokenLogprobInfo>?[choices];

        public void Add(ReplyLogprob logprob) => (_tokens[logprob.Choice] ??= []).Add(logprob.Token);

        /// <summary>Removes and returns the choice's waiting tokens, or null when none wait.</summary>
        public List<TokenLogprobInfo>? Take(int choice)
        {
            var tokens = _tokens[choice];
            _tokens[choice] = null;
            return tokens is { Count: > 0 } ? tokens : null;
        }
    }

    /// <summary>Writes SSE events and keep-alive comments to a response.</summary>
    private sealed class SseWriter(HttpResponse response, TimeSpan keepAlive)
    {
        private static readonly byte[] DataPrefix = "data: "u8.ToArray();
        private static readonly byte[] EventEnd = "\n\n"u8.ToArray();
        private long _lastWrite = Stopwatch.GetTimestamp();

        public async Task DataAsync(byte[] json, CancellationToken cancellationToken)
        {
            await response.Body.WriteAsync(DataPrefix, cancellationToken);
            await response.Body.WriteAsync(json, cancellationToken);
            await response.Body.WriteAsync(EventEnd, cancellationToken);
            _lastWrite = Stopwatch.GetTimestamp();
        }

        public async Task RawAsync(byte[] bytes, CancellationToken cancellationToken)
        {
            await response.Body.WriteAsync(bytes, cancellationToken);
            _lastWrite = Stopwatch.GetTimestamp();
        }

        public Task FlushAsync(CancellationToken cancellationToken) => response.Body.FlushAsync(cancellationToken);

        /// <summary>
        /// Waits until the reader has updates (true) or is complete (false), sending a keep-alive comment
        /// whenever nothing was written for the keep-alive interval.
        /// </summary>
        public async Task<bool> WaitAsync(System.Threading.Channels.ChannelReader<ReplyUpdate> reader, CancellationToken cancellationToken)
        {
            var wait = reader.WaitToReadAsync(CancellationToken.None).AsTask();
            while (true)
            {
                var idle = Stopwatch.GetElapsedTime(_lastWrite);
                var remaining = keepAlive - idle;
                if (remaining <= TimeSpan.Zero)
                {
                    await RawAsync(KeepAliveComment, cancellationToken);
                    await FlushAsync(cancellationToken);
                    continue;
                }

                using var timer = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                timer.CancelAfter(remaining);
                var delay = Task.Delay(Timeout.Infinite, timer.Token);
                var finished = await Task.WhenAny(wait, delay);
                cancellationToken.ThrowIfCancellationRequested();
                if (finished == wait)
                {
                    return await wait;
                }
            }
        }
    }
}
