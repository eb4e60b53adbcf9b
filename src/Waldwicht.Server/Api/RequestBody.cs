using System.Text.Json;
using Microsoft.AspNetCore.Http;

namespace Waldwicht.Server.Api;

/// <summary>Reads a JSON request body within the configured size limit.</summary>
internal static class RequestBody
{
    /// <exception cref="ApiException">The body is too large (413), empty or not valid JSON (400).</exception>
    public static async Task<JsonDocument> ReadJsonAsync(HttpContext context, long limit)
    {
        var request = context.Request;
        if (request.ContentLength is long declared && declared > limit)
        {
            throw TooLarge(limit);
        }

        using var buffer = new MemoryStream();
        var chunk = new byte[16 * 1024];
        while (true)
        {
            int read = await request.Body.ReadAsync(chunk, context.RequestAborted);
            if (read == 0)
            {
                break;
            }

            if (buffer.Length + read > limit)
            {
                throw TooLarge(limit);
            }

            buffer.Write(chunk, 0, read);
        }

        if (buffer.Length == 0)
        {
            throw ApiException.Invalid("The request body is empty; send a JSON object.", code: "invalid_json");
        }

        try
        {
            return JsonDocument.Parse(buffer.GetBuffer().AsMemory(0, (int)buffer.Length), new JsonDocumentOptions { MaxDepth = 256 });
        }
        catch (JsonException ex)
        {
            throw ApiException.Invalid(InvalidJsonMessage(ex), code: "invalid_json");
        }
    }

    // System.Text.Json ends its messages with " LineNumber: 0 | BytePositionInLine: 65.", both counted from 0.
    // The reason is kept and the position is written as people count it.
    private static string InvalidJsonMessage(JsonException exception)
    {
        string reason = exception.Message;
        int suffix = reason.IndexOf(" LineNumber:", StringComparison.Ordinal);
        if (suffix >= 0)
        {
            reason = reason[..suffix];
        }

        string position = exception.LineNumber is long line && exception.BytePositionInLine is long column
            ? $" at line {line + 1}, byte {column + 1}"
            : "";
        return $"The request body is not valid JSON{position}: {reason.TrimEnd()}";
    }

    private static ApiException TooLarge(long limit) =>
        new(StatusCodes.Status413PayloadTooLarge, ApiErrorTypes.InvalidRequest,
            $"The request body exceeds the limit of {limit} bytes.", null, "request_too_large");
}
