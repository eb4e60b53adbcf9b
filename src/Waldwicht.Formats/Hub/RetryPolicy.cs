using System.Net;

namespace Waldwicht.Formats.Hub;

/// <summary>
/// A failure that may pass on its own: HTTP 408, 429 or 502-504 (and 500), a reset or dropped connection, or a
/// timeout. <see cref="Error"/> is what the caller sees once retries are used up.
/// </summary>
internal sealed class TransientHubException : Exception
{
    public TransientHubException(ModelSourceException error, TimeSpan? retryAfter = null)
        : base(error.Message, error)
    {
        Error = error;
        RetryAfter = retryAfter;
    }

    public ModelSourceException Error { get; }

    /// <summary>Wait that the server asked for in a Retry-After header.</summary>
    public TimeSpan? RetryAfter { get; }

    /// <summary>Returns <see cref="Error"/> with the number of attempts appended to its message.</summary>
    public ModelSourceException GiveUp(int attempts)
    {
        var message = $"{Error.Message} Gave up after {attempts} attempt{(attempts == 1 ? "" : "s")}.";
        return Error.StatusCode is HttpStatusCode status
            ? new ModelSourceException(Error.Error, message, status, Error.InnerException)
            : new ModelSourceException(Error.Error, message, Error.InnerException);
    }
}

/// <summary>Bounded retries with exponential backoff, as configured by <see cref="ModelDownloadOptions"/>.</summary>
internal sealed class RetryPolicy
{
    private readonly ModelDownloadOptions _options;

    public RetryPolicy(ModelDownloadOptions options)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(options.MaxRetries, nameof(options.MaxRetries));
        _options = options;
    }

    public int MaxRetries => _options.MaxRetries;

    /// <summary>Runs <paramref name="attempt"/> until it succeeds, fails permanently, or has failed transiently <see cref="MaxRetries"/> + 1 times.</summary>
    public async Task<T> RunAsync<T>(Func<CancellationToken, Task<T>> attempt, CancellationToken cancellationToken)
    {
        for (var retry = 0; ; retry++)
        {
            try
            {
                return await attempt(cancellationToken).ConfigureAwait(false);
            }
            catch (TransientHubException failure)
            {
                if (retry >= MaxRetries)
                {
                    throw failure.GiveUp(retry + 1);
                }

                await WaitBeforeRetryAsync(retry, failure, cancellationToken).ConfigureAwait(false);
            }
        }
    }

    /// <summary>Reports the failure through <see cref="ModelDownloadOptions.OnWarning"/> and waits before retry number <paramref name="retry"/> + 1.</summary>
    public async Task WaitBeforeRetryAsync(int retry, TransientHubException failure, CancellationToken cancellationToken)
    {
        var backoff = _options.RetryDelay * Math.Pow(2, Math.Min(retry, 30));
        var delay = failure.RetryAfter ?? backoff;
        if (delay > _options.MaxRetryDelay)
        {
            delay = _options.MaxRetryDelay;
        }

        _options.OnWarning?.Invoke(
            $"{failure.Error.Message} Retrying in {delay.TotalSeconds:0.###} s (retry {retry + 1} of {MaxRetries}).");
        await Task.Delay(delay, cancellationToken).ConfigureAwait(false);
    }
}
