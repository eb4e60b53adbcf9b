using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Waldwicht.Server.Api;
using Waldwicht.Server.Logging;

namespace Waldwicht.Server.Hosting;

/// <summary>
/// Requires <c>Authorization: Bearer KEY</c> on every path except /health when an API key is configured.
/// The comparison hashes both keys with SHA-256 and compares the digests in constant time, so neither the
/// content nor the length of the key leaks through timing.
/// </summary>
internal sealed class ApiKeyMiddleware
{
    private readonly RequestDelegate _next;
    private readonly byte[] _expectedDigest;
    private readonly ILogger _logger;

    public ApiKeyMiddleware(RequestDelegate next, string apiKey, ILogger<ApiKeyMiddleware> logger)
    {
        ArgumentNullException.ThrowIfNull(next);
        ArgumentException.ThrowIfNullOrEmpty(apiKey);
        ArgumentNullException.ThrowIfNull(logger);
        _next = next;
        _expectedDigest = SHA256.HashData(Encoding.UTF8.GetBytes(apiKey));
        _logger = logger;
    }

    public async Task InvokeAsync(HttpContext context)
    {
        if (context.Request.Path.Equals("/health", StringComparison.OrdinalIgnoreCase) || Matches(context.Request.Headers.Authorization))
        {
            await _next(context);
            return;
        }

        Log.Unauthorized(_logger, context.Request.Path, context.Connection.RemoteIpAddress?.ToString() ?? "unknown");
        await ApiErrorWriter.WriteAsync(context, new ApiException(
            StatusCodes.Status401Unauthorized, ApiErrorTypes.Authentication,
            "Missing or invalid API key. Send it as 'Authorization: Bearer KEY'.", null, "invalid_api_key"));
    }

    private bool Matches(string? header)
    {
        const string Scheme = "Bearer ";
        string presented = header is not null && header.StartsWith(Scheme, StringComparison.OrdinalIgnoreCase)
            ? header[Scheme.Length..].Trim()
            : string.Empty;
        byte[] digest = SHA256.HashData(Encoding.UTF8.GetBytes(presented));
        return CryptographicOperations.FixedTimeEquals(digest, _expectedDigest) && presented.Length > 0;
    }
}
