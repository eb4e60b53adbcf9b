using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using Waldwicht.Runtime.ChatClient;
using Waldwicht.Runtime.Generation;

namespace Waldwicht.Server.Tests.Infrastructure;

/// <summary>
/// A live server on 127.0.0.1 with a free port, serving the tiny model, plus an HttpClient aimed at it.
/// <see cref="Script"/> decides the extra logits processor of each reply (null = the model's own output).
/// </summary>
internal sealed class TestServer : IAsyncDisposable
{
    private TestServer(WaldwichtServer server, Uri baseAddress, ListLoggerProvider logs)
    {
        Server = server;
        BaseAddress = baseAddress;
        Logs = logs;
        Http = new HttpClient { BaseAddress = baseAddress, Timeout = TimeSpan.FromSeconds(60) };
    }

    public WaldwichtServer Server { get; }

    public Uri BaseAddress { get; }

    public HttpClient Http { get; }

    public ListLoggerProvider Logs { get; }

    /// <summary>Per-reply processor factory; set by tests before sending requests.</summary>
    public Func<ChatGenerationRequest, int, ILogitsProcessor?>? Script { get; set; }

    public static async Task<TestServer> StartAsync(Action<ServerOptions>? configure = null)
    {
        var options = new ServerOptions { Host = "127.0.0.1", Port = 0, ModelId = "tiny-gemma4", PromptCacheEntries = 4 };
        configure?.Invoke(options);
        var logs = new ListLoggerProvider();
        TestServer? self = null;
        var server = WaldwichtServer.Create(
            TinyModel.Instance,
            options,
            logging =>
            {
                logging.AddProvider(logs);
                logging.SetMinimumLevel(LogLevel.Trace);
            },
            engine => engine with { ExtraLogitsProcessor = (request, choice) => self?.Script?.Invoke(request, choice) });
        await server.StartAsync();
        var address = server.Addresses.Single().Replace("[::]", "127.0.0.1", StringComparison.Ordinal);
        self = new TestServer(server, new Uri(address.TrimEnd('/') + "/"), logs);
        return self;
    }

    /// <summary>Posts a JSON body given as text.</summary>
    public Task<HttpResponseMessage> PostAsync(string path, string json, CancellationToken cancellationToken = default)
    {
        var content = new StringContent(json, Encoding.UTF8);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        return Http.PostAsync(path, content, cancellationToken);
    }

    /// <summary>Posts and parses the JSON response.</summary>
    public async Task<(int Status, JsonElement Body)> PostJsonAsync(string path, string json)
    {
        using var response = await PostAsync(path, json);
        string text = await response.Content.ReadAsStringAsync();
        return ((int)response.StatusCode, JsonDocument.Parse(text).RootElement.Clone());
    }

    /// <summary>Posts a streaming request and returns every SSE line (comments included) until the server closes the stream.</summary>
    public async Task<List<string>> StreamLinesAsync(string path, string json)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = new StringContent(json, Encoding.UTF8, "application/json") };
        using var response = await Http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(200, (int)response.StatusCode);
        Assert.StartsWith("text/event-stream", response.Content.Headers.ContentType?.ToString());
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
        var lines = new List<string>();
        while (await reader.ReadLineAsync() is { } line)
        {
            if (line.Length > 0)
            {
                lines.Add(line);
            }
        }

        return lines;
    }

    public async ValueTask DisposeAsync()
    {
        Http.Dispose();
        await Server.StopAsync();
        await Server.DisposeAsync();
    }
}

/// <summary>Collects log entries in memory.</summary>
internal sealed class ListLoggerProvider : ILoggerProvider
{
    private readonly List<(LogLevel Level, EventId Id, string Message)> _entries = [];

    public IReadOnlyList<(LogLevel Level, EventId Id, string Message)> Entries
    {
        get
        {
            lock (_entries)
            {
                return [.. _entries];
            }
        }
    }

    public ILogger CreateLogger(string categoryName) => new ListLogger(this);

    public void Dispose()
    {
    }

    private sealed class ListLogger(ListLoggerProvider owner) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            lock (owner._entries)
            {
                owner._entries.Add((logLevel, eventId, formatter(state, exception)));
            }
        }
    }
}
