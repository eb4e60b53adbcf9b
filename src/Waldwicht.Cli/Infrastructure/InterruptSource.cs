using System.Runtime.InteropServices;

namespace Waldwicht.Cli.Infrastructure;

/// <summary>
/// Cancels a token on the first Ctrl+C (SIGINT) or SIGTERM, so that a long run can delete its
/// partial output before the process ends. A second signal ends the process at once.
/// </summary>
/// <remarks>
/// System.CommandLine 2.0 cancels the action's token only when the invocation is configured
/// with a ProcessTerminationTimeout. Without it the runtime ends the process on the signal, so
/// a temporary output folder would stay behind. Disposing removes the handlers.
/// </remarks>
internal sealed class InterruptSource : IDisposable
{
    private readonly CancellationTokenSource _source;
    private readonly PosixSignalRegistration? _termination;
    private int _signals;

    public InterruptSource(CancellationToken outer)
    {
        _source = CancellationTokenSource.CreateLinkedTokenSource(outer);
        Console.CancelKeyPress += OnCancelKeyPress;
        if (!OperatingSystem.IsWindows())
        {
            _termination = PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal);
        }
    }

    public CancellationToken Token => _source.Token;

    public void Dispose()
    {
        Console.CancelKeyPress -= OnCancelKeyPress;
        _termination?.Dispose();
        _source.Dispose();
    }

    private void OnCancelKeyPress(object? sender, ConsoleCancelEventArgs e) => e.Cancel = Cancel();

    private void OnSignal(PosixSignalContext context) => context.Cancel = Cancel();

    // Returns whether the default action (ending the process) is suppressed.
    private bool Cancel()
    {
        if (Interlocked.Increment(ref _signals) > 1)
        {
            return false;
        }

        Console.Error.WriteLine("Cancelling: removing the partial output (press Ctrl+C again to stop at once)...");
        _source.Cancel();
        return true;
    }
}
