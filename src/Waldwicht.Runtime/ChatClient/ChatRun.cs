using System.Threading.Channels;

namespace Waldwicht.Runtime.ChatClient;

/// <summary>
/// A submitted request: its updates arrive on <see cref="Updates"/> in order, choice after choice, and
/// <see cref="Completion"/> gives the usage when every choice has finished. An internal failure completes the
/// reader and faults <see cref="Completion"/> with the exception.
/// </summary>
public sealed class ChatRun
{
    private readonly Channel<ReplyUpdate> _channel = Channel.CreateUnbounded<ReplyUpdate>(
        new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });

    private readonly TaskCompletionSource<ChatUsage> _completion = new(TaskCreationOptions.RunContinuationsAsynchronously);

    internal ChatRun(PreparedChat prepared)
    {
        Prepared = prepared;
        SubmittedAt = DateTimeOffset.UtcNow;
        Started = System.Diagnostics.Stopwatch.GetTimestamp();
    }

    public PreparedChat Prepared { get; }

    /// <summary>Time the request was queued.</summary>
    public DateTimeOffset SubmittedAt { get; }

    public ChannelReader<ReplyUpdate> Updates => _channel.Reader;

    public Task<ChatUsage> Completion => _completion.Task;

    internal long Started { get; }

    internal void Write(ReplyUpdate update) => _channel.Writer.TryWrite(update);

    internal void Complete(ChatUsage usage)
    {
        _channel.Writer.TryComplete();
        _completion.TrySetResult(usage);
    }

    internal void Fail(Exception error)
    {
        _channel.Writer.TryComplete(error);
        _completion.TrySetException(error);
    }
}
