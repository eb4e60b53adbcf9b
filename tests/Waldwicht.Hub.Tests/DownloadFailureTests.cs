using System.Net;
using System.Net.Sockets;
using Waldwicht.Formats.Hub;
using Xunit;

namespace Waldwicht.Hub.Tests;

public sealed class DownloadFailureTests : HubTestBase
{
    private const int DropAfterBytes = 1_500_000;

    [Fact]
    public async Task Interruption_LeavesResumablePartialFile()
    {
        var largeEtag = EtagOf(LargeShard, Files[LargeShard]);
        Hub.DropConnection(DropAfterBytes, times: 1, IsContentGet(LargeShard));

        var error = await ResolveFailsAsync(Options with { MaxRetries = 0 });

        Assert.Equal(ModelSourceError.NetworkUnavailable, error.Error);
        Assert.Contains(LargeShard, error.Message);
        var partial = new FileInfo(BlobPath(largeEtag) + ".incomplete");
        Assert.True(partial.Exists, "the partial download is kept for resuming");
        Assert.InRange(partial.Length, 1, DropAfterBytes);
        Assert.False(File.Exists(BlobPath(largeEtag)));
        Assert.False(new FileInfo(Path.Combine(SnapshotFolder(Commit), LargeShard)).Exists, "no snapshot entry for a partial file");

        var resumedFrom = partial.Length;
        var folder = await ResolveAsync(Options);

        AssertSnapshotMatches(folder, Files, AllowedFiles);
        Assert.Contains(Hub.Requests, r => IsContentGet(LargeShard)(r) && r.Range == $"bytes={resumedFrom}-");
        Assert.Empty(IncompleteFiles());
    }

    [Fact]
    public async Task Interruption_IsResumedWithinOneCall()
    {
        Hub.DropConnection(DropAfterBytes, times: 2, IsContentGet(LargeShard));
        var progress = new RecordingProgress();

        var folder = await ResolveAsync(Options with { MaxRetries = 1 }, progress);

        AssertSnapshotMatches(folder, Files, AllowedFiles);
        var largeGets = Hub.Requests.Where(IsContentGet(LargeShard)).ToArray();
        Assert.Equal(3, largeGets.Length);
        Assert.Null(largeGets[0].Range);
        Assert.All(largeGets[1..], r => Assert.StartsWith("bytes=", r.Range));
        Assert.Equal(2, Warnings.Count(w => w.Contains(LargeShard, StringComparison.Ordinal)));
        Assert.Equal(LargeShardSize, progress.Reports.Where(r => r.FileName == LargeShard).Max(r => r.FileBytesDownloaded));
    }

    [Fact]
    public async Task IgnoredRange_RestartsFromZero()
    {
        Hub.DropConnection(DropAfterBytes, times: 1, IsContentGet(LargeShard));
        await ResolveFailsAsync(Options with { MaxRetries = 0 });
        Hub.IgnoreRange = true;
        var progress = new RecordingProgress();

        var folder = await ResolveAsync(Options, progress);

        AssertSnapshotMatches(folder, Files, AllowedFiles);
        Assert.Contains(Hub.Requests, r => IsContentGet(LargeShard)(r) && r.Range is not null);
        var large = progress.Reports.Where(r => r.FileName == LargeShard).ToArray();
        Assert.True(large[0].FileBytesDownloaded > 0, "the first report counts the partial file");
        Assert.Contains(large, r => r.FileBytesDownloaded == 0);
        Assert.Equal(LargeShardSize, large[^1].FileBytesDownloaded);
    }

    [Fact]
    public async Task WrongSha256_IsRejected()
    {
        Hub.CorruptedFiles[LargeShard] = true;

        var error = await ResolveFailsAsync(Options);

        Assert.Equal(ModelSourceError.IntegrityCheckFailed, error.Error);
        Assert.Contains(LargeShard, error.Message);
        Assert.Contains("SHA-256", error.Message);
        AssertNothingLeftFor(LargeShard);
    }

    [Fact]
    public async Task ShortFile_IsRejected()
    {
        Hub.AnnouncedSizes[LargeShard] = LargeShardSize + 10;

        var error = await ResolveFailsAsync(Options);

        Assert.Equal(ModelSourceError.IntegrityCheckFailed, error.Error);
        Assert.Contains($"{LargeShardSize} bytes", error.Message);
        AssertNothingLeftFor(LargeShard);
    }

    [Fact]
    public async Task LongFile_IsRejected()
    {
        Hub.AnnouncedSizes["tokenizer.json"] = Files["tokenizer.json"].Length - 10;

        var error = await ResolveFailsAsync(Options);

        Assert.Equal(ModelSourceError.IntegrityCheckFailed, error.Error);
        Assert.Contains("tokenizer.json", error.Message);
        AssertNothingLeftFor("tokenizer.json");
    }

    [Fact]
    public async Task Unauthorized_AsksForToken()
    {
        Hub.RequiredToken = "hf_secret";

        var error = await ResolveFailsAsync(Options);

        Assert.Equal(ModelSourceError.AccessDenied, error.Error);
        Assert.Equal(HttpStatusCode.Unauthorized, error.StatusCode);
        Assert.Contains("HF_TOKEN", error.Message);
        Assert.Equal(1, Hub.CountRequests(IsApiRequest));
    }

    [Fact]
    public async Task WrongToken_IsReportedAsRejected()
    {
        Hub.RequiredToken = "hf_secret";

        var error = await ResolveFailsAsync(Options with { Token = "hf_wrong" });

        Assert.Equal(ModelSourceError.AccessDenied, error.Error);
        Assert.Contains("rejected", error.Message);
        Assert.Contains("Invalid credentials", error.Message);
    }

    [Fact]
    public async Task GatedRepo_SaysToAcceptTerms()
    {
        Hub.GatedRepos[RepoId] = true;

        var error = await ResolveFailsAsync(Options with { Token = "hf_secret" });

        Assert.Equal(ModelSourceError.AccessDenied, error.Error);
        Assert.Equal(HttpStatusCode.Forbidden, error.StatusCode);
        Assert.Contains("gated", error.Message);
        Assert.Contains($"{Hub.Endpoint}/{RepoId}", error.Message);
    }

    [Fact]
    public async Task MissingRepo_IsNotFound()
    {
        var error = await ResolveFailsAsync(Options with { Token = "hf_secret" }, "test-org/no-such-model");

        Assert.Equal(ModelSourceError.NotFound, error.Error);
        Assert.Equal(HttpStatusCode.NotFound, error.StatusCode);
        Assert.Contains("test-org/no-such-model", error.Message);
        Assert.Equal(1, Hub.CountRequests(IsApiRequest));
    }

    [Fact]
    public async Task MissingRepoWithoutToken_IsNotFound()
    {
        var error = await ResolveFailsAsync(Options, "test-org/no-such-model");

        Assert.Equal(ModelSourceError.NotFound, error.Error);
        Assert.Equal(HttpStatusCode.Unauthorized, error.StatusCode);
        Assert.Contains("HF_TOKEN", error.Message);
    }

    [Fact]
    public async Task MissingRevision_IsNotFound()
    {
        var error = await ResolveFailsAsync(Options, $"{RepoId}@no-such-branch");

        Assert.Equal(ModelSourceError.NotFound, error.Error);
        Assert.Contains("'no-such-branch'", error.Message);
        Assert.Equal(1, Hub.CountRequests(IsApiRequest));
        Assert.False(Directory.Exists(Path.Combine(RepoFolder, "refs")));
    }

    [Fact]
    public async Task ServerError_IsRetried()
    {
        Hub.FailWith(HttpStatusCode.InternalServerError, times: 2, IsApiRequest);
        Hub.FailWith(HttpStatusCode.BadGateway, times: 1, IsContentGet(SmallShard));

        var folder = await ResolveAsync(Options);

        AssertSnapshotMatches(folder, Files, AllowedFiles);
        Assert.Equal(3, Hub.CountRequests(IsApiRequest));
        Assert.Equal(2, Hub.CountRequests(IsContentGet(SmallShard)));
        Assert.Equal(3, Warnings.Count);
        Assert.All(Warnings, w => Assert.Contains("Retrying", w));
    }

    [Fact]
    public async Task ServerError_GivesUpAfterMaxRetries()
    {
        Hub.FailWith(HttpStatusCode.ServiceUnavailable, times: 100, IsApiRequest);

        var error = await ResolveFailsAsync(Options with { MaxRetries = 2 });

        Assert.Equal(ModelSourceError.ServerError, error.Error);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, error.StatusCode);
        Assert.Contains("503", error.Message);
        Assert.Contains("3 attempts", error.Message);
        Assert.Equal(3, Hub.CountRequests(IsApiRequest));
    }

    [Fact]
    public async Task ServerErrorOnHead_GivesUp()
    {
        Hub.FailWith(HttpStatusCode.InternalServerError, times: 100, r => r.Method == "HEAD");

        var error = await ResolveFailsAsync(Options with { MaxRetries = 1 });

        Assert.Equal(ModelSourceError.ServerError, error.Error);
        Assert.Contains("500", error.Message);
        Assert.False(Directory.Exists(SnapshotFolder(Commit)) && Directory.EnumerateFileSystemEntries(SnapshotFolder(Commit)).Any());
    }

    [Fact]
    public async Task UnreachableEndpoint_SuggestsOffline()
    {
        var endpoint = $"http://127.0.0.1:{FreePort()}";

        var error = await ResolveFailsAsync(Options with { Endpoint = endpoint });

        Assert.Equal(ModelSourceError.NetworkUnavailable, error.Error);
        Assert.Contains(endpoint, error.Message);
        Assert.Contains("HF_HUB_OFFLINE", error.Message);
        Assert.Empty(Warnings);
    }

    [Fact]
    public async Task UnreachableEndpoint_FallsBackToCache()
    {
        await ResolveAsync(Options);

        // Without the markers of files that the repository lacks, the cache cannot tell whether it is complete.
        Directory.Delete(Path.Combine(RepoFolder, ".no_exist"), recursive: true);
        var folder = await ResolveAsync(Options with { Endpoint = $"http://127.0.0.1:{FreePort()}" });

        Assert.Equal(SnapshotFolder(Commit), folder);
        Assert.Contains(Warnings, w => w.Contains("Using the cached snapshot", StringComparison.Ordinal));
    }

    [Fact]
    public async Task StalledServer_TimesOut()
    {
        Hub.Stall(IsApiRequest);

        var error = await ResolveFailsAsync(Options with { Timeout = TimeSpan.FromMilliseconds(200), MaxRetries = 1 });

        Assert.Equal(ModelSourceError.Timeout, error.Error);
        Assert.Contains("0.2 s", error.Message);
        Assert.Equal(2, Hub.CountRequests(IsApiRequest));
    }

    [Fact]
    public async Task HugeFile_FailsBeforeDownload()
    {
        Hub.AnnouncedSizes[LargeShard] = 1L << 55;

        var error = await ResolveFailsAsync(Options);

        Assert.Equal(ModelSourceError.DiskFull, error.Error);
        Assert.Contains("HF_HUB_CACHE", error.Message);
        Assert.DoesNotContain(Hub.Requests, r => r.Method == "GET" && !IsApiRequest(r));
    }

    [Fact]
    public async Task Cancellation_KeepsPartialFile()
    {
        using var cancellation = new CancellationTokenSource();
        var isLargeGet = IsContentGet(LargeShard);
        Hub.BeforeFileBody = request =>
        {
            if (isLargeGet(request))
            {
                cancellation.Cancel();
            }

            return Task.CompletedTask;
        };

        await Assert.ThrowsAnyAsync<OperationCanceledException>(
            () => ModelLocator.ResolveAsync(RepoId, Options, null, cancellation.Token));

        Assert.False(new FileInfo(Path.Combine(SnapshotFolder(Commit), LargeShard)).Exists);
        Assert.False(File.Exists(BlobPath(EtagOf(LargeShard, Files[LargeShard]))));
    }

    private void AssertNothingLeftFor(string fileName)
    {
        var etag = EtagOf(fileName, Files[fileName]);
        Assert.False(new FileInfo(Path.Combine(SnapshotFolder(Commit), fileName)).Exists, $"{fileName} must not appear in the snapshot");
        Assert.False(File.Exists(BlobPath(etag)), $"{fileName} must not become a blob");
        Assert.False(File.Exists(BlobPath(etag) + ".incomplete"), $"rejected data of {fileName} must be deleted");
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
