using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;

namespace Waldwicht.LoadTest;

/// <summary>
/// Load test for a running <c>waldwicht serve</c>: a fixed number of streaming chat requests from a fixed number
/// of concurrent clients, bounded in count and time, against loopback addresses only. Reports status codes,
/// latencies and the server's resident memory (from /debug/memory) before and after.
/// </summary>
internal static class Program
{
    private static async Task<int> Main(string[] args)
    {
        LoadTestSettings settings;
        try
        {
            settings = LoadTestSettings.Parse(args);
        }
        catch (ArgumentException ex)
        {
            Console.Error.WriteLine($"error: {ex.Message}");
            Console.Error.WriteLine(LoadTestSettings.Usage);
            return 2;
        }

        using var http = new HttpClient { BaseAddress = settings.Url, Timeout = settings.Duration };
        if (settings.ApiKey is { Length: > 0 } key)
        {
            http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);
        }

        using var budget = new CancellationTokenSource(settings.Duration);
        var before = await ReadResidentBytesAsync(http);
        var results = new List<RequestResult>();
        int next = -1;
        var clock = Stopwatch.StartNew();
        var clients = Enumerable.Range(0, settings.Clients).Select(async client =>
        {
            while (Interlocked.Increment(ref next) < settings.Requests && !budget.IsCancellationRequested)
            {
                var result = await RunOneAsync(http, settings, next, budget.Token);
                lock (results)
                {
                    results.Add(result);
                }
            }
        });
        await Task.WhenAll(clients);
        double elapsed = clock.Elapsed.TotalSeconds;
        var after = await ReadResidentBytesAsync(http);

        Report(settings, results, elapsed, before, after);
        bool clean = results.Count == settings.Requests && results.All(r => r.Status == 200 && r.Completed);
        return clean ? 0 : 1;
    }

    private static async Task<RequestResult> RunOneAsync(HttpClient http, LoadTestSettings settings, int index, CancellationToken cancellationToken)
    {
        string body = JsonSerializer.Serialize(new Dictionary<string, object>
        {
            ["messages"] = new[] { new Dictionary<string, string> { ["role"] = "user", ["content"] = $"Load test request {index}: tell a short story." } },
            ["max_tokens"] = settings.MaxTokens,
            ["temperature"] = 0.7,
            ["seed"] = index,
            ["stream"] = true,
            ["stream_options"] = new Dictionary<string, bool> { ["include_usage"] = true },
        });
        var clock = Stopwatch.StartNew();
        try
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, "v1/chat/completions") { Content = new StringContent(body, Encoding.UTF8, "application/json") };
            using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken);
            if (response.StatusCode != HttpStatusCode.OK)
            {
                return new RequestResult((int)response.StatusCode, false, null, clock.Elapsed.TotalSeconds, 0);
            }

            using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(cancellationToken));
            double? firstContent = null;
            int completionTokens = 0;
            bool done = false;
            while (await reader.ReadLineAsync(cancellationToken) is { } line)
            {
                if (!line.StartsWith("data: ", StringComparison.Ordinal))
                {
                    continue;
                }

                if (line == "data: [DONE]")
                {
                    done = true;
                    break;
                }

                using var chunk = JsonDocument.Parse(line.AsMemory(6));
                if (chunk.RootElement.TryGetProperty("error", out _))
                {
                    return new RequestResult(500, false, firstContent, clock.Elapsed.TotalSeconds, completionTokens);
                }

                if (chunk.RootElement.TryGetProperty("usage", out var usage) && usage.ValueKind == JsonValueKind.Object)
                {
                    completionTokens = usage.GetProperty("completion_tokens").GetInt32();
                }
                else if (firstContent is null && chunk.RootElement.GetProperty("choices").GetArrayLength() > 0
                         && chunk.RootElement.GetProperty("choices")[0].GetProperty("delta").TryGetProperty("content", out var content)
                         && content.GetString() is { Length: > 0 })
                {
                    firstContent = clock.Elapsed.TotalSeconds;
                }
            }

            return new RequestResult(200, done, firstContent, clock.Elapsed.TotalSeconds, completionTokens);
        }
        catch (Exception ex) when (ex is HttpRequestException or IOException or OperationCanceledException)
        {
            return new RequestResult(0, false, null, clock.Elapsed.TotalSeconds, 0) { Error = ex.Message };
        }
    }

    private static async Task<long?> ReadResidentBytesAsync(HttpClient http)
    {
        try
        {
            using var document = JsonDocument.Parse(await http.GetStringAsync("debug/memory"));
            return document.RootElement.GetProperty("resident_bytes").GetInt64();
        }
        catch (Exception ex) when (ex is HttpRequestException or JsonException or KeyNotFoundException)
        {
            Console.Error.WriteLine($"warning: cannot read /debug/memory: {ex.Message}");
            return null;
        }
    }

    private static void Report(LoadTestSettings settings, List<RequestResult> results, double elapsed, long? before, long? after)
    {
        static string Seconds(IEnumerable<double> values, double quantile)
        {
            var sorted = values.Order().ToArray();
            if (sorted.Length == 0)
            {
                return "-";
            }

            return sorted[Math.Min(sorted.Length - 1, (int)Math.Ceiling(quantile * sorted.Length) - 1)].ToString("F3", CultureInfo.InvariantCulture);
        }

        static string Mib(long? bytes) => bytes is long value ? (value / 1048576.0).ToString("F1", CultureInfo.InvariantCulture) + " MiB" : "unknown";

        var ok = results.Where(r => r.Status == 200 && r.Completed).ToList();
        int tokens = results.Sum(r => r.CompletionTokens);
        Console.WriteLine($"| clients | requests | completed | 5xx | other failures | wall time | completion tokens | tokens/s | TTFT p50 / p95 | latency p50 / p95 | RSS before | RSS after |");
        Console.WriteLine("|---|---|---|---|---|---|---|---|---|---|---|---|");
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"| {settings.Clients} | {results.Count}/{settings.Requests} | {ok.Count} | {results.Count(r => r.Status >= 500)} | {results.Count(r => r.Status is > 0 and < 500 and not 200) + results.Count(r => r.Status == 0) + results.Count(r => r.Status == 200 && !r.Completed)} "
            + $"| {elapsed:F1} s | {tokens} | {tokens / elapsed:F1} | {Seconds(ok.Where(r => r.FirstContentSeconds.HasValue).Select(r => r.FirstContentSeconds!.Value), 0.5)} / {Seconds(ok.Where(r => r.FirstContentSeconds.HasValue).Select(r => r.FirstContentSeconds!.Value), 0.95)} s "
            + $"| {Seconds(ok.Select(r => r.Seconds), 0.5)} / {Seconds(ok.Select(r => r.Seconds), 0.95)} s | {Mib(before)} | {Mib(after)} |"));
        foreach (var failure in results.Where(r => r.Error is not null).Take(5))
        {
            Console.WriteLine($"failure: {failure.Error}");
        }
    }

    private sealed record RequestResult(int Status, bool Completed, double? FirstContentSeconds, double Seconds, int CompletionTokens)
    {
        public string? Error { get; init; }
    }
}

/// <summary>Command-line settings of the load test.</summary>
internal sealed record LoadTestSettings(Uri Url, int Clients, int Requests, int MaxTokens, TimeSpan Duration, string? ApiKey)
{
    public const string Usage =
        "usage: Waldwicht.LoadTest [--url http://127.0.0.1:8080] [--clients 16] [--requests 64] [--max-tokens 64] [--duration-seconds 600] [--api-key KEY]";

    /// <exception cref="ArgumentException">An argument is unknown, malformed, out of range, or the URL is not a loopback address.</exception>
    public static LoadTestSettings Parse(string[] args)
    {
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        for (int i = 0; i < args.Length; i += 2)
        {
            if (!args[i].StartsWith("--", StringComparison.Ordinal) || i + 1 >= args.Length)
            {
                throw new ArgumentException($"Expected --name value pairs; got '{args[i]}'.");
            }

            values[args[i][2..]] = args[i + 1];
        }

        var known = new HashSet<string> { "url", "clients", "requests", "max-tokens", "duration-seconds", "api-key" };
        foreach (var name in values.Keys.Where(k => !known.Contains(k)))
        {
            throw new ArgumentException($"Unknown option --{name}.");
        }

        var url = new Uri(values.GetValueOrDefault("url", "http://127.0.0.1:8080").TrimEnd('/') + "/");
        if (!url.IsLoopback)
        {
            throw new ArgumentException($"--url must be a loopback address (127.0.0.1, localhost or [::1]); got {url.Host}.");
        }

        return new LoadTestSettings(
            url,
            Int(values, "clients", 16, 1, 256),
            Int(values, "requests", 64, 1, 100_000),
            Int(values, "max-tokens", 64, 1, 100_000),
            TimeSpan.FromSeconds(Int(values, "duration-seconds", 600, 1, 86_400)),
            values.GetValueOrDefault("api-key") ?? Environment.GetEnvironmentVariable("WALDWICHT_API_KEY"));
    }

    private static int Int(Dictionary<string, string> values, string name, int fallback, int min, int max)
    {
        if (!values.TryGetValue(name, out var text))
        {
            return fallback;
        }

        if (!int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out int value) || value < min || value > max)
        {
            throw new ArgumentException($"--{name} must be an integer between {min} and {max}; got '{text}'.");
        }

        return value;
    }
}
