using Waldwicht.Formats.Hub;
using Xunit;

namespace Waldwicht.Hub.Tests;

public sealed class HubSettingsTests : IDisposable
{
    private readonly string _home = Directory.CreateTempSubdirectory("waldwicht-home-").FullName;

    public void Dispose() => Directory.Delete(_home, recursive: true);

    [Fact]
    public void Defaults_FollowHuggingFaceHub()
    {
        var settings = Resolve(new ModelDownloadOptions(), []);

        Assert.Equal(Path.Combine(_home, ".cache", "huggingface", "hub"), settings.CacheRoot);
        Assert.Equal("https://huggingface.co/", settings.Endpoint.AbsoluteUri);
        Assert.Null(settings.Token);
        Assert.False(settings.Offline);
    }

    [Fact]
    public void CacheRoot_FollowsVariablePrecedence()
    {
        var xdg = Path.Combine(_home, "xdg");
        var hfHome = Path.Combine(_home, "hf");
        var hubCache = Path.Combine(_home, "hub-cache");

        Assert.Equal(Path.Combine(xdg, "huggingface", "hub"), Resolve(new(), new() { ["XDG_CACHE_HOME"] = xdg }).CacheRoot);
        Assert.Equal(Path.Combine(hfHome, "hub"), Resolve(new(), new() { ["XDG_CACHE_HOME"] = xdg, ["HF_HOME"] = hfHome }).CacheRoot);
        Assert.Equal(hubCache, Resolve(new(), new() { ["HF_HOME"] = hfHome, ["HF_HUB_CACHE"] = hubCache }).CacheRoot);
        Assert.Equal(hubCache, Resolve(new(), new() { ["HUGGINGFACE_HUB_CACHE"] = hubCache }).CacheRoot);
        Assert.Equal(Path.Combine(_home, "x"), Resolve(new() { CacheRoot = Path.Combine(_home, "x") }, new() { ["HF_HUB_CACHE"] = hubCache }).CacheRoot);
        Assert.Equal(Path.Combine(_home, "tilde", "hub"), Resolve(new(), new() { ["HF_HOME"] = "~/tilde" }).CacheRoot);
        Assert.Equal(Path.Combine(_home, ".cache", "huggingface", "hub"), Resolve(new(), new() { ["HF_HOME"] = "" }).CacheRoot);
    }

    [Fact]
    public void Token_PrefersOptionThenVariableThenFile()
    {
        var hfHome = Directory.CreateDirectory(Path.Combine(_home, "hf")).FullName;
        File.WriteAllText(Path.Combine(hfHome, "token"), "hf_from_file\n");
        var customTokenFile = Path.Combine(_home, "custom-token");
        File.WriteAllText(customTokenFile, "hf_custom");

        Assert.Equal("hf_from_file", Resolve(new(), new() { ["HF_HOME"] = hfHome }).Token);
        Assert.Equal("hf_custom", Resolve(new(), new() { ["HF_HOME"] = hfHome, ["HF_TOKEN_PATH"] = customTokenFile }).Token);
        Assert.Equal("hf_env", Resolve(new(), new() { ["HF_HOME"] = hfHome, ["HF_TOKEN"] = "hf_env" }).Token);
        Assert.Equal("hf_legacy", Resolve(new(), new() { ["HUGGING_FACE_HUB_TOKEN"] = "hf_legacy" }).Token);
        Assert.Equal("hf_option", Resolve(new() { Token = "hf_option" }, new() { ["HF_TOKEN"] = "hf_env" }).Token);
        Assert.Null(Resolve(new() { Token = "" }, new() { ["HF_HOME"] = hfHome, ["HF_TOKEN"] = "hf_env" }).Token);
    }

    [Theory]
    [InlineData("1", true)]
    [InlineData("true", true)]
    [InlineData("YES", true)]
    [InlineData("on", true)]
    [InlineData("0", false)]
    [InlineData("false", false)]
    [InlineData("", false)]
    public void Offline_ReadsHfHubOffline(string value, bool expected)
    {
        Assert.Equal(expected, Resolve(new(), new() { ["HF_HUB_OFFLINE"] = value }).Offline);
        Assert.Equal(expected, Resolve(new(), new() { ["TRANSFORMERS_OFFLINE"] = value }).Offline);
        Assert.False(Resolve(new() { Offline = false }, new() { ["HF_HUB_OFFLINE"] = value }).Offline);
    }

    [Fact]
    public void Endpoint_ReadsHfEndpoint()
    {
        Assert.Equal("http://127.0.0.1:9/hf", Resolve(new(), new() { ["HF_ENDPOINT"] = "http://127.0.0.1:9/hf/" }).Endpoint.AbsoluteUri);
        Assert.Equal("http://127.0.0.1:8/", Resolve(new() { Endpoint = "http://127.0.0.1:8" }, new() { ["HF_ENDPOINT"] = "http://127.0.0.1:9" }).Endpoint.AbsoluteUri);
    }

    [Theory]
    [InlineData("ftp://127.0.0.1")]
    [InlineData("huggingface.co")]
    [InlineData("not a url")]
    public void Endpoint_InvalidIsRejected(string endpoint)
    {
        var error = Assert.Throws<ModelSourceException>(() => Resolve(new() { Endpoint = endpoint }, []));

        Assert.Equal(ModelSourceError.InvalidConfiguration, error.Error);
        Assert.Contains(endpoint, error.Message);
        Assert.Contains("HF_ENDPOINT", error.Message);
    }

    private HubSettings Resolve(ModelDownloadOptions options, Dictionary<string, string> environment) =>
        HubSettings.FromOptions(options, environment.GetValueOrDefault, _home);
}
