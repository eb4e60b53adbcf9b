using System.Text;
using Waldwicht.Formats.Hub;
using Xunit;

namespace Waldwicht.Hub.Tests;

public sealed class ModelDownloadTests : HubTestBase
{
    [Fact]
    public async Task Download_LaysOutCacheLikeHuggingFaceHub()
    {
        var folder = await ResolveAsync(Options);

        Assert.Equal(SnapshotFolder(Commit), folder);
        Assert.Equal(Commit, File.ReadAllText(Path.Combine(RepoFolder, "refs", "main")));
        AssertSnapshotMatches(folder, Files, AllowedFiles);
        foreach (var name in AllowedFiles)
        {
            var link = new FileInfo(Path.Combine(folder, name));
            Assert.Equal(Path.Combine("..", "..", "blobs", EtagOf(name, Files[name])), link.LinkTarget);
            Assert.Equal(Files[name], File.ReadAllBytes(BlobPath(EtagOf(name, Files[name]))));
            Assert.True(File.Exists(Path.Combine(CacheRoot, ".locks", "models--test-org--tiny-model", EtagOf(name, Files[name]) + ".lock")));
        }

        foreach (var name in SkippedFiles)
        {
            Assert.False(File.Exists(Path.Combine(folder, name)), $"{name} is outside the allow-list");
        }

        Assert.True(File.Exists(Path.Combine(RepoFolder, ".no_exist", Commit, "chat_template.jinja")));
        Assert.True(File.Exists(Path.Combine(RepoFolder, ".no_exist", Commit, "special_tokens_map.json")));
        Assert.Empty(IncompleteFiles());
    }

    [Fact]
    public async Task Download_UsesListingHeadAndCdnRedirect()
    {
        await ResolveAsync(Options);

        var requests = Hub.Requests.ToArray();
        Assert.Equal(["GET /api/models/test-org/tiny-model/revision/main"], requests.Where(IsApiRequest).Select(r => $"{r.Method} {r.Path}"));
        var heads = requests.Where(r => r.Method == "HEAD").Select(r => r.Path).Order().ToArray();
        Assert.Equal(AllowedFiles.Select(name => $"/{RepoId}/resolve/{Commit}/{name}").Order(), heads);
        foreach (var name in AllowedFiles)
        {
            Assert.Equal(1, Hub.CountRequests(IsContentGet(name)));
        }

        // LFS files are fetched through the redirect to the CDN path, which metadata requests never follow.
        Assert.Equal(2, requests.Count(r => r.Method == "GET" && r.Path.StartsWith("/cdn/", StringComparison.Ordinal)));
        Assert.DoesNotContain(requests, r => r.Method == "HEAD" && r.Path.StartsWith("/cdn/", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Download_ReportsProgressPerFileAndTotal()
    {
        var progress = new RecordingProgress();

        await ResolveAsync(Options, progress);

        var reports = progress.Reports.ToArray();
        var totalSize = AllowedFiles.Sum(name => (long)Files[name].Length);
        var large = reports.Where(r => r.FileName == LargeShard).ToArray();
        Assert.True(large.Length >= 5, $"expected a report at start, after each MiB and at the end, got {large.Length}");
        Assert.All(large, r => Assert.Equal(LargeShardSize, r.FileSize));
        Assert.Equal(0, large[0].FileBytesDownloaded);
        Assert.Equal(LargeShardSize, large[^1].FileBytesDownloaded);
        for (var i = 1; i < reports.Length; i++)
        {
            Assert.True(reports[i].TotalBytesDownloaded >= reports[i - 1].TotalBytesDownloaded, $"total went back at report {i}");
        }

        Assert.All(reports, r => Assert.Equal(RepoId, r.RepoId));
        Assert.All(reports, r => Assert.Equal(totalSize, r.TotalSize));
        Assert.All(reports, r => Assert.Equal(AllowedFiles.Length, r.FileCount));
        Assert.Equal(totalSize, reports[^1].TotalBytesDownloaded);
        Assert.Equal(AllowedFiles.Length, reports[^1].FilesCompleted);
    }

    [Fact]
    public async Task Download_InParallelGivesSameSnapshot()
    {
        var progress = new RecordingProgress();

        var folder = await ResolveAsync(Options with { MaxParallelDownloads = 4 }, progress);

        AssertSnapshotMatches(folder, Files, AllowedFiles);
        Assert.Equal(AllowedFiles.Length, progress.Reports.Max(r => r.FilesCompleted));
        Assert.Equal(AllowedFiles.Sum(name => (long)Files[name].Length), progress.Reports.Max(r => r.TotalBytesDownloaded));
    }

    [Fact]
    public async Task CacheHit_MakesNoRequests()
    {
        var first = await ResolveAsync(Options);
        Hub.Requests.Clear();
        var progress = new RecordingProgress();

        var second = await ResolveAsync(Options, progress);

        Assert.Equal(first, second);
        Assert.Empty(Hub.Requests);
        Assert.Empty(progress.Reports);
    }

    [Fact]
    public async Task CacheHit_ByCommitHashMakesNoRequests()
    {
        await ResolveAsync(Options);
        Hub.Requests.Clear();

        var folder = await ResolveAsync(Options, model: $"{RepoId}@{Commit}");

        Assert.Equal(SnapshotFolder(Commit), folder);
        Assert.Empty(Hub.Requests);
    }

    [Fact]
    public async Task Offline_UsesCompleteCache()
    {
        await ResolveAsync(Options);
        Hub.Requests.Clear();

        var folder = await ResolveAsync(Options with { Offline = true });

        Assert.Equal(SnapshotFolder(Commit), folder);
        Assert.Empty(Hub.Requests);
    }

    [Fact]
    public async Task Offline_UsesCacheWithoutOptionalFiles()
    {
        await ResolveAsync(Options);
        File.Delete(Path.Combine(SnapshotFolder(Commit), "README.md"));
        Hub.Requests.Clear();

        var folder = await ResolveAsync(Options with { Offline = true });

        Assert.Equal(SnapshotFolder(Commit), folder);
        Assert.Empty(Hub.Requests);
    }

    [Fact]
    public async Task Offline_EmptyCacheFailsWithoutRequests()
    {
        var error = await ResolveFailsAsync(Options with { Offline = true });

        Assert.Equal(ModelSourceError.OfflineCacheMiss, error.Error);
        Assert.Contains(RepoId, error.Message);
        Assert.Contains("HF_HUB_OFFLINE", error.Message);
        Assert.Contains(CacheRoot, error.Message);
        Assert.Empty(Hub.Requests);
    }

    [Fact]
    public async Task Offline_MissingShardIsNamed()
    {
        await ResolveAsync(Options);
        File.Delete(Path.Combine(SnapshotFolder(Commit), SmallShard));
        Hub.Requests.Clear();

        var error = await ResolveFailsAsync(Options with { Offline = true });

        Assert.Equal(ModelSourceError.OfflineCacheMiss, error.Error);
        Assert.Contains(SmallShard, error.Message);
        Assert.DoesNotContain(LargeShard, error.Message);
        Assert.Empty(Hub.Requests);
    }

    [Fact]
    public async Task MissingSnapshotEntries_AreRestored()
    {
        await ResolveAsync(Options);

        // A deleted link whose blob remains is linked again. A link to a deleted blob is downloaded again.
        File.Delete(Path.Combine(SnapshotFolder(Commit), SmallShard));
        File.Delete(BlobPath(EtagOf("config.json", Files["config.json"])));
        Hub.Requests.Clear();

        var folder = await ResolveAsync(Options);

        AssertSnapshotMatches(folder, Files, AllowedFiles);
        Assert.Equal(0, Hub.CountRequests(IsContentGet(SmallShard)));
        Assert.Equal(1, Hub.CountRequests(IsContentGet("config.json")));
        Assert.Equal(0, Hub.CountRequests(IsContentGet(LargeShard)));
        Assert.Equal(2, Hub.CountRequests(r => r.Method == "HEAD"));
    }

    [Fact]
    public async Task Revision_TagAndCommitArePinned()
    {
        var newFiles = CreateFakeModel(seed: 2);
        newFiles[SmallShard] = Files[SmallShard];
        var newCommit = Repo.AddCommit(newFiles, "main");
        Repo.Refs["v1"] = Commit;

        var tagged = await ResolveAsync(Options, model: $"{RepoId}@v1");
        var latest = await ResolveAsync(Options);
        var pinned = await ResolveAsync(Options, model: $"{RepoId}@{Commit}");

        Assert.Equal(SnapshotFolder(Commit), tagged);
        Assert.Equal(SnapshotFolder(newCommit), latest);
        Assert.Equal(SnapshotFolder(Commit), pinned);
        Assert.Equal(Commit, File.ReadAllText(Path.Combine(RepoFolder, "refs", "v1")));
        Assert.Equal(newCommit, File.ReadAllText(Path.Combine(RepoFolder, "refs", "main")));
        Assert.False(File.Exists(Path.Combine(RepoFolder, "refs", Commit)), "a commit hash needs no ref");
        AssertSnapshotMatches(tagged, Files, AllowedFiles);
        AssertSnapshotMatches(latest, newFiles, AllowedFiles);

        // Both commits contain the same small shard, so its blob is downloaded once and linked twice.
        Assert.Equal(1, Hub.CountRequests(IsContentGet(SmallShard)));
    }

    [Fact]
    public async Task Revision_PullRequestRefIsEscapedAndNested()
    {
        Repo.Refs["refs/pr/1"] = Commit;

        var folder = await ResolveAsync(Options, model: $"{RepoId}@refs/pr/1");

        Assert.Equal(SnapshotFolder(Commit), folder);
        Assert.Equal(Commit, File.ReadAllText(Path.Combine(RepoFolder, "refs", "refs", "pr", "1")));
        Assert.Contains(Hub.Requests, r => r.Method == "GET" && r.Path == "/api/models/test-org/tiny-model/revision/refs%2Fpr%2F1");
    }

    [Fact]
    public async Task CheckForUpdates_FollowsMovedBranch()
    {
        await ResolveAsync(Options);
        var newCommit = Repo.AddCommit(CreateFakeModel(seed: 3), "main");
        Hub.Requests.Clear();

        var cached = await ResolveAsync(Options);
        Assert.Empty(Hub.Requests);
        var updated = await ResolveAsync(Options with { CheckForUpdates = true });

        Assert.Equal(SnapshotFolder(Commit), cached);
        Assert.Equal(SnapshotFolder(newCommit), updated);
        Assert.Equal(newCommit, File.ReadAllText(Path.Combine(RepoFolder, "refs", "main")));
    }

    [Fact]
    public async Task Token_IsSentAsBearer()
    {
        Hub.RequiredToken = "hf_secret";

        var folder = await ResolveAsync(Options with { Token = "hf_secret" });

        AssertSnapshotMatches(folder, Files, AllowedFiles);
        var hubRequests = Hub.Requests.Where(r => !r.Path.StartsWith("/cdn/", StringComparison.Ordinal)).ToArray();
        Assert.NotEmpty(hubRequests);
        Assert.All(hubRequests, r => Assert.Equal("Bearer hf_secret", r.Authorization));
    }

    [Fact]
    public async Task RenamedRepo_FollowsRelativeRedirects()
    {
        Hub.RenamedRepos["old-org/tiny-model"] = RepoId;

        var folder = await ResolveAsync(Options, model: "old-org/tiny-model");

        Assert.Equal(Path.Combine(CacheRoot, "models--old-org--tiny-model", "snapshots", Commit), folder);
        AssertSnapshotMatches(folder, Files, AllowedFiles);
        Assert.Contains(Hub.Requests, r => r.Method == "HEAD" && r.Path == $"/old-org/tiny-model/resolve/{Commit}/config.json");
        Assert.Contains(Hub.Requests, r => r.Method == "HEAD" && r.Path == $"/{RepoId}/resolve/{Commit}/config.json");
    }

    [Fact]
    public async Task ConcurrentResolves_DownloadEachBlobOnce()
    {
        // Hold the first download of the large shard until the second resolver waits for its lock, so that the
        // second one must find the finished blob instead of downloading it again.
        var isLargeGet = IsContentGet(LargeShard);
        Hub.BeforeFileBody = async request =>
        {
            if (!isLargeGet(request))
            {
                return;
            }

            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            while (!Warnings.Any(w => w.StartsWith("Waiting for another process", StringComparison.Ordinal) && w.Contains(LargeShard, StringComparison.Ordinal)))
            {
                await Task.Delay(10, timeout.Token);
            }
        };

        var results = await Task.WhenAll(ResolveAsync(Options), ResolveAsync(Options with { MaxParallelDownloads = 3 }));

        Assert.Equal(results[0], results[1]);
        AssertSnapshotMatches(results[0], Files, AllowedFiles);
        Assert.Contains(Warnings, w => w.StartsWith("Waiting for another process", StringComparison.Ordinal));
        foreach (var name in AllowedFiles)
        {
            Assert.Equal(1, Hub.CountRequests(IsContentGet(name)));
        }
    }

    [Fact]
    public async Task WithoutSymlinks_SnapshotHoldsFiles()
    {
        var settings = HubSettings.FromOptions(Options) with { DisableSymlinks = true };

        var folder = await ModelLocator.ResolveAsync(RepoId, settings, Options, null, CancellationToken.None);

        AssertSnapshotMatches(folder, Files, AllowedFiles);
        Assert.All(AllowedFiles, name => Assert.Null(new FileInfo(Path.Combine(folder, name)).LinkTarget));
        Hub.Requests.Clear();
        Assert.Equal(folder, await ModelLocator.ResolveAsync(RepoId, settings, Options, null, CancellationToken.None));
        Assert.Empty(Hub.Requests);
    }

    [Fact]
    public async Task WithoutSymlinks_ExistingBlobIsCopied()
    {
        var settings = HubSettings.FromOptions(Options) with { DisableSymlinks = true };
        var second = CreateFakeModel(seed: 4);
        second[SmallShard] = Files[SmallShard];
        var secondCommit = Repo.AddCommit(second, "next");
        await ResolveAsync(Options);

        var folder = await ModelLocator.ResolveAsync($"{RepoId}@next", settings, Options, null, CancellationToken.None);

        // The first snapshot links to the small shard's blob, so the second gets a copy. New blobs are moved.
        Assert.Equal(SnapshotFolder(secondCommit), folder);
        AssertSnapshotMatches(folder, second, AllowedFiles);
        AssertSnapshotMatches(SnapshotFolder(Commit), Files, AllowedFiles);
        Assert.Null(new FileInfo(Path.Combine(folder, SmallShard)).LinkTarget);
        Assert.True(File.Exists(BlobPath(EtagOf(SmallShard, Files[SmallShard]))));
        Assert.False(File.Exists(BlobPath(EtagOf(LargeShard, second[LargeShard]))));
        Assert.Equal(1, Hub.CountRequests(IsContentGet(SmallShard)));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task EqualFiles_ShareOneDownload(bool disableSymlinks)
    {
        var files = new Dictionary<string, byte[]>(Files) { ["special_tokens_map.json"] = Files["tokenizer_config.json"] };
        Repo.AddCommit(files, "duplicates");
        var settings = HubSettings.FromOptions(Options) with { DisableSymlinks = disableSymlinks };

        var folder = await ModelLocator.ResolveAsync($"{RepoId}@duplicates", settings, Options, null, CancellationToken.None);

        AssertSnapshotMatches(folder, files, [.. AllowedFiles, "special_tokens_map.json"]);
        var sharedPath = $"/{RepoId}/resolve/{Path.GetFileName(folder)}/";
        Assert.Equal(1, Hub.CountRequests(r => r.Method == "GET"
            && (r.Path == sharedPath + "tokenizer_config.json" || r.Path == sharedPath + "special_tokens_map.json")));
    }

    [Fact]
    public async Task CustomAllowList_DownloadsOnlyMatches()
    {
        var options = Options with { AllowPatterns = ["config.json", "*.safetensors", "original/*"] };

        var folder = await ResolveAsync(options);

        AssertSnapshotMatches(folder, Files, ["config.json", LargeShard, SmallShard, "original/consolidated.safetensors"]);
        Assert.False(File.Exists(Path.Combine(folder, "tokenizer.json")));
        Hub.Requests.Clear();
        Assert.Equal(folder, await ResolveAsync(options));
        Assert.Empty(Hub.Requests);
    }

    [Fact]
    public async Task RepoWithoutConfig_IsNotAModel()
    {
        var repo = Hub.AddRepo("test-org/dataset-like");
        repo.AddCommit(new Dictionary<string, byte[]> { ["data.csv"] = Encoding.UTF8.GetBytes("a,b\n") }, "main");

        var error = await ResolveFailsAsync(Options, "test-org/dataset-like");

        Assert.Equal(ModelSourceError.NotAModel, error.Error);
        Assert.Contains("config.json", error.Message);
        Assert.Contains("data.csv", error.Message);
    }

    [Fact]
    public async Task RepoWithoutSafetensors_IsNotAModel()
    {
        var repo = Hub.AddRepo("test-org/pytorch-only");
        repo.AddCommit(
            new Dictionary<string, byte[]> { ["config.json"] = Files["config.json"], ["pytorch_model.bin"] = Files["pytorch_model.bin"] },
            "main");

        var error = await ResolveFailsAsync(Options, "test-org/pytorch-only");

        Assert.Equal(ModelSourceError.NotAModel, error.Error);
        Assert.Contains(".safetensors", error.Message);
        Assert.Contains("pytorch_model.bin", error.Message);
    }

    [Fact]
    public async Task IndexNamingAbsentShard_IsReported()
    {
        var files = new Dictionary<string, byte[]>(Files)
        {
            ["model.safetensors.index.json"] = Encoding.UTF8.GetBytes(
                $$$"""{"weight_map": {"a": "{{{LargeShard}}}", "b": "model-00003-of-00003.safetensors"}}"""),
        };
        Repo.AddCommit(files, "broken");

        var error = await ResolveFailsAsync(Options, $"{RepoId}@broken");

        Assert.Equal(ModelSourceError.NotAModel, error.Error);
        Assert.Contains("model-00003-of-00003.safetensors", error.Message);
    }
}
