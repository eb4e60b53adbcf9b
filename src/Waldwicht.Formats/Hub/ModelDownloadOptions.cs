namespace Waldwicht.Formats.Hub;

/// <summary>
/// Settings for <see cref="ModelLocator"/>. Every nullable setting falls back to the environment variable that
/// huggingface_hub reads, so a cache shared with Python tools is found without configuration. Derive variants with
/// <c>with</c>, for example <c>options with { Offline = true }</c>.
/// </summary>
public sealed record ModelDownloadOptions
{
    /// <summary>Default hub endpoint when neither <see cref="Endpoint"/> nor HF_ENDPOINT is set.</summary>
    public const string DefaultEndpoint = "https://huggingface.co";

    /// <summary>
    /// Files a model needs: configuration, tokenizer, chat template, safetensors weights and the model card.
    /// Other repository files (PyTorch or GGUF weights, images, subfolders) are not downloaded.
    /// </summary>
    public static IReadOnlyList<string> DefaultAllowPatterns { get; } =
    [
        "config.json",
        "generation_config.json",
        "tokenizer.json",
        "tokenizer_config.json",
        "chat_template.jinja",
        "special_tokens_map.json",
        "model.safetensors.index.json",
        "*.safetensors",
        "README.md",
    ];

    /// <summary>Hub base URL. Null reads HF_ENDPOINT, then uses <see cref="DefaultEndpoint"/>.</summary>
    public string? Endpoint { get; init; }

    /// <summary>
    /// Cache folder that contains the <c>models--org--name</c> folders. Null reads HF_HUB_CACHE, then HF_HOME/hub,
    /// then XDG_CACHE_HOME/huggingface/hub, then ~/.cache/huggingface/hub.
    /// </summary>
    public string? CacheRoot { get; init; }

    /// <summary>
    /// Access token sent as <c>Authorization: Bearer</c> to the hub. Null reads HF_TOKEN, then the token file
    /// (HF_TOKEN_PATH, else HF_HOME/token). An empty string sends no token.
    /// </summary>
    public string? Token { get; init; }

    /// <summary>Whether to use only the cache and never the network. Null reads HF_HUB_OFFLINE (1, true, yes or on).</summary>
    public bool? Offline { get; init; }

    /// <summary>
    /// Repository files to download: exact names or glob patterns in which <c>*</c> and <c>?</c> match within one
    /// path segment (so <c>*.safetensors</c> does not match files in subfolders).
    /// </summary>
    public IReadOnlyList<string> AllowPatterns { get; init; } = DefaultAllowPatterns;

    /// <summary>
    /// Whether to ask the hub for the current commit of a branch or tag even when the cache has a complete snapshot
    /// for it. When false, a complete cached snapshot is used without any network access.
    /// </summary>
    public bool CheckForUpdates { get; init; }

    /// <summary>Retries after a transient failure (HTTP 408, 429, 5xx, a reset connection, a timeout); 0 disables retries.</summary>
    public int MaxRetries { get; init; } = 5;

    /// <summary>Wait before the first retry. Each further retry waits twice as long, up to <see cref="MaxRetryDelay"/>.</summary>
    public TimeSpan RetryDelay { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>Longest wait between two retries, also the cap for a server's Retry-After header.</summary>
    public TimeSpan MaxRetryDelay { get; init; } = TimeSpan.FromSeconds(8);

    /// <summary>How long to wait for a connection, for response headers, or for the next block of a response body.</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Files downloaded at the same time.</summary>
    public int MaxParallelDownloads { get; init; } = 4;

    /// <summary>
    /// Receives a one-line message for every retry and for every fallback to cached files after a network failure.
    /// Called from thread-pool threads.
    /// </summary>
    public Action<string>? OnWarning { get; init; }
}
