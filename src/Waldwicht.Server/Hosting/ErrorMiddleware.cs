using System.Diagnostics;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Logging;
using Waldwicht.Server.Api;
using Waldwicht.Server.Logging;
using Waldwicht.Server.Metrics;

namespace Waldwicht.Server.Hosting;

/// <summary>
/// Outermost middleware: turns exceptions into OpenAI-style error bodies (500 unless the exception carries
/// another status), writes bodies for the bare 404 and 405 responses of routing, and counts requests by route and status.
/// Every error response gets a body unless the client has already disconnected.
/// </summary>
internal sealed class ErrorMiddleware(RequestDelegate next, ServerMetrics metrics, ILogger<ErrorMiddleware> logger)
{
    private static readonly HashSet<string> CompletionRoutes = ["/v1/chat/completions", "/chat/completions", "/v1/completions"];

    public async Task InvokeAsync(HttpContext context)
    {
        long start = Stopwatch.GetTimestamp();
        try
        {
            await next(context);
            if (!context.Response.HasStarted && context.Response.ContentLength is null)
            {
                await WriteBodyForBareStatusAsync(context);
            }
        }
        catch (ApiException error) when (!context.Response.HasStarted)
        {
            await ApiErrorWriter.WriteAsync(context, error);
        }
        catch (BadHttpRequestException error) when (!context.Response.HasStarted)
        {
            string code = error.StatusCode == StatusCodes.Status413PayloadTooLarge ? "request_too_large" : "bad_request";
            await ApiErrorWriter.WriteAsync(context, new ApiException(error.StatusCode, ApiErrorTypes.InvalidRequest, error.Message, null, code));
        }
        catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested)
        {
            // The client disconnected, so no response can be sent.
        }
        catch (Exception error) when (!context.Response.HasStarted)
        {
            Log.UnhandledError(logger, context.Request.Method, context.Request.Path, error);
            await ApiErrorWriter.WriteAsync(context, new ApiException(
                StatusCodes.Status500InternalServerError, ApiErrorTypes.Server,
                "The server failed to process the request. The error was logged; retry the request.", null, "internal_error"));
        }
        finally
        {
            string route = (context.GetEndpoint() as RouteEndpoint)?.RoutePattern.RawText ?? "unmatched";
            metrics.RecordRequest(route, context.Response.StatusCode, Stopwatch.GetElapsedTime(start).TotalSeconds, CompletionRoutes.Contains(route));
        }
    }

    private static Task WriteBodyForBareStatusAsync(HttpContext context)
    {
        var response = context.Response;
        return response.StatusCode switch
        {
            StatusCodes.Status404NotFound => ApiErrorWriter.WriteAsync(context, new ApiException(
                StatusCodes.Status404NotFound, ApiErrorTypes.InvalidRequest,
                $"No endpoint at {context.Request.Method} {context.Request.Path}. See GET /v1/models, POST /v1/chat/completions, POST /v1/completions.",
                null, "unknown_url")),
            StatusCodes.Status405MethodNotAllowed => ApiErrorWriter.WriteAsync(context, new ApiException(
                StatusCodes.Status405MethodNotAllowed, ApiErrorTypes.InvalidRequest,
                $"Method {context.Request.Method} is not allowed on {context.Request.Path}"
                + (response.Headers.Allow.Count > 0 ? $"; use {response.Headers.Allow}." : "."),
                null, "method_not_allowed")),
            _ => Task.CompletedTask,
        };
    }
}
