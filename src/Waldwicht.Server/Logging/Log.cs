using Microsoft.Extensions.Logging;

namespace Waldwicht.Server.Logging;

/// <summary>
/// Log messages of the server with stable event ids (1xx lifecycle, 2xx requests, 3xx model output).
/// Prompts are logged only at Trace.
/// </summary>
internal static partial class Log
{
    [LoggerMessage(100, LogLevel.Information, "Serving {Model} on {Address} with {Parallel} parallel sequence(s), context {Context} tokens, queue {MaxQueue}, thinking {Thinking}", EventName = "ServerStarted")]
    public static partial void ServerStarted(ILogger logger, string model, string address, int parallel, int context, int maxQueue, string thinking);

    [LoggerMessage(101, LogLevel.Information, "Shutting down: finishing {Running} running and {Queued} queued request(s) within {Timeout}", EventName = "ServerStopping")]
    public static partial void ServerStopping(ILogger logger, int running, int queued, TimeSpan timeout);

    [LoggerMessage(102, LogLevel.Warning, "Shutdown timeout reached: cancelling {Running} running and {Queued} queued request(s)", EventName = "ShutdownCancelling")]
    public static partial void ShutdownCancelling(ILogger logger, int running, int queued);

    [LoggerMessage(103, LogLevel.Debug, "Server stopped", EventName = "ServerStopped")]
    public static partial void ServerStopped(ILogger logger);

    [LoggerMessage(200, LogLevel.Information, "{RequestId} {Route} finished: {FinishReason}, {PromptTokens} prompt tokens ({CachedTokens} cached), {CompletionTokens} completion tokens, {Seconds:F3} s", EventName = "RequestCompleted")]
    public static partial void RequestCompleted(ILogger logger, string requestId, string route, string finishReason, int promptTokens, int cachedTokens, int completionTokens, double seconds);

    [LoggerMessage(201, LogLevel.Information, "{RequestId} rejected with {Status}: {Message}", EventName = "RequestInvalid")]
    public static partial void RequestInvalid(ILogger logger, string requestId, int status, string message);

    [LoggerMessage(202, LogLevel.Warning, "{RequestId} rejected: the queue is full ({Queued} waiting, limit {Limit})", EventName = "QueueFull")]
    public static partial void QueueFull(ILogger logger, string requestId, int queued, int limit);

    [LoggerMessage(203, LogLevel.Warning, "Rejected a request to {Path} from {Remote}: missing or wrong API key", EventName = "Unauthorized")]
    public static partial void Unauthorized(ILogger logger, string path, string remote);

    [LoggerMessage(204, LogLevel.Debug, "{RequestId} cancelled after {CompletionTokens} completion tokens (client disconnected or server stopping)", EventName = "RequestCancelled")]
    public static partial void RequestCancelled(ILogger logger, string requestId, int completionTokens);

    [LoggerMessage(205, LogLevel.Error, "{RequestId} failed with an internal error", EventName = "RequestFailed")]
    public static partial void RequestFailed(ILogger logger, string requestId, Exception exception);

    [LoggerMessage(206, LogLevel.Trace, "{RequestId} prompt ({PromptTokens} tokens): {Prompt}", EventName = "PromptSensitive")]
    public static partial void PromptSensitive(ILogger logger, string requestId, int promptTokens, string prompt);

    [LoggerMessage(207, LogLevel.Error, "Unhandled error on {Method} {Path}", EventName = "UnhandledError")]
    public static partial void UnhandledError(ILogger logger, string method, string path, Exception exception);

    [LoggerMessage(208, LogLevel.Warning, "{RequestId} rejected: the server is shutting down", EventName = "RejectedWhileStopping")]
    public static partial void RejectedWhileStopping(ILogger logger, string requestId);

    [LoggerMessage(300, LogLevel.Warning, "{RequestId} choice {Choice}: a tool call could not be parsed and was returned as content ({Error})", EventName = "ToolCallUnparsed")]
    public static partial void ToolCallUnparsed(ILogger logger, string requestId, int choice, string error);
}
