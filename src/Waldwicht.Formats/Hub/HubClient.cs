using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Text.Json;

namespace Waldwicht.Formats.Hub;

/// <summary>Commit and file list of a repository revision, from <c>GET /api/models/{repo}/revision/{revision}</c>.</summary>
internal sealed record RepoRevision(string Commit, IReadOnlyList<string> Files);

/// <summary>
/// What a <c>HEAD /{repo}/resolve/{commit}/{file}</c> request reports about one file. For LFS files
/// <see cref="Etag"/> is the SHA-256 of the contents. For other files it is the git blob SHA-1.
/// </summary>
internal sealed record HubFileMetadata(string FileName, string Etag, long Size);

/// <summary>
/// HTTP client for the hub API, with huggingface_hub's conventions. The token is sent only to the endpoint's host.
/// Metadata requests follow only relative redirects (a renamed repository), because the hub's own headers are on
/// the redirect to a CDN. Downloads follow every redirect.
/// </summary>
internal sealed class HubClient : IDisposable
{
    private const int MaxRedirects = 10;

    private readonly HttpClient _http;
    private readonly HubSettings _settings;
    private readonly TimeSpan _timeout;
    private readonly RetryPolicy _retry;
    private readonly string _endpointBase;

    public HubClient(HubSettings settings, ModelDownloadOptions options, RetryPolicy retry)
    {
        _settings = settings;
        _timeout = options.Timeout;
        _retry = retry;
        _endpointBase = settings.Endpoint.AbsoluteUri.TrimEnd('/');

        var handler = new SocketsHttpHandler
        {
            AllowAutoRedirect = false,
            AutomaticDecompression = DecompressionMethods.None,
            ConnectTimeout = options.Timeout,
        };
        _http = new HttpClient(handler) { Timeout = System.Threading.Timeout.InfiniteTimeSpan };
        var version = typeof(HubClient).Assembly.GetName().Version ?? new Version(0, 0);
        _http.DefaultRequestHeaders.UserAgent.Add(new ProductInfoHeaderValue("waldwicht", version.ToString(3)));
    }

    public string Endpoint => _endpointBase;

    public TimeSpan Timeout => _timeout;

    public void Dispose() => _http.Dispose();

    /// <summary>Returns the commit of the revision and the paths of all files in it.</summary>
    public Task<RepoRevision> GetRevisionAsync(HubModelId id, CancellationToken cancellationToken)
    {
        var uri = new Uri($"{_endpointBase}/api/models/{id.RepoId}/revision/{Uri.EscapeDataString(id.Revision)}");
        var operation = $"listing the files of {id.RepoId} at revision '{id.Revision}'";
        return _retry.RunAsync(
            async token =>
            {
                using var response = await SendAsync(HttpMethod.Get, uri, followAbsoluteRedirects: false, 0, operation, token)
                    .ConfigureAwait(false);
                EnsureSuccess(response, operation, id, null);
                var json = await ReadBodyAsync(response, uri, operation, token).ConfigureAwait(false);
                return ParseRevision(json, id, uri);
            },
            cancellationToken);
    }

    /// <summary>Returns the ETag and size of one file at a commit.</summary>
    public Task<HubFileMetadata> GetFileMetadataAsync(HubModelId id, string commit, string fileName, CancellationToken cancellationToken)
    {
        var uri = ResolveUri(id, commit, fileName);
        var operation = $"reading the metadata of {fileName} in {id.RepoId}";
        return _retry.RunAsync(
            async token =>
            {
                using var response = await SendAsync(HttpMethod.Head, uri, followAbsoluteRedirects: false, 0, operation, token)
                    .ConfigureAwait(false);

                // A redirect left unfollowed points at a CDN, and the hub's metadata headers are on the redirect itself.
                if (!IsRedirect(response.StatusCode))
                {
                    EnsureSuccess(response, operation, id, fileName);
                }

                return ReadMetadata(response, fileName, uri);
            },
            cancellationToken);
    }

    /// <summary>
    /// Sends one GET for a file's contents from byte <paramref name="offset"/> on, following every redirect. Returns the
    /// response for status 200, 206 and 416, and throws <see cref="TransientHubException"/> for failures worth a retry.
    /// </summary>
    public async Task<HttpResponseMessage> GetFileAsync(
        HubModelId id, string commit, string fileName, long offset, CancellationToken cancellationToken)
    {
        var uri = ResolveUri(id, commit, fileName);
        var operation = $"downloading {fileName} of {id.RepoId}";
        var response = await SendAsync(HttpMethod.Get, uri, followAbsoluteRedirects: true, offset, operation, cancellationToken)
            .ConfigureAwait(false);
        if (response.StatusCode is HttpStatusCode.PartialContent or HttpStatusCode.RequestedRangeNotSatisfiable)
        {
            return response;
        }

        try
        {
            EnsureSuccess(response, operation, id, fileName);
        }
        catch
        {
            response.Dispose();
            throw;
        }

        return response;
    }

    /// <summary>Creates the exception for a failed read of a response body.</summary>
    public TransientHubException BodyReadFailed(Uri uri, string operation, Exception exception) =>
        exception is TimeoutException
            ? new TransientHubException(new ModelSourceException(
                ModelSourceError.Timeout,
                $"The hub at {_endpointBase} sent no data for {_timeout.TotalSeconds:0.###} s while {operation} ({uri}). "
                + "Check the network connection, or set HF_HUB_OFFLINE=1 to use only cached models.",
                exception))
            : new TransientHubException(new ModelSourceException(
                ModelSourceError.NetworkUnavailable,
                $"The connection to {_endpointBase} was interrupted while {operation} ({uri}): {AsSentence(exception.Message)} "
                + "Run the command again to resume the download.",
                exception));

    private Uri ResolveUri(HubModelId id, string commit, string fileName)
    {
        var escapedPath = string.Join('/', fileName.Split('/').Select(Uri.EscapeDataString));
        return new Uri($"{_endpointBase}/{id.RepoId}/resolve/{commit}/{escapedPath}");
    }

    private async Task<HttpResponseMessage> SendAsync(
        HttpMethod method,
        Uri uri,
        bool followAbsoluteRedirects,
        long rangeStart,
        string operation,
        CancellationToken cancellationToken)
    {
        for (var redirects = 0; ; redirects++)
        {
            using var request = new HttpRequestMessage(method, uri);
            if (_settings.Token is { } token && IsSameAuthority(uri, _settings.Endpoint))
            {
                request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
            }

            if (rangeStart > 0)
            {
                request.Headers.Range = new RangeHeaderValue(rangeStart, null);
            }

            var response = await SendOnceAsync(request, operation, cancellationToken).ConfigureAwait(false);
            if (!IsRedirect(response.StatusCode) || ReadLocation(response) is not { } location)
            {
                return response;
            }

            if (location.IsAbsoluteUri && !followAbsoluteRedirects)
            {
                return response;
            }

            response.Dispose();
            if (redirects == MaxRedirects)
            {
                throw new ModelSourceException(
                    ModelSourceError.InvalidServerResponse,
                    $"The hub at {_endpointBase} redirected more than {MaxRedirects} times while {operation} ({uri}).");
            }

            uri = new Uri(uri, location);
        }
    }

    private async Task<HttpResponseMessage> SendOnceAsync(HttpRequestMessage request, string operation, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(_timeout);
        HttpResponseMessage response;
        try
        {
            response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, timeout.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException exception) when (!cancellationToken.IsCancellationRequested)
        {
            throw new TransientHubException(new ModelSourceException(
                ModelSourceError.Timeout,
                $"The hub at {_endpointBase} did not respond within {_timeout.TotalSeconds:0.###} s while {operation} "
                + $"({request.RequestUri}). Check the network connection, or set HF_HUB_OFFLINE=1 to use only cached models.",
                exception));
        }
        catch (HttpRequestException exception)
        {
            var error = new ModelSourceException(
                ModelSourceError.NetworkUnavailable,
                $"Could not reach the hub at {_endpointBase} while {operation}: {AsSentence(exception.Message)} "
                + "Check the network connection and HF_ENDPOINT. To use only models already in the cache, set "
                + "HF_HUB_OFFLINE=1, or pass the path of a local model folder.",
                exception);
            throw IsTransient(exception) ? new TransientHubException(error) : error;
        }

        return response;
    }

    private void EnsureSuccess(HttpResponseMessage response, string operation, HubModelId id, string? fileName)
    {
        if (response.IsSuccessStatusCode)
        {
            return;
        }

        var status = response.StatusCode;
        var code = (int)status;
        var errorCode = FirstHeader(response, "X-Error-Code");
        var serverMessage = FirstHeader(response, "X-Error-Message") is { } text ? $" Hub message: \"{text}\"." : "";
        var tokenSent = _settings.Token is not null;
        var repoUrl = $"{_endpointBase}/{id.RepoId}";

        var error = status switch
        {
            HttpStatusCode.Unauthorized or HttpStatusCode.NotFound when errorCode == "RepoNotFound" => new ModelSourceException(
                ModelSourceError.NotFound,
                $"Repository {id.RepoId} not found at {_endpointBase} (HTTP {code}).{serverMessage} Check the repo id. "
                + "A private or gated repository also needs HF_TOKEN set to a token with read access.",
                status),
            HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden when errorCode == "GatedRepo" => new ModelSourceException(
                ModelSourceError.AccessDenied,
                $"{id.RepoId} is a gated repository (HTTP {code}).{serverMessage} Accept its terms at {repoUrl} while "
                + "logged in, then set HF_TOKEN to a token of that account with read access.",
                status),
            HttpStatusCode.Unauthorized when tokenSent => new ModelSourceException(
                ModelSourceError.AccessDenied,
                $"The hub at {_endpointBase} rejected the access token (HTTP 401) while {operation}.{serverMessage} "
                + "The repository may be private, or the token invalid or expired: set HF_TOKEN to a valid token with read access.",
                status),
            HttpStatusCode.Unauthorized => new ModelSourceException(
                ModelSourceError.AccessDenied,
                $"The hub at {_endpointBase} requires authentication for {id.RepoId} (HTTP 401) while {operation}.{serverMessage} "
                + "The repository is private or gated, or does not exist: check the name, and set HF_TOKEN to a token with read access.",
                status),
            HttpStatusCode.Forbidden => new ModelSourceException(
                ModelSourceError.AccessDenied,
                $"The hub at {_endpointBase} denied access (HTTP 403) while {operation}.{serverMessage} "
                + $"Set HF_TOKEN to a token with read access to {id.RepoId}. For a gated repository, accept its terms at {repoUrl}.",
                status),
            HttpStatusCode.NotFound when errorCode == "RevisionNotFound" => new ModelSourceException(
                ModelSourceError.NotFound,
                $"Revision '{id.Revision}' not found in {id.RepoId} at {_endpointBase} (HTTP 404).{serverMessage} "
                + "Use a branch, tag or commit hash that exists in the repository.",
                status),
            HttpStatusCode.NotFound when fileName is not null && errorCode == "EntryNotFound" => new ModelSourceException(
                ModelSourceError.NotFound,
                $"File {fileName} not found in {id.RepoId} at revision '{id.Revision}' (HTTP 404).{serverMessage}",
                status),
            HttpStatusCode.NotFound => new ModelSourceException(
                ModelSourceError.NotFound,
                $"Repository {id.RepoId} or its revision '{id.Revision}' not found at {_endpointBase} (HTTP 404) while {operation}.{serverMessage} "
                + "Check the repo id and revision. A private repository also needs HF_TOKEN.",
                status),
            _ => new ModelSourceException(
                ModelSourceError.ServerError,
                $"The hub at {_endpointBase} returned HTTP {code} ({response.ReasonPhrase}) while {operation}.{serverMessage}",
                status),
        };

        if (status is HttpStatusCode.RequestTimeout or HttpStatusCode.TooManyRequests or HttpStatusCode.InternalServerError
            or HttpStatusCode.BadGateway or HttpStatusCode.ServiceUnavailable or HttpStatusCode.GatewayTimeout)
        {
            throw new TransientHubException(error, ReadRetryAfter(response));
        }

        throw error;
    }

    private async Task<string> ReadBodyAsync(HttpResponseMessage response, Uri uri, string operation, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(_timeout);
        try
        {
            return await response.Content.ReadAsStringAsync(timeout.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException exception) when (!cancellationToken.IsCancellationRequested)
        {
            throw BodyReadFailed(uri, operation, new TimeoutException(exception.Message, exception));
        }
        catch (Exception exception) when (exception is IOException or HttpRequestException)
        {
            throw BodyReadFailed(uri, operation, exception);
        }
    }

    private static RepoRevision ParseRevision(string json, HubModelId id, Uri uri)
    {
        try
        {
            using var document = JsonDocument.Parse(json);
            var root = document.RootElement;
            var commit = root.TryGetProperty("sha", out var sha) && sha.ValueKind == JsonValueKind.String ? sha.GetString() : null;
            if (commit is null || commit.Length != 40 || !commit.All(char.IsAsciiHexDigitLower))
            {
                throw new ModelSourceException(
                    ModelSourceError.InvalidServerResponse,
                    $"The hub's response for {id} ({uri}) has no valid 'sha' commit hash.");
            }

            var files = new List<string>();
            if (root.TryGetProperty("siblings", out var siblings) && siblings.ValueKind == JsonValueKind.Array)
            {
                foreach (var sibling in siblings.EnumerateArray())
                {
                    if (sibling.ValueKind == JsonValueKind.Object
                        && sibling.TryGetProperty("rfilename", out var name)
                        && name.ValueKind == JsonValueKind.String)
                    {
                        files.Add(name.GetString()!);
                    }
                }
            }

            return new RepoRevision(commit, files);
        }
        catch (JsonException exception)
        {
            throw new ModelSourceException(
                ModelSourceError.InvalidServerResponse,
                $"The hub's response for {id} ({uri}) is not valid JSON: {exception.Message} Check HF_ENDPOINT.",
                exception);
        }
    }

    private static HubFileMetadata ReadMetadata(HttpResponseMessage response, string fileName, Uri uri)
    {
        var etag = NormalizeEtag(FirstHeader(response, "X-Linked-Etag") ?? FirstHeader(response, "ETag"));
        if (etag is null || !IsSafeEtag(etag))
        {
            throw new ModelSourceException(
                ModelSourceError.InvalidServerResponse,
                $"The hub sent no usable ETag for {fileName} ({uri}), so the file cannot be cached. Check HF_ENDPOINT.");
        }

        long? size = long.TryParse(FirstHeader(response, "X-Linked-Size"), out var linkedSize)
            ? linkedSize
            : response.Content.Headers.ContentLength;
        if (size is not >= 0)
        {
            throw new ModelSourceException(
                ModelSourceError.InvalidServerResponse,
                $"The hub sent no file size (X-Linked-Size or Content-Length) for {fileName} ({uri}). Check HF_ENDPOINT.");
        }

        return new HubFileMetadata(fileName, etag, size.Value);
    }

    // ETags are "value" or W/"value". The cache names blobs by the bare value.
    private static string? NormalizeEtag(string? etag)
    {
        if (etag is null)
        {
            return null;
        }

        var value = etag.Trim();
        if (value.StartsWith("W/", StringComparison.Ordinal))
        {
            value = value[2..];
        }

        return value.Trim('"');
    }

    // The ETag becomes a file name in the cache, so it must not be able to name another folder.
    private static bool IsSafeEtag(string etag) =>
        etag.Length is > 0 and <= 128 && etag.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.')
        && etag.Trim('.').Length > 0;

    private static bool IsRedirect(HttpStatusCode status) =>
        status is HttpStatusCode.MovedPermanently or HttpStatusCode.Found or HttpStatusCode.SeeOther
            or HttpStatusCode.TemporaryRedirect or HttpStatusCode.PermanentRedirect;

    // Returns null for a missing Location or one with a scheme other than http or https.
    private static Uri? ReadLocation(HttpResponseMessage response)
    {
        var location = response.Headers.Location;
        if (location is null || (location.IsAbsoluteUri && location.Scheme != Uri.UriSchemeHttp && location.Scheme != Uri.UriSchemeHttps))
        {
            return null;
        }

        return location;
    }

    private static TimeSpan? ReadRetryAfter(HttpResponseMessage response)
    {
        var retryAfter = response.Headers.RetryAfter;
        if (retryAfter?.Delta is { } delta)
        {
            return delta;
        }

        if (retryAfter?.Date is { } date)
        {
            var wait = date - DateTimeOffset.UtcNow;
            return wait > TimeSpan.Zero ? wait : TimeSpan.Zero;
        }

        return null;
    }

    private static string? FirstHeader(HttpResponseMessage response, string name) =>
        response.Headers.TryGetValues(name, out var values) || response.Content.Headers.TryGetValues(name, out values)
            ? values.FirstOrDefault()
            : null;

    private static string AsSentence(string text) => text.EndsWith('.') || text.EndsWith('!') ? text : text + ".";

    private static bool IsSameAuthority(Uri a, Uri b) =>
        string.Equals(a.Scheme, b.Scheme, StringComparison.OrdinalIgnoreCase)
        && string.Equals(a.Host, b.Host, StringComparison.OrdinalIgnoreCase)
        && a.Port == b.Port;

    // Name resolution failures and refused connections do not pass within seconds, so they fail at once.
    // Resets and dropped connections are retried.
    private static bool IsTransient(HttpRequestException exception)
    {
        if (exception.HttpRequestError is HttpRequestError.NameResolutionError or HttpRequestError.SecureConnectionError
            or HttpRequestError.ProxyTunnelError or HttpRequestError.UserAuthenticationError
            or HttpRequestError.ConfigurationLimitExceeded)
        {
            return false;
        }

        var socketError = (exception.InnerException as SocketException)?.SocketErrorCode;
        return socketError is not (SocketError.ConnectionRefused or SocketError.HostUnreachable or SocketError.NetworkUnreachable
            or SocketError.HostNotFound);
    }
}
