using System.Reflection;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Waldwicht.Runtime.ChatClient;
using Waldwicht.Runtime.Sampling;
using Waldwicht.Server.Api;
using Waldwicht.Server.Logging;
using Waldwicht.Server.Metrics;

namespace Waldwicht.Server.Endpoints;

/// <summary>
/// Handlers of <c>/v1/chat/completions</c> and <c>/v1/completions</c>: parse, check the model, prepare, queue,
/// then respond with one JSON body or with server-sent events.
/// </summary>
internal sealed partial class CompletionEndpoints
{
    private static readonly string Fingerprint = "waldwicht-" + (typeof(CompletionEndpoints).Assembly
        .GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion.Split('+')[0] ?? "0");

    private readonly ChatEngine _engine;
    private readonly ModelCatalog _catalog;
    private readonly ServerOptions _options;
    private readonly ServerMetrics _metrics;
    private readonly ILogger _logger;
    private readonly SamplingOptions _defaults;

    public CompletionEndpoints(ChatEngine engine, ModelCatalog catalog, IOptions<ServerOptions> options, ServerMetrics metrics, ILogger<CompletionEndpoints> logger)
    {
        ArgumentNullException.ThrowIfNull(engine);
        ArgumentNullException.ThrowIfNull(catalog);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(metrics);
        ArgumentNullException.ThrowIfNull(logger);
        _engine = engine;
        _catalog = catalog;
        _options = options.Value;
        _metrics = metrics;
        _logger = logger;
        var generation = engine.Model.GenerationConfig;
        _defaults = new SamplingOptions
        {
            Temperature = generation.Temperature ?? 1f,
            TopP = generation.TopP ?? 1f,
            TopK = generation.TopK ?? 0,
        };
    }

    public Task ChatAsync(HttpContext context) => HandleAsync(context, chat: true);

    public Task CompletionAsync(HttpContext context) => HandleAsync(context, chat: false);

    private async Task HandleAsync(HttpContext context, bool chat)
    {
        string requestId = (chat ? "chatcmpl-" : "cmpl-") + Guid.NewGuid().ToString("N");
        var identity = new ResponseIdentity(requestId, DateTimeOffset.UtcNow.ToUnixTimeSeconds(), _catalog.Id, Fingerprint);
        context.Response.Headers["X-Request-Id"] = requestId;
        ChatRun run;
        ParsedRequest parsed;
        try
        {
            using var document = await RequestBody.ReadJsonAsync(context, _options.MaxRequestBodyBytes);
            int vocabulary = _engine.Model.Model.Config.VocabSize;
            parsed = chat
                ? CompletionRequestParser.ParseChat(document.RootElement, _options.ThinkingByDefault, vocabulary, _defaults)
                : CompletionRequestParser.ParseCompletion(document.RootElement, vocabulary, _defaults);
            if (!_catalog.Serves(parsed.Model))
            {
                throw new ApiException(StatusCodes.Status404NotFound, ApiErrorTypes.InvalidRequest,
                    $"The model '{parsed.Model}' is not served here; this server serves '{_catalog.Id}'. List models with GET /v1/models.",
                    "model", "model_not_found");
            }

            var prepared = Prepare(parsed.Request);
            if (_logger.IsEnabled(LogLevel.Trace))
            {
                Log.PromptSensitive(_logger, requestId, prepared.PromptTokens.Length, prepared.PromptText);
            }

            run = Submit(prepared, context, requestId);
        }
        catch (ApiException error)
        {
            if (error.Status != StatusCodes.Status429TooManyRequests)
            {
                Log.RequestInvalid(_logger, requestId, error.Status, error.Message);
            }

            await ApiErrorWriter.WriteAsync(context, error);
            return;
        }

        if (parsed.Stream)
        {
            await StreamAsync(context, run, identity, chat, parsed.IncludeUsage);
        }
        else
        {
            await RespondAsync(context, run, identity, chat);
        }
    }

    private PreparedChat Prepare(ChatGenerationRequest request)
    {
        try
        {
            return _engine.Prepare(request);
        }
        catch (ChatRequestException ex) when (ex.Kind == ChatRequestErrorKind.ContextLengthExceeded)
        {
            throw new ApiException(StatusCodes.Status413PayloadTooLarge, ApiErrorTypes.InvalidRequest, ex.Message, ex.Param, "context_length_exceeded");
        }
        catch (ChatRequestException ex)
        {
            throw ApiException.Invalid(ex.Message, ex.Param);
        }
    }

    private ChatRun Submit(PreparedChat prepared, HttpContext context, string requestId)
    {
        try
        {
            return _engine.Submit(prepared, context.RequestAborted);
        }
        catch (ChatEngineBusyException ex)
        {
            Log.QueueFull(_logger, requestId, _engine.QueuedRequests, ex.QueueLimit);
            throw new ApiException(StatusCodes.Status429TooManyRequests, ApiErrorTypes.RateLimit, ex.Message, null, "queue_full")
            {
                RetryAfterSeconds = 1,
            };
        }
        catch (ChatEngineStoppedException ex)
        {
            Log.RejectedWhileStopping(_logger, requestId);
            throw ShuttingDown(ex.Message);
        }
    }

    private static ApiException ShuttingDown(string message) =>
        new(StatusCodes.Status503ServiceUnavailable, ApiErrorTypes.Server, message, null, "server_shutting_down") { RetryAfterSeconds = 5 };

    private async Task RespondAsync(HttpContext context, ChatRun run, ResponseIdentity identity, bool chat)
    {
        int count = run.Prepared.Request.ChoiceCount;
        var choices = Enumerable.Range(0, count).Select(_ => new ChoiceAccumulator()).ToArray();
        ChatUsage usage;
        try
        {
            await foreach (var update in run.Updates.ReadAllAsync(CancellationToken.None))
            {
                Observe(update, identity.Id);
                choices[update.Choice].Add(update);
            }

            usage = await run.Completion;
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            Log.RequestFailed(_logger, identity.Id, ex);
            if (!context.RequestAborted.IsCancellationRequested)
            {
                await ApiErrorWriter.WriteAsync(context, InternalError());
            }

            return;
        }

        if (choices.Any(c => c.Finished?.FinishReason == ReplyFinishReason.Cancelled))
        {
            Log.RequestCancelled(_logger, identity.Id, usage.CompletionTokens);
            if (!context.RequestAborted.IsCancellationRequested)
            {
                await ApiErrorWriter.WriteAsync(context, ShuttingDown("The server is shutting down; the request was cancelled. Retry later."));
            }

            return;
        }

        Completed(identity.Id, chat, choices[0].Finished, usage, run);
        context.Response.StatusCode = StatusCodes.Status200OK;
        context.Response.ContentType = "application/json";
        byte[] body = chat ? ResponseJson.ChatCompletion(identity, choices, usage) : ResponseJson.TextCompletion(identity, choices, usage);
        await context.Response.Body.WriteAsync(body, context.RequestAborted);
    }

    private void Observe(ReplyUpdate update, string requestId)
    {
        switch (update)
        {
            case ReplyToolCallRejected rejected:
                Log.ToolCallUnparsed(_logger, requestId, rejected.Choice, rejected.Error);
                break;
            case ReplyFinished finished:
                _metrics.RecordChoice(finished);
                break;
        }
    }

    private void Completed(string requestId, bool chat, ReplyFinished? first, ChatUsage usage, ChatRun run)
    {
        _metrics.RecordPrompt(usage);
        Log.RequestCompleted(
            _logger,
            requestId,
            chat ? "chat" : "completion",
            ResponseJson.FinishReasonName(first?.FinishReason ?? ReplyFinishReason.Stop),
            usage.PromptTokens,
            usage.CachedPromptTokens,
            usage.CompletionTokens,
            (DateTimeOffset.UtcNow - run.SubmittedAt).TotalSeconds);
    }

    private static ApiException InternalError() =>
        new(StatusCodes.Status500InternalServerError, ApiErrorTypes.Server,
            "The server failed while generating the reply. The error was logged; retry the request.", null, "internal_error");
}
