using Waldwicht.Formats.Hub;
using Xunit;

namespace Waldwicht.Hub.Tests;

public sealed class ModelReferenceTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("waldwicht-ref-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    [Fact]
    public async Task LocalFolder_IsReturnedAsFullPath()
    {
        var model = Directory.CreateDirectory(Path.Combine(_folder, "model")).FullName;
        File.WriteAllText(Path.Combine(model, "config.json"), "{}");
        var relative = Path.GetRelativePath(Environment.CurrentDirectory, model);

        // An unreachable endpoint proves that no hub is asked.
        var options = new ModelDownloadOptions { Endpoint = "http://127.0.0.1:9", CacheRoot = _folder, Offline = false };
        Assert.Equal(model, await ModelLocator.ResolveAsync(model, options));
        Assert.Equal(model, await ModelLocator.ResolveAsync(relative, options));
    }

    [Fact]
    public async Task LocalFolder_WithoutConfigIsRejected()
    {
        var error = await Assert.ThrowsAsync<ModelSourceException>(() => ModelLocator.ResolveAsync(_folder));

        Assert.Equal(ModelSourceError.NotAModel, error.Error);
        Assert.Contains(_folder, error.Message);
        Assert.Contains("config.json", error.Message);
    }

    [Fact]
    public async Task LocalFile_IsRejected()
    {
        var file = Path.Combine(_folder, "config.json");
        File.WriteAllText(file, "{}");

        var error = await Assert.ThrowsAsync<ModelSourceException>(() => ModelLocator.ResolveAsync(file));

        Assert.Equal(ModelSourceError.InvalidReference, error.Error);
        Assert.Contains("is a file", error.Message);
    }

    [Theory]
    [InlineData("./no-such-model-folder")]
    [InlineData("../no-such-model-folder")]
    [InlineData("/no-such-model-folder")]
    [InlineData("~/no-such-model-folder-xyz")]
    [InlineData("models/gemma/no-such-variant")]
    public async Task MissingPath_IsLocalFolderNotFound(string path)
    {
        var error = await Assert.ThrowsAsync<ModelSourceException>(() => ModelLocator.ResolveAsync(path));

        Assert.Equal(ModelSourceError.LocalFolderNotFound, error.Error);
        Assert.Contains("no-such-", error.Message);
    }

    [Fact]
    public void HomePrefix_IsExpanded()
    {
        var model = Directory.CreateDirectory(Path.Combine(_folder, "models", "tiny")).FullName;
        File.WriteAllText(Path.Combine(model, "config.json"), "{}");

        Assert.Equal(model, ModelLocator.TryResolveLocalFolder("~/models/tiny", _folder));
        Assert.Equal(model, ModelLocator.TryResolveLocalFolder($"~{Path.DirectorySeparatorChar}models{Path.DirectorySeparatorChar}tiny", _folder));
        Assert.Null(ModelLocator.TryResolveLocalFolder("org/name", _folder));
    }

    [Theory]
    [InlineData("gemma")]
    [InlineData("org/name@")]
    [InlineData("org/na me")]
    [InlineData("org/-name")]
    [InlineData("org/na--me")]
    [InlineData("org/na..me")]
    [InlineData("org/name@../../escape")]
    [InlineData("org/name@refs//pr")]
    [InlineData("org/name@/main")]
    [InlineData("org/name@main:x")]
    [InlineData("org/name@a@b")]
    public async Task InvalidRepoId_IsRejected(string text)
    {
        var options = new ModelDownloadOptions { Endpoint = "http://127.0.0.1:9", CacheRoot = _folder, Offline = false };

        var error = await Assert.ThrowsAsync<ModelSourceException>(() => ModelLocator.ResolveAsync(text, options));

        Assert.Equal(ModelSourceError.InvalidReference, error.Error);
        Assert.Contains($"'{text}'", error.Message);
    }

    [Theory]
    [InlineData("google/gemma-4-e2b-it", "google/gemma-4-e2b-it", "main", false)]
    [InlineData("mlx-community/gemma_4.q4@v1.0", "mlx-community/gemma_4.q4", "v1.0", false)]
    [InlineData("org/name@refs/pr/12", "org/name", "refs/pr/12", false)]
    [InlineData("org/name@0123456789abcdef0123456789abcdef01234567", "org/name", "0123456789abcdef0123456789abcdef01234567", true)]
    public void RepoId_IsParsed(string text, string repoId, string revision, bool isCommitHash)
    {
        var id = HubModelId.Parse(text);

        Assert.Equal(repoId, id.RepoId);
        Assert.Equal(revision, id.Revision);
        Assert.Equal(isCommitHash, id.IsCommitHash);
        Assert.Equal(text, id.ToString());
        Assert.Equal(HubModelId.Create(repoId, revision), id);
    }

    [Fact]
    public void CacheFolderName_MatchesHuggingFaceHub()
    {
        Assert.Equal("models--google--gemma-4-e2b-it", HubModelId.Parse("google/gemma-4-e2b-it@v2").CacheFolderName);
    }

    [Theory]
    [InlineData("*.safetensors", "model.safetensors", true)]
    [InlineData("*.safetensors", "model-00001-of-00002.safetensors", true)]
    [InlineData("*.safetensors", "original/model.safetensors", false)]
    [InlineData("*.safetensors", "model.safetensors.index.json", false)]
    [InlineData("original/*", "original/params.json", true)]
    [InlineData("original/*", "original/sub/params.json", false)]
    [InlineData("model-?????-of-*.safetensors", "model-00001-of-00002.safetensors", true)]
    [InlineData("config.json", "config.json", true)]
    [InlineData("config.json", "Config.json", false)]
    [InlineData("*", "README.md", true)]
    [InlineData("*", "a/README.md", false)]
    [InlineData("a*b*c", "aXbYc", true)]
    [InlineData("a*b*c", "aXbY", false)]
    public void Pattern_MatchesWithinOneSegment(string pattern, string path, bool expected)
    {
        Assert.Equal(expected, new FilePatternSet([pattern]).Matches(path));
    }

    [Fact]
    public void Pattern_EmptyIsRejected()
    {
        var error = Assert.Throws<ModelSourceException>(() => new FilePatternSet(["config.json", " "]));

        Assert.Equal(ModelSourceError.InvalidConfiguration, error.Error);
    }

    [Theory]
    [InlineData("config.json", true)]
    [InlineData("original/params.json", true)]
    [InlineData("../config.json", false)]
    [InlineData("a/../../b", false)]
    [InlineData("/etc/passwd", false)]
    [InlineData("a//b", false)]
    [InlineData("a\\b", false)]
    [InlineData("./a", false)]
    [InlineData("c:x", false)]
    [InlineData("", false)]
    public void RepositoryPath_SafetyIsChecked(string path, bool expected)
    {
        Assert.Equal(expected, HubRepoCache.IsSafeRelativePath(path));
    }
}
