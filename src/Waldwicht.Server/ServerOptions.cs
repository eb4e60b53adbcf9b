using System.Net;
using Microsoft.Extensions.Options;

namespace Waldwicht.Server;

/// <summary>Settings of the OpenAI-compatible server, bound once at startup and validated by <see cref="ServerOptionsValidator"/>.</summary>
public sealed class ServerOptions
{
    /// <summary>Default listen address: loopback only.</summary>
    public const string DefaultHost = "127.0.0.1";

    public const int DefaultPort = 8080;

    /// <summary>Address to listen on: an IP address or "localhost".</summary>
    public string Host { get; set; } = DefaultHost;

    /// <summary>TCP port; 0 picks a free port (the bound address is logged and exposed by <see cref="WaldwichtServer.Addresses"/>).</summary>
    public int Port { get; set; } = DefaultPort;

    /// <summary>Bearer token clients must send; null or empty allows every client.</summary>
    public string? ApiKey { get; set; }

    /// <summary>Model id reported by the API and accepted in the "model" field.</summary>
    public string ModelId { get; set; } = "default";

    /// <summary>Further names accepted in the "model" field (the folder name, the Hugging Face id).</summary>
    public IList<string> ModelAliases { get; set; } = [];

    /// <summary>Thinking mode when a request does not choose (chat_template_kwargs.enable_thinking or reasoning_effort).</summary>
    public bool ThinkingByDefault { get; set; }

    /// <summary>Most requests waiting for a free sequence; more get 429.</summary>
    public int MaxQueue { get; set; } = 64;

    /// <summary>Most tokens per sequence (prompt plus reply); 0 uses the model's max_position_embeddings.</summary>
    public int ContextLength { get; set; }

    /// <summary>Sequences generated at once.</summary>
    public int Parallel { get; set; } = 1;

    /// <summary>Most sequences in the prompt cache; 0 turns it off.</summary>
    public int PromptCacheEntries { get; set; } = 8;

    /// <summary>Most bytes of keys and values in the prompt cache.</summary>
    public long PromptCacheBytes { get; set; } = 2L << 30;

    /// <summary>Most bytes of a request body; larger bodies get 413.</summary>
    public long MaxRequestBodyBytes { get; set; } = 8L << 20;

    /// <summary>Interval of SSE keep-alive comments while a stream has nothing to send (for example during a long prefill).</summary>
    public TimeSpan KeepAliveInterval { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Time in-flight requests get to finish after shutdown starts; then they are cancelled.</summary>
    public TimeSpan ShutdownDrainTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>The listen address as an <see cref="IPAddress"/>; "localhost" is the IPv4 loopback.</summary>
    public IPAddress ParseHost() =>
        string.Equals(Host, "localhost", StringComparison.OrdinalIgnoreCase) ? IPAddress.Loopback : IPAddress.Parse(Host);
}

/// <summary>Checks <see cref="ServerOptions"/> once at startup; every failure names the option and its range.</summary>
public sealed class ServerOptionsValidator : IValidateOptions<ServerOptions>
{
    public ValidateOptionsResult Validate(string? name, ServerOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var failures = new List<string>();
        if (!string.Equals(options.Host, "localhost", StringComparison.OrdinalIgnoreCase) && !IPAddress.TryParse(options.Host, out _))
        {
            failures.Add($"--host must be an IP address or localhost; got '{options.Host}'.");
        }

        if (options.Port is < 0 or > 65535)
        {
            failures.Add($"--port must be between 0 and 65535; got {options.Port}.");
        }

        if (options.ApiKey is { Length: > 0 } key && (key.Length < 8 || key.Any(char.IsWhiteSpace)))
        {
            failures.Add("--api-key must be at least 8 characters without whitespace.");
        }

        if (string.IsNullOrWhiteSpace(options.ModelId))
        {
            failures.Add("The model id must not be empty.");
        }

        if (options.MaxQueue is < 0 or > 100_000)
        {
            failures.Add($"--max-queue must be between 0 and 100000; got {options.MaxQueue}.");
        }

        if (options.ContextLength < 0)
        {
            failures.Add($"--context must be 0 (model maximum) or a positive number of tokens; got {options.ContextLength}.");
        }

        if (options.Parallel is < 1 or > 256)
        {
            failures.Add($"--parallel must be between 1 and 256; got {options.Parallel}.");
        }

        if (options.PromptCacheEntries < 0 || options.PromptCacheBytes < 0)
        {
            failures.Add("Prompt cache limits must not be negative.");
        }

        if (options.MaxRequestBodyBytes < 1024)
        {
            failures.Add($"The request body limit must be at least 1024 bytes; got {options.MaxRequestBodyBytes}.");
        }

        if (options.KeepAliveInterval <= TimeSpan.Zero)
        {
            failures.Add("The keep-alive interval must be positive.");
        }

        if (options.ShutdownDrainTimeout < TimeSpan.Zero)
        {
            failures.Add("The shutdown drain timeout must not be negative.");
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}
