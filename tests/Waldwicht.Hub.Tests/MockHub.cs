using System.Collections.Concurrent;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Waldwicht.Hub.Tests;

/// <summary>One request as the mock hub received it.</summary>
internal sealed record RecordedRequest(string Method, string Path, string? Range, string? Authorization);

/// <summary>
/// A Hugging Face hub on 127.0.0.1 with the endpoints and headers that model downloads use:
/// <c>GET /api/models/{repo}/revision/{revision}</c>, <c>HEAD/GET /{repo}/resolve/{revision}/{file}</c> (LFS files,
/// here every .safetensors file, redirect to <c>/cdn/{sha256}</c> as the real hub redirects to its CDN), Range
/// requests, renamed repositories, tokens, gated repositories, and injected faults.
/// </summary>
internal sealed class MockHub : IAsyncDisposable
{
    private const int ChunkSize = 64 * 1024;

    private readonly WebApplication _app;
    private readonly ConcurrentDictionary<string, MockRepo> _repos = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, (string FileName, byte[] Content)> _lfsBlobs = new(StringComparer.Ordinal);
    private readonly List<Fault> _faults = [];

    private MockHub(WebApplication app, string endpoint)
    {
        _app = app;
        Endpoint = endpoint;
    }

    /// <summary>Base URL, <c>http://127.0.0.1:{port}</c>.</summary>
    public string Endpoint { get; }

    public ConcurrentQueue<RecordedRequest> Requests { get; } = new();

    /// <summary>Token that the API and resolve endpoints require, or null to let every request through.</summary>
    public string? RequiredToken { get; set; }

    /// <summary>When true, file contents are always sent whole with status 200, as some CDNs do.</summary>
    public bool IgnoreRange { get; set; }

    /// <summary>Repositories that return HTTP 403 with X-Error-Code GatedRepo.</summary>
    public ConcurrentDictionary<string, bool> GatedRepos { get; } = new(StringComparer.Ordinal);

    /// <summary>Old repo id → new repo id. Requests for the old id get a relative redirect, as after a rename.</summary>
    public ConcurrentDictionary<string, string> RenamedRepos { get; } = new(StringComparer.Ordinal);

    /// <summary>File name → size announced by HEAD instead of the real size.</summary>
    public ConcurrentDictionary<string, long> AnnouncedSizes { get; } = new(StringComparer.Ordinal);

    /// <summary>File names whose contents are sent with one byte changed, while the ETag stays that of the original.</summary>
    public ConcurrentDictionary<string, bool> CorruptedFiles { get; } = new(StringComparer.Ordinal);

    /// <summary>Runs before the body of every GET of file contents, so that a test can hold a download there.</summary>
    public Func<RecordedRequest, Task>? BeforeFileBody { get; set; }

    public static async Task<MockHub> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, 0));
        var app = builder.Build();
        MockHub? hub = null;
        app.Run(context => hub!.HandleAsync(context));
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single();
        hub = new MockHub(app, address.TrimEnd('/'));
        return hub;
    }

    public MockRepo AddRepo(string repoId)
    {
        var repo = new MockRepo(repoId, this);
        _repos[repoId] = repo;
        return repo;
    }

    public int CountRequests(Func<RecordedRequest, bool> predicate) => Requests.Count(predicate);

    /// <summary>Answers the next <paramref name="times"/> matching requests with <paramref name="status"/>.</summary>
    public void FailWith(HttpStatusCode status, int times, Func<RecordedRequest, bool> match, string? errorCode = null)
    {
        lock (_faults)
        {
            _faults.Add(new Fault(match, times) { Status = status, ErrorCode = errorCode });
        }
    }

    /// <summary>Closes the connection after <paramref name="bytes"/> body bytes of the next <paramref name="times"/> matching requests.</summary>
    public void DropConnection(long bytes, int times, Func<RecordedRequest, bool> match)
    {
        lock (_faults)
        {
            _faults.Add(new Fault(match, times) { DropAfterBytes = bytes });
        }
    }

    /// <summary>Sends no response to matching requests until the client gives up.</summary>
    public void Stall(Func<RecordedRequest, bool> match)
    {
        lock (_faults)
        {
            _faults.Add(new Fault(match, int.MaxValue) { Stall = true });
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }

    internal void RegisterLfsBlob(string sha256, string fileName, byte[] content) => _lfsBlobs[sha256] = (fileName, content);

    private Fault? TakeFault(RecordedRequest request, Func<Fault, bool> kind)
    {
        lock (_faults)
        {
            var fault = _faults.FirstOrDefault(f => f.Remaining > 0 && kind(f) && f.Match(request));
            if (fault is not null)
            {
                fault.Remaining--;
            }

            return fault;
        }
    }

    private async Task HandleAsync(HttpContext context)
    {
        var request = new RecordedRequest(
            context.Request.Method,
            context.Request.Path.Value + context.Request.QueryString.Value,
            context.Request.Headers.Range.FirstOrDefault(),
            context.Request.Headers.Authorization.FirstOrDefault());
        Requests.Enqueue(request);

        if (TakeFault(request, f => f.Stall) is not null)
        {
            try
            {
                await Task.Delay(Timeout.Infinite, context.RequestAborted);
            }
            catch (OperationCanceledException)
            {
            }

            return;
        }

        if (TakeFault(request, f => f.Status is not null) is { } failure)
        {
            context.Response.StatusCode = (int)failure.Status!.Value;
            if (failure.ErrorCode is not null)
            {
                context.Response.Headers["X-Error-Code"] = failure.ErrorCode;
            }

            return;
        }

        var segments = context.Request.Path.Value!.Split('/', StringSplitOptions.RemoveEmptyEntries);
        if (segments is ["cdn", var sha256])
        {
            await ServeLfsBlobAsync(context, request, sha256);
            return;
        }

        if (segments is ["api", "models", var apiOrg, var apiName, "revision", var apiRevision])
        {
            await ServeRevisionAsync(context, $"{apiOrg}/{apiName}", Uri.UnescapeDataString(apiRevision));
            return;
        }

        if (segments.Length >= 5 && segments[2] == "resolve")
        {
            var repoId = $"{segments[0]}/{segments[1]}";
            var fileName = string.Join('/', segments[4..].Select(Uri.UnescapeDataString));
            await ServeResolveAsync(context, request, repoId, Uri.UnescapeDataString(segments[3]), fileName);
            return;
        }

        context.Response.StatusCode = StatusCodes.Status404NotFound;
    }

    private bool Authorize(HttpContext context, string repoId)
    {
        var authorization = context.Request.Headers.Authorization.FirstOrDefault();
        if (RequiredToken is not null && authorization != $"Bearer {RequiredToken}")
        {
            context.Response.StatusCode = StatusCodes.Status401Unauthorized;
            if (authorization is not null)
            {
                context.Response.Headers["X-Error-Message"] = "Invalid credentials in Authorization header";
            }

            return false;
        }

        if (GatedRepos.ContainsKey(repoId))
        {
            context.Response.StatusCode = StatusCodes.Status403Forbidden;
            context.Response.Headers["X-Error-Code"] = "GatedRepo";
            context.Response.Headers["X-Error-Message"] = $"Access to model {repoId} is restricted.";
            return false;
        }

        return true;
    }

    private async Task ServeRevisionAsync(HttpContext context, string repoId, string revision)
    {
        if (RenamedRepos.TryGetValue(repoId, out var newId))
        {
            context.Response.StatusCode = StatusCodes.Status307TemporaryRedirect;
            context.Response.Headers.Location = $"/api/models/{newId}/revision/{Uri.EscapeDataString(revision)}";
            return;
        }

        if (!Authorize(context, repoId) || FindCommit(context, repoId, revision) is not var (repo, commit))
        {
            return;
        }

        var body = JsonSerializer.Serialize(new
        {
            id = repo.Id,
            sha = commit,
            siblings = repo.Commits[commit].Keys.Select(name => new { rfilename = name }),
        });
        context.Response.ContentType = "application/json";
        await context.Response.WriteAsync(body);
    }

    private async Task ServeResolveAsync(HttpContext context, RecordedRequest request, string repoId, string revision, string fileName)
    {
        if (RenamedRepos.TryGetValue(repoId, out var newId))
        {
            context.Response.StatusCode = StatusCodes.Status307TemporaryRedirect;
            context.Response.Headers.Location = $"/{newId}/resolve/{Uri.EscapeDataString(revision)}/{fileName}";
            return;
        }

        if (!Authorize(context, repoId) || FindCommit(context, repoId, revision) is not var (repo, commit))
        {
            return;
        }

        if (!repo.Commits[commit].TryGetValue(fileName, out var content))
        {
            context.Response.StatusCode = StatusCodes.Status404NotFound;
            context.Response.Headers["X-Error-Code"] = "EntryNotFound";
            return;
        }

        context.Response.Headers["X-Repo-Commit"] = commit;
        var isHead = HttpMethods.IsHead(context.Request.Method);
        var announcedSize = isHead && AnnouncedSizes.TryGetValue(fileName, out var size) ? size : content.Length;
        if (MockRepo.IsLfs(fileName))
        {
            var sha256 = Convert.ToHexStringLower(SHA256.HashData(content));
            context.Response.StatusCode = StatusCodes.Status302Found;
            context.Response.Headers.ETag = $"\"{MockRepo.GitBlobId(Encoding.UTF8.GetBytes($"oid sha256:{sha256}"))}\"";
            context.Response.Headers["X-Linked-Etag"] = $"\"{sha256}\"";
            context.Response.Headers["X-Linked-Size"] = announcedSize.ToString(System.Globalization.CultureInfo.InvariantCulture);
            context.Response.Headers.Location = $"{Endpoint}/cdn/{sha256}?signature=mock";
            return;
        }

        context.Response.Headers.ETag = $"\"{MockRepo.GitBlobId(content)}\"";
        if (isHead)
        {
            context.Response.ContentLength = announcedSize;
            return;
        }

        await ServeBytesAsync(context, request, fileName, content);
    }

    private async Task ServeLfsBlobAsync(HttpContext context, RecordedRequest request, string sha256)
    {
        if (!_lfsBlobs.TryGetValue(sha256, out var blob))
        {
            context.Response.StatusCode = StatusCodes.Status404NotFound;
            return;
        }

        await ServeBytesAsync(context, request, blob.FileName, blob.Content);
    }

    private async Task ServeBytesAsync(HttpContext context, RecordedRequest request, string fileName, byte[] content)
    {
        if (CorruptedFiles.ContainsKey(fileName))
        {
            content = (byte[])content.Clone();
            content[content.Length / 2] ^= 0xFF;
        }

        long start = 0;
        var range = context.Request.Headers.Range.FirstOrDefault();
        if (!IgnoreRange && range is not null && range.StartsWith("bytes=", StringComparison.Ordinal) && range.EndsWith('-'))
        {
            start = long.Parse(range["bytes=".Length..^1], System.Globalization.CultureInfo.InvariantCulture);
            if (start >= content.Length)
            {
                context.Response.StatusCode = StatusCodes.Status416RangeNotSatisfiable;
                context.Response.Headers.ContentRange = $"bytes */{content.Length}";
                return;
            }

            context.Response.StatusCode = StatusCodes.Status206PartialContent;
            context.Response.Headers.ContentRange = $"bytes {start}-{content.Length - 1}/{content.Length}";
        }

        context.Response.ContentLength = content.Length - start;
        context.Response.ContentType = "application/octet-stream";
        if (HttpMethods.IsHead(context.Request.Method))
        {
            return;
        }

        if (BeforeFileBody is { } hook)
        {
            await hook(request);
        }

        var drop = TakeFault(request, f => f.DropAfterBytes is not null)?.DropAfterBytes;
        var sent = 0L;
        for (var offset = start; offset < content.Length; offset += ChunkSize)
        {
            var count = (int)Math.Min(ChunkSize, content.Length - offset);
            if (drop is { } limit && sent + count > limit)
            {
                await context.Response.Body.WriteAsync(content.AsMemory((int)offset, (int)(limit - sent)));
                await context.Response.Body.FlushAsync();
                context.Abort();
                return;
            }

            await context.Response.Body.WriteAsync(content.AsMemory((int)offset, count));
            sent += count;
        }
    }

    private (MockRepo Repo, string Commit)? FindCommit(HttpContext context, string repoId, string revision)
    {
        if (!_repos.TryGetValue(repoId, out var repo))
        {
            // The real hub returns 401 for anonymous requests for missing repositories, so as not to reveal private ones.
            context.Response.StatusCode = context.Request.Headers.Authorization.Count == 0
                ? StatusCodes.Status401Unauthorized
                : StatusCodes.Status404NotFound;
            context.Response.Headers["X-Error-Code"] = "RepoNotFound";
            context.Response.Headers["X-Error-Message"] = "Repository not found";
            return null;
        }

        var commit = repo.Refs.TryGetValue(revision, out var target) ? target : repo.Commits.ContainsKey(revision) ? revision : null;
        if (commit is null)
        {
            context.Response.StatusCode = StatusCodes.Status404NotFound;
            context.Response.Headers["X-Error-Code"] = "RevisionNotFound";
            context.Response.Headers["X-Error-Message"] = $"Invalid rev id: {revision}";
            return null;
        }

        return (repo, commit);
    }

    private sealed class Fault(Func<RecordedRequest, bool> match, int times)
    {
        public Func<RecordedRequest, bool> Match { get; } = match;

        public int Remaining { get; set; } = times;

        public HttpStatusCode? Status { get; init; }

        public string? ErrorCode { get; init; }

        public long? DropAfterBytes { get; init; }

        public bool Stall { get; init; }
    }
}

/// <summary>A repository of the mock hub: commits (file name → contents) and refs (branch or tag → commit).</summary>
internal sealed class MockRepo(string id, MockHub hub)
{
    public string Id { get; } = id;

    public ConcurrentDictionary<string, IReadOnlyDictionary<string, byte[]>> Commits { get; } = new(StringComparer.Ordinal);

    public ConcurrentDictionary<string, string> Refs { get; } = new(StringComparer.Ordinal);

    /// <summary>Adds a commit with the files, points the refs at it and returns the commit hash.</summary>
    public string AddCommit(IReadOnlyDictionary<string, byte[]> files, params string[] refs)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA1);
        hash.AppendData(Encoding.UTF8.GetBytes(Id + Commits.Count));
        foreach (var (name, content) in files.OrderBy(file => file.Key, StringComparer.Ordinal))
        {
            hash.AppendData(Encoding.UTF8.GetBytes(name));
            hash.AppendData(content);
            if (IsLfs(name))
            {
                hub.RegisterLfsBlob(Convert.ToHexStringLower(SHA256.HashData(content)), name, content);
            }
        }

        var commit = Convert.ToHexStringLower(hash.GetHashAndReset());
        Commits[commit] = files;
        foreach (var name in refs)
        {
            Refs[name] = commit;
        }

        return commit;
    }

    public static bool IsLfs(string fileName) => fileName.EndsWith(".safetensors", StringComparison.Ordinal);

    /// <summary>Git's object id of a blob: SHA-1 of "blob {size}\0" followed by the contents.</summary>
    public static string GitBlobId(byte[] content)
    {
        var header = Encoding.ASCII.GetBytes($"blob {content.Length}\0");
        return Convert.ToHexStringLower(SHA1.HashData([.. header, .. content]));
    }
}
