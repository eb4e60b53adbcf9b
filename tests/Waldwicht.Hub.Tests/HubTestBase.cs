using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using Waldwicht.Formats.Hub;
using Xunit;

namespace Waldwicht.Hub.Tests;

/// <summary>Starts a mock hub and an empty cache folder for each test, and deletes both afterwards.</summary>
public abstract class HubTestBase : IAsyncLifetime
{
    public const string RepoId = "test-org/tiny-model";
    public const string LargeShard = "model-00001-of-00002.safetensors";
    public const string SmallShard = "model-00002-of-00002.safetensors";

    // Above three progress intervals, and not a multiple of the mock's chunk size.
    public const int LargeShardSize = (3 << 20) + 517;

    /// <summary>Files of the fake model that the default allow-list selects.</summary>
    public static readonly string[] AllowedFiles =
    [
        "config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json",
        "model.safetensors.index.json", LargeShard, SmallShard, "README.md",
    ];

    /// <summary>Files of the fake model that the default allow-list skips.</summary>
    public static readonly string[] SkippedFiles = [".gitattributes", "pytorch_model.bin", "original/consolidated.safetensors"];

    private readonly string _tempFolder = Directory.CreateTempSubdirectory("waldwicht-hub-").FullName;

    internal MockHub Hub { get; private set; } = null!;

    internal MockRepo Repo { get; private set; } = null!;

    protected string CacheRoot => Path.Combine(_tempFolder, "hub");

    protected string TempFolder => _tempFolder;

    protected IReadOnlyDictionary<string, byte[]> Files { get; private set; } = null!;

    protected string Commit { get; private set; } = null!;

    protected ConcurrentQueue<string> Warnings { get; } = new();

    protected string RepoFolder => Path.Combine(CacheRoot, "models--test-org--tiny-model");

    /// <summary>Options for the mock hub, with no token, online, short retry delays and one download at a time.</summary>
    protected ModelDownloadOptions Options => new()
    {
        Endpoint = Hub.Endpoint,
        CacheRoot = CacheRoot,
        Token = "",
        Offline = false,
        MaxRetries = 3,
        RetryDelay = TimeSpan.FromMilliseconds(1),
        MaxRetryDelay = TimeSpan.FromMilliseconds(5),
        Timeout = TimeSpan.FromSeconds(20),
        MaxParallelDownloads = 1,
        OnWarning = Warnings.Enqueue,
    };

    public async Task InitializeAsync()
    {
        Hub = await MockHub.StartAsync();
        Repo = Hub.AddRepo(RepoId);
        Files = CreateFakeModel(seed: 1);
        Commit = Repo.AddCommit(Files, "main");
    }

    public async Task DisposeAsync()
    {
        await Hub.DisposeAsync();
        Directory.Delete(_tempFolder, recursive: true);
    }

    /// <summary>A model repository with a sharded checkpoint and files outside the default allow-list.</summary>
    protected static Dictionary<string, byte[]> CreateFakeModel(int seed, int largeShardSize = LargeShardSize)
    {
        var random = new Random(seed);
        byte[] RandomBytes(int length)
        {
            var bytes = new byte[length];
            random.NextBytes(bytes);
            return bytes;
        }

        byte[] Text(string text) => Encoding.UTF8.GetBytes(text);

        return new Dictionary<string, byte[]>(StringComparer.Ordinal)
        {
            ["config.json"] = Text($$"""{"model_type": "gemma4_text", "hidden_size": 64, "seed": {{seed}}}"""),
            ["generation_config.json"] = Text("""{"do_sample": true, "top_k": 64}"""),
            ["tokenizer.json"] = Text(string.Concat(Enumerable.Range(0, 20_000).Select(i => $"token{i} "))),
            ["tokenizer_config.json"] = Text("""{"bos_token": "<bos>"}"""),
            ["model.safetensors.index.json"] = Text(
                $$$"""{"metadata": {}, "weight_map": {"a.weight": "{{{LargeShard}}}", "b.weight": "{{{SmallShard}}}", "c.weight": "{{{LargeShard}}}"}}"""),
            [LargeShard] = RandomBytes(largeShardSize),
            [SmallShard] = RandomBytes(100_000),
            ["README.md"] = Text($"# Tiny model {seed}\n"),
            [".gitattributes"] = Text("*.safetensors filter=lfs diff=lfs merge=lfs -text\n"),
            ["pytorch_model.bin"] = RandomBytes(1000),
            ["original/consolidated.safetensors"] = RandomBytes(1000),
        };
    }

    protected Task<string> ResolveAsync(ModelDownloadOptions options, IProgress<DownloadProgress>? progress = null, string model = RepoId) =>
        ModelLocator.ResolveAsync(model, options, progress);

    protected async Task<ModelSourceException> ResolveFailsAsync(ModelDownloadOptions options, string model = RepoId) =>
        await Assert.ThrowsAsync<ModelSourceException>(() => ModelLocator.ResolveAsync(model, options));

    protected string SnapshotFolder(string commit) => Path.Combine(RepoFolder, "snapshots", commit);

    protected string BlobPath(string etag) => Path.Combine(RepoFolder, "blobs", etag);

    /// <summary>ETag under which the hub serves a file: SHA-256 for LFS files, git blob id for the rest.</summary>
    protected static string EtagOf(string fileName, byte[] content) =>
        MockRepo.IsLfs(fileName) ? Convert.ToHexStringLower(SHA256.HashData(content)) : MockRepo.GitBlobId(content);

    protected static void AssertSnapshotMatches(string folder, IReadOnlyDictionary<string, byte[]> files, IEnumerable<string> names)
    {
        foreach (var name in names)
        {
            var path = Path.Combine(folder, name);
            Assert.True(File.Exists(path), $"{name} is missing from {folder}");
            Assert.Equal(files[name], File.ReadAllBytes(path));
        }
    }

    protected string[] IncompleteFiles() =>
        Directory.Exists(Path.Combine(RepoFolder, "blobs"))
            ? Directory.GetFiles(Path.Combine(RepoFolder, "blobs"), "*.incomplete")
            : [];

    internal static bool IsApiRequest(RecordedRequest request) => request.Path.StartsWith("/api/", StringComparison.Ordinal);

    /// <summary>Matches the GET that returns a file's contents: from the CDN path for LFS files, else from the resolve path.</summary>
    internal Func<RecordedRequest, bool> IsContentGet(string fileName, string? commit = null)
    {
        var path = MockRepo.IsLfs(fileName)
            ? $"/cdn/{Convert.ToHexStringLower(SHA256.HashData(Files[fileName]))}"
            : $"/{RepoId}/resolve/{commit ?? Commit}/{fileName}";
        return request => request.Method == "GET" && request.Path.StartsWith(path, StringComparison.Ordinal);
    }

    /// <summary>Progress sink that keeps every report in order, without the thread hop of <see cref="Progress{T}"/>.</summary>
    protected sealed class RecordingProgress : IProgress<DownloadProgress>
    {
        public ConcurrentQueue<DownloadProgress> Reports { get; } = new();

        public void Report(DownloadProgress value) => Reports.Enqueue(value);
    }
}
