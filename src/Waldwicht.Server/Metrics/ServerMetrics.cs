using System.Diagnostics.Metrics;
using Waldwicht.Runtime.ChatClient;

namespace Waldwicht.Server.Metrics;

/// <summary>
/// The server's instruments (System.Diagnostics.Metrics, meter "Waldwicht.Server"): queue and running gauges,
/// KV-cache utilisation, token counters and latency histograms. Any metrics listener can collect them;
/// <see cref="PrometheusExporter"/> serves them on /metrics. Thread-safe.
/// </summary>
public sealed class ServerMetrics : IDisposable
{
    public const string MeterName = "Waldwicht.Server";

    private static readonly double[] LatencyBuckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];
    private static readonly double[] TokenLatencyBuckets = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 1, 2.5];

    private readonly Counter<long> _promptTokens;
    private readonly Counter<long> _cachedPromptTokens;
    private readonly Counter<long> _generatedTokens;
    private readonly Counter<long> _requests;
    private readonly Histogram<double> _timeToFirstToken;
    private readonly Histogram<double> _timePerOutputToken;
    private readonly Histogram<double> _requestDuration;

    public ServerMetrics(ChatEngine engine)
    {
        ArgumentNullException.ThrowIfNull(engine);
        Meter = new Meter(MeterName);
        Meter.CreateObservableGauge("waldwicht.requests.queued", () => engine.QueuedRequests, "{request}", "Requests waiting for a free sequence.");
        Meter.CreateObservableGauge("waldwicht.requests.running", () => engine.RunningRequests, "{request}", "Requests being generated.");
        Meter.CreateObservableGauge("waldwicht.kv_cache.utilization", () => engine.KvCacheUtilization, "1",
            "Tokens held by the sequence sessions divided by parallel sequences times context length.");
        Meter.CreateObservableGauge("waldwicht.kv_cache.size", () => engine.SlotKvCacheBytes, "By", "Bytes of keys and values held by the sequence sessions.");
        Meter.CreateObservableGauge("waldwicht.prompt_cache.entries", () => engine.PromptCache.Count, "{entry}", "Sequences stored in the prompt cache.");
        Meter.CreateObservableGauge("waldwicht.prompt_cache.size", () => engine.PromptCache.Bytes, "By", "Bytes of keys and values stored in the prompt cache.");
        _promptTokens = Meter.CreateCounter<long>("waldwicht.prompt_tokens", "{token}", "Prompt tokens of finished requests.");
        _cachedPromptTokens = Meter.CreateCounter<long>("waldwicht.prompt_tokens.cached", "{token}", "Prompt tokens served from the prompt cache.");
        _generatedTokens = Meter.CreateCounter<long>("waldwicht.generation_tokens", "{token}", "Generated tokens.");
        _requests = Meter.CreateCounter<long>("waldwicht.requests", "{request}", "Completed HTTP requests by route and status code.");
        _timeToFirstToken = Meter.CreateHistogram("waldwicht.time_to_first_token", "s",
            "Time from request arrival (queue wait included) to the first generated token.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = LatencyBuckets });
        _timePerOutputToken = Meter.CreateHistogram("waldwicht.time_per_output_token", "s",
            "Mean time between generated tokens of one reply, after the first.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = TokenLatencyBuckets });
        _requestDuration = Meter.CreateHistogram("waldwicht.request.duration", "s",
            "Duration of completion requests from arrival to the last byte.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = LatencyBuckets });
    }

    public Meter Meter { get; }

    /// <summary>Records one finished choice.</summary>
    public void RecordChoice(ReplyFinished finished)
    {
        ArgumentNullException.ThrowIfNull(finished);
        _generatedTokens.Add(finished.CompletionTokens);
        if (finished.TimeToFirstToken is { } firstToken)
        {
            _timeToFirstToken.Record(firstToken.TotalSeconds);
        }

        if (finished.CompletionTokens > 1)
        {
            _timePerOutputToken.Record(finished.DecodeSeconds / (finished.CompletionTokens - 1));
        }
    }

    /// <summary>Records the prompt of a finished request.</summary>
    public void RecordPrompt(ChatUsage usage)
    {
        ArgumentNullException.ThrowIfNull(usage);
        _promptTokens.Add(usage.PromptTokens);
        _cachedPromptTokens.Add(usage.CachedPromptTokens);
    }

    /// <summary>Records a completed HTTP request.</summary>
    public void RecordRequest(string route, int status, double seconds, bool completion)
    {
        _requests.Add(1, new KeyValuePair<string, object?>("route", route), new KeyValuePair<string, object?>("status", status));
        if (completion)
        {
            _requestDuration.Record(seconds, new KeyValuePair<string, object?>("route", route));
        }
    }

    public void Dispose() => Meter.Dispose();
}
