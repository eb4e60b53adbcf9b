using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Waldwicht.Runtime;
using Waldwicht.Runtime.ChatClient;
using Waldwicht.Server.Endpoints;
using Waldwicht.Server.Hosting;
using Waldwicht.Server.Logging;
using Waldwicht.Server.Metrics;

namespace Waldwicht.Server;

/// <summary>
/// The OpenAI-compatible HTTP server on Kestrel: one loaded model, a <see cref="ChatEngine"/> in front of it,
/// and the endpoints of <see cref="Routes"/>. Create it with <see cref="Create"/>, then <see cref="RunAsync"/>
/// (until cancelled) or <see cref="StartAsync"/> and <see cref="StopAsync"/>.
/// </summary>
/// <remarks>
/// Shutdown: new requests get 503 at once; running and queued requests get
/// <see cref="ServerOptions.ShutdownDrainTimeout"/> to finish and are then cancelled (streams end with an
/// error event and [DONE], other requests get 503). The caller owns the <see cref="LanguageModel"/>.
/// </remarks>
public sealed class WaldwichtServer : IAsyncDisposable
{
    private readonly WebApplication _app;

    private WaldwichtServer(WebApplication app)
    {
        _app = app;
    }

    /// <summary>The running engine.</summary>
    public ChatEngine Engine => _app.Services.GetRequiredService<ChatEngine>();

    /// <summary>Application services, for tests and hosting code.</summary>
    public IServiceProvider Services => _app.Services;

    /// <summary>Addresses Kestrel listens on (known after <see cref="StartAsync"/>; a port of 0 shows the chosen port).</summary>
    public IReadOnlyList<string> Addresses =>
        _app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses.ToArray() ?? [];

    /// <summary>Builds the server; options are validated when it starts.</summary>
    /// <param name="model">The loaded model; not disposed by the server.</param>
    /// <param name="options">Server settings.</param>
    /// <param name="configureLogging">Replaces the default console logging (for tests and embedding hosts).</param>
    /// <param name="configureEngine">Adjusts the engine options derived from <paramref name="options"/>.</param>
    public static WaldwichtServer Create(
        LanguageModel model,
        ServerOptions options,
        Action<ILoggingBuilder>? configureLogging = null,
        Func<ChatEngineOptions, ChatEngineOptions>? configureEngine = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(options);
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions
        {
            ApplicationName = "Waldwicht.Server",
            ContentRootPath = AppContext.BaseDirectory,
        });

        builder.Logging.ClearProviders();
        if (configureLogging is null)
        {
            builder.Logging.AddSimpleConsole(console =>
            {
                console.SingleLine = true;
                console.TimestampFormat = "HH:mm:ss ";
            });
            builder.Logging.AddFilter("Microsoft.AspNetCore", LogLevel.Warning);
        }
        else
        {
            configureLogging(builder.Logging);
        }

        var services = builder.Services;
        services.AddSingleton<IValidateOptions<ServerOptions>, ServerOptionsValidator>();
        services.AddOptions<ServerOptions>().Configure(target => Copy(options, target)).ValidateOnStart();
        services.AddOptions<KestrelServerOptions>().Configure<IOptions<ServerOptions>>((kestrel, server) =>
        {
            var value = server.Value;
            kestrel.Listen(value.ParseHost(), value.Port);
            kestrel.Limits.MaxRequestBodySize = value.MaxRequestBodyBytes;
            kestrel.AddServerHeader = false;
        });
        services.AddOptions<HostOptions>().Configure<IOptions<ServerOptions>>((host, server) =>
            host.ShutdownTimeout = server.Value.ShutdownDrainTimeout + TimeSpan.FromSeconds(5));

        services.AddSingleton(model);
        services.AddSingleton(provider =>
        {
            var value = provider.GetRequiredService<IOptions<ServerOptions>>().Value;
            var engineOptions = new ChatEngineOptions
            {
                Parallel = value.Parallel,
                MaxQueue = value.MaxQueue,
                ContextLength = value.ContextLength,
                PromptCacheEntries = value.PromptCacheEntries,
                PromptCacheBytes = value.PromptCacheBytes,
            };
            return new ChatEngine(model, configureEngine?.Invoke(engineOptions) ?? engineOptions);
        });
        services.AddSingleton(provider => new ModelCatalog(model, provider.GetRequiredService<IOptions<ServerOptions>>().Value));
        services.AddSingleton(provider => new ServerMetrics(provider.GetRequiredService<ChatEngine>()));
        services.AddSingleton(provider => new PrometheusExporter(provider.GetRequiredService<ServerMetrics>().Meter));
        services.AddSingleton<CompletionEndpoints>();
        services.AddSingleton<InfoEndpoints>();

        var app = builder.Build();
        Configure(app);
        return new WaldwichtServer(app);
    }

    /// <summary>Starts listening; the engine and the options are created and validated here.</summary>
    /// <exception cref="OptionsValidationException">An option is invalid; the message names it.</exception>
    public async Task StartAsync(CancellationToken cancellationToken = default)
    {
        await _app.StartAsync(cancellationToken);
        var options = _app.Services.GetRequiredService<IOptions<ServerOptions>>().Value;
        var engine = Engine;
        var logger = _app.Services.GetRequiredService<ILoggerFactory>().CreateLogger<WaldwichtServer>();
        Log.ServerStarted(logger, options.ModelId, string.Join(", ", Addresses), options.Parallel, engine.ContextLength, options.MaxQueue,
            options.ThinkingByDefault ? "on" : "off");
    }

    /// <summary>Stops gracefully: see the class remarks.</summary>
    public Task StopAsync(CancellationToken cancellationToken = default) => _app.StopAsync(cancellationToken);

    /// <summary>Runs until <paramref name="cancellationToken"/> is cancelled or the host receives a stop signal (Ctrl+C, SIGTERM), then stops gracefully.</summary>
    public async Task RunAsync(CancellationToken cancellationToken = default)
    {
        await StartAsync(cancellationToken);
        var lifetime = _app.Services.GetRequiredService<IHostApplicationLifetime>();
        var stopped = new TaskCompletionSource();
        using (lifetime.ApplicationStopping.Register(() => stopped.TrySetResult()))
        using (cancellationToken.Register(() => stopped.TrySetResult()))
        {
            await stopped.Task;
        }

        await StopAsync(CancellationToken.None);
    }

    public async ValueTask DisposeAsync() => await _app.DisposeAsync();

    private static void Configure(WebApplication app)
    {
        var options = app.Services.GetRequiredService<IOptions<ServerOptions>>();
        app.UseMiddleware<ErrorMiddleware>();
        if (options.Value.ApiKey is { Length: > 0 } key)
        {
            app.UseMiddleware<ApiKeyMiddleware>(key);
        }

        app.UseRouting();
        Routes.Map(app);
        RegisterShutdown(app);
    }

    private static void RegisterShutdown(WebApplication app)
    {
        var lifetime = app.Services.GetRequiredService<IHostApplicationLifetime>();
        var logger = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger<WaldwichtServer>();
        lifetime.ApplicationStopping.Register(() =>
        {
            var engine = app.Services.GetRequiredService<ChatEngine>();
            var timeout = app.Services.GetRequiredService<IOptions<ServerOptions>>().Value.ShutdownDrainTimeout;
            engine.StopAccepting();
            Log.ServerStopping(logger, engine.RunningRequests, engine.QueuedRequests, timeout);
            _ = Task.Run(async () =>
            {
                await Task.Delay(timeout);
                if (engine.RunningRequests + engine.QueuedRequests > 0)
                {
                    Log.ShutdownCancelling(logger, engine.RunningRequests, engine.QueuedRequests);
                    engine.CancelAll();
                }
            });
        });
        lifetime.ApplicationStopped.Register(() => Log.ServerStopped(logger));
    }

    private static void Copy(ServerOptions source, ServerOptions target)
    {
        target.Host = source.Host;
        target.Port = source.Port;
        target.ApiKey = source.ApiKey;
        target.ModelId = source.ModelId;
        target.ModelAliases = [.. source.ModelAliases];
        target.ThinkingByDefault = source.ThinkingByDefault;
        target.MaxQueue = source.MaxQueue;
        target.ContextLength = source.ContextLength;
        target.Parallel = source.Parallel;
        target.PromptCacheEntries = source.PromptCacheEntries;
        target.PromptCacheBytes = source.PromptCacheBytes;
        target.MaxRequestBodyBytes = source.MaxRequestBodyBytes;
        target.KeepAliveInterval = source.KeepAliveInterval;
        target.ShutdownDrainTimeout = source.ShutdownDrainTimeout;
    }
}

/// <summary>The route table: every endpoint of the server with its handler.</summary>
internal static class Routes
{
    public static void Map(WebApplication app)
    {
        var completions = app.Services.GetRequiredService<CompletionEndpoints>();
        var info = app.Services.GetRequiredService<InfoEndpoints>();
        app.MapPost("/v1/chat/completions", completions.ChatAsync);
        app.MapPost("/chat/completions", completions.ChatAsync);
        app.MapPost("/v1/completions", completions.CompletionAsync);
        app.MapGet("/v1/models", info.ModelsAsync);
        app.MapGet("/v1/models/{**id}", (HttpContext context, string id) => info.ModelAsync(context, id));
        app.MapGet("/health", info.HealthAsync);
        app.MapGet("/metrics", info.MetricsAsync);
        app.MapGet("/debug/memory", info.MemoryAsync);
        app.MapPost("/debug/clear_cache", info.ClearCacheAsync);
    }
}
