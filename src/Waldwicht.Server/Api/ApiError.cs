using System.Text.Json;
using Microsoft.AspNetCore.Http;

namespace Waldwicht.Server.Api;

/// <summary>An error returned in OpenAI's JSON form: <c>{"error": {"message", "type", "param", "code"}}</c>.</summary>
public sealed class ApiException : Exception
{
    public ApiException(int status, string type, string message, string? param = null, string? code = null)
        : base(message)
    {
        Status = status;
        Type = type;
        Param = param;
        Code = code;
    }

    public int Status { get; }

    /// <summary>OpenAI error type, such as "invalid_request_error".</summary>
    public string Type { get; }

    /// <summary>Request field the error is about, or null.</summary>
    public string? Param { get; }

    /// <summary>Machine-readable code, such as "model_not_found", or null.</summary>
    public string? Code { get; }

    /// <summary>Seconds after which a rejected client may retry (sent as Retry-After), or null.</summary>
    public int? RetryAfterSeconds { get; init; }

    public static ApiException Invalid(string message, string? param = null, string? code = null) =>
        new(StatusCodes.Status400BadRequest, ApiErrorTypes.InvalidRequest, message, param, code);
}

/// <summary>OpenAI error types used by the server.</summary>
public static class ApiErrorTypes
{
    public const string InvalidRequest = "invalid_request_error";
    public const string Authentication = "authentication_error";
    public const string NotFound = "not_found_error";
    public const string RateLimit = "rate_limit_error";
    public const string Server = "server_error";
}

/// <summary>Writes error bodies.</summary>
public static class ApiErrorWriter
{
    /// <summary>Writes <paramref name="error"/> as the JSON response (status, headers and body).</summary>
    public static async Task WriteAsync(HttpContext context, ApiException error)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(error);
        var response = context.Response;
        response.StatusCode = error.Status;
        response.ContentType = "application/json";
        if (error.RetryAfterSeconds is int seconds)
        {
            response.Headers.RetryAfter = seconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
        }

        if (error.Status == StatusCodes.Status401Unauthorized)
        {
            response.Headers.WWWAuthenticate = "Bearer";
        }

        await response.Body.WriteAsync(ToJson(error), context.RequestAborted);
    }

    /// <summary>The error as UTF-8 JSON, <c>{"error": {...}}</c>.</summary>
    public static byte[] ToJson(ApiException error)
    {
        ArgumentNullException.ThrowIfNull(error);
        return JsonBody.Write(writer =>
        {
            writer.WriteStartObject();
            writer.WritePropertyName("error");
            writer.WriteStartObject();
            writer.WriteString("message", error.Message);
            writer.WriteString("type", error.Type);
            WriteNullable(writer, "param", error.Param);
            WriteNullable(writer, "code", error.Code);
            writer.WriteEndObject();
            writer.WriteEndObject();
        });
    }

    private static void WriteNullable(Utf8JsonWriter writer, string name, string? value)
    {
        if (value is null)
        {
            writer.WriteNull(name);
        }
        else
        {
            writer.WriteString(name, value);
        }
    }
}

/// <summary>Builds UTF-8 JSON bodies with <see cref="Utf8JsonWriter"/>; non-ASCII text is written unescaped.</summary>
public static class JsonBody
{
    private static readonly JsonWriterOptions Options = new()
    {
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    public static byte[] Write(Action<Utf8JsonWriter> build)
    {
        ArgumentNullException.ThrowIfNull(build);
        var buffer = new System.Buffers.ArrayBufferWriter<byte>(512);
        using (var writer = new Utf8JsonWriter(buffer, Options))
        {
            build(writer);
        }

        return buffer.WrittenSpan.ToArray();
    }
}
