using System.Net;

namespace Waldwicht.Formats.Hub;

/// <summary>Cause of a <see cref="ModelSourceException"/>, for callers that map failures to exit codes or retries.</summary>
public enum ModelSourceError
{
    /// <summary>The text is neither an existing folder nor a valid repo id with an optional revision.</summary>
    InvalidReference,

    /// <summary>An option or environment variable has an invalid value (for example HF_ENDPOINT is not an http(s) URL).</summary>
    InvalidConfiguration,

    /// <summary>A path was given but no folder exists there.</summary>
    LocalFolderNotFound,

    /// <summary>The folder or repository does not contain a model: config.json or the safetensors weights are missing.</summary>
    NotAModel,

    /// <summary>Offline mode is on and the cache lacks files the model needs.</summary>
    OfflineCacheMiss,

    /// <summary>The hub returned HTTP 401 or 403: the repository is private or gated, or the token is invalid.</summary>
    AccessDenied,

    /// <summary>The hub returned HTTP 404: the repository, revision or file does not exist.</summary>
    NotFound,

    /// <summary>The hub returned an HTTP error status (5xx after all retries, or an unexpected status).</summary>
    ServerError,

    /// <summary>The hub could not be reached, or a connection failed after all retries.</summary>
    NetworkUnavailable,

    /// <summary>The hub sent no response or no data for longer than the configured timeout, after all retries.</summary>
    Timeout,

    /// <summary>The cache folder's disk has too little free space for the download.</summary>
    DiskFull,

    /// <summary>A downloaded file has the wrong size or the wrong SHA-256; it was deleted.</summary>
    IntegrityCheckFailed,

    /// <summary>The hub's response lacks a required header or field, or has a malformed one.</summary>
    InvalidServerResponse,
}

/// <summary>
/// Resolving a model folder or downloading a model from the hub failed. The message names the model, the file or URL
/// involved, and what to do next. <see cref="Error"/> classifies the cause.
/// </summary>
public sealed class ModelSourceException : Exception
{
    public ModelSourceException(ModelSourceError error, string message, Exception? innerException = null)
        : base(message, innerException)
    {
        Error = error;
    }

    public ModelSourceException(ModelSourceError error, string message, HttpStatusCode statusCode, Exception? innerException = null)
        : base(message, innerException)
    {
        Error = error;
        StatusCode = statusCode;
    }

    /// <summary>Cause of the failure.</summary>
    public ModelSourceError Error { get; }

    /// <summary>HTTP status of the hub response that caused the failure, when there was one.</summary>
    public HttpStatusCode? StatusCode { get; }
}
