namespace Waldwicht.Formats.Hub;

/// <summary>
/// <see cref="ModelDownloadOptions"/> with every unset value filled in from the environment, using the variables and
/// defaults of huggingface_hub so that both share one cache and one login.
/// </summary>
internal sealed record HubSettings
{
    // Values that huggingface_hub treats as true in boolean environment variables.
    private static readonly string[] TrueValues = ["1", "ON", "YES", "TRUE"];

    public required Uri Endpoint { get; init; }

    public required string CacheRoot { get; init; }

    public string? Token { get; init; }

    public bool Offline { get; init; }

    /// <summary>When true, snapshot files are copies or moved blobs, as on file systems without symbolic links.</summary>
    public bool DisableSymlinks { get; init; }

    /// <summary>Reads unset options from the process environment and the token file.</summary>
    public static HubSettings FromOptions(ModelDownloadOptions options) =>
        FromOptions(options, Environment.GetEnvironmentVariable, Environment.GetFolderPath(Environment.SpecialFolder.UserProfile));

    /// <summary>Reads unset options through <paramref name="getVariable"/>, with <paramref name="homeFolder"/> for <c>~</c>.</summary>
    public static HubSettings FromOptions(ModelDownloadOptions options, Func<string, string?> getVariable, string homeFolder)
    {
        ArgumentNullException.ThrowIfNull(options);
        string? Variable(string name) => getVariable(name) is { Length: > 0 } value ? value : null;

        var hfHome = ExpandHome(
            Variable("HF_HOME") ?? Path.Combine(Variable("XDG_CACHE_HOME") ?? Path.Combine(homeFolder, ".cache"), "huggingface"),
            homeFolder);
        var cacheRoot = options.CacheRoot
            ?? Variable("HF_HUB_CACHE")
            ?? Variable("HUGGINGFACE_HUB_CACHE")
            ?? Path.Combine(hfHome, "hub");
        var tokenFile = ExpandHome(Variable("HF_TOKEN_PATH") ?? Path.Combine(hfHome, "token"), homeFolder);
        var token = options.Token
            ?? Variable("HF_TOKEN")
            ?? Variable("HUGGING_FACE_HUB_TOKEN")
            ?? ReadTokenFile(tokenFile);
        var offline = options.Offline ?? (IsTrue(Variable("HF_HUB_OFFLINE")) || IsTrue(Variable("TRANSFORMERS_OFFLINE")));

        return new HubSettings
        {
            Endpoint = ParseEndpoint(options.Endpoint ?? Variable("HF_ENDPOINT") ?? ModelDownloadOptions.DefaultEndpoint),
            CacheRoot = Path.GetFullPath(ExpandHome(cacheRoot, homeFolder)),
            Token = string.IsNullOrWhiteSpace(token) ? null : token.Trim(),
            Offline = offline,
        };
    }

    /// <summary>Replaces a leading <c>~</c> (alone or followed by a directory separator) with the home folder.</summary>
    public static string ExpandHome(string path, string homeFolder)
    {
        if (path == "~")
        {
            return homeFolder;
        }

        if (path.Length >= 2 && path[0] == '~' && (path[1] == '/' || path[1] == Path.DirectorySeparatorChar))
        {
            return Path.Combine(homeFolder, path[2..]);
        }

        return path;
    }

    private static bool IsTrue(string? value) =>
        value is not null && TrueValues.Contains(value.Trim(), StringComparer.OrdinalIgnoreCase);

    private static Uri ParseEndpoint(string text)
    {
        var trimmed = text.Trim().TrimEnd('/');
        if (!Uri.TryCreate(trimmed, UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps))
        {
            throw new ModelSourceException(
                ModelSourceError.InvalidConfiguration,
                $"Invalid hub endpoint '{text}': expected an http or https URL such as {ModelDownloadOptions.DefaultEndpoint}. "
                + "Check the HF_ENDPOINT environment variable.");
        }

        return uri;
    }

    // huggingface_hub ignores a missing or unreadable token file, and so does this reader: the hub's 401 response then
    // explains that a token is needed.
    private static string? ReadTokenFile(string path)
    {
        try
        {
            return File.Exists(path) ? File.ReadAllText(path) : null;
        }
        catch (Exception exception) when (exception is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }
}
