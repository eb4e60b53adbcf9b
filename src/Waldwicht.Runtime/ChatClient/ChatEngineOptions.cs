using System.Text.Json;
using Waldwicht.Runtime.Generation;

namespace Waldwicht.Runtime.ChatClient;

/// <summary>Settings of a <see cref="ChatEngine"/>, fixed when it starts.</summary>
public sealed record ChatEngineOptions
{
    /// <summary>Sequences generated at once, each on its own session; the model weights are shared. At least 1.</summary>
    public int Parallel { get; init; } = 1;

    /// <summary>Most requests that may wait for a free sequence; more are rejected with <see cref="ChatEngineBusyException"/>.</summary>
    public int MaxQueue { get; init; } = 64;

    /// <summary>Most tokens per sequence (prompt plus reply); 0 uses the model's max_position_embeddings.</summary>
    public int ContextLength { get; init; }

    /// <summary>Most sequences kept in the prompt cache; 0 turns it off.</summary>
    public int PromptCacheEntries { get; init; } = 8;

    /// <summary>Most bytes of keys and values kept in the prompt cache.</summary>
    public long PromptCacheBytes { get; init; } = 2L << 30;

    /// <summary>Most prompt tokens processed in one forward step.</summary>
    public int PrefillChunk { get; init; } = 256;

    /// <summary>
    /// Optional extra logits processor per reply, applied before the engine's own constraints (which win on conflict). Tests use it to
    /// script output; it receives the request and the choice index and may return null.
    /// </summary>
    public Func<ChatGenerationRequest, int, ILogitsProcessor?>? ExtraLogitsProcessor { get; init; }

    /// <summary>Checks every field; the message names the field and its range.</summary>
    /// <exception cref="ArgumentOutOfRangeException">A field is out of range.</exception>
    public void Validate()
    {
        if (Parallel is < 1 or > 256)
        {
            throw new ArgumentOutOfRangeException(nameof(Parallel), Parallel, $"Parallel must be between 1 and 256; got {Parallel}.");
        }

        if (MaxQueue < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(MaxQueue), MaxQueue, $"MaxQueue must not be negative; got {MaxQueue}.");
        }

        if (ContextLength < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(ContextLength), ContextLength, $"ContextLength must be 0 (model maximum) or positive; got {ContextLength}.");
        }

        if (PromptCacheEntries < 0 || PromptCacheBytes < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(PromptCacheEntries), "Prompt cache limits must not be negative.");
        }

        if (PrefillChunk is < 1 or > 8192)
        {
            throw new ArgumentOutOfRangeException(nameof(PrefillChunk), PrefillChunk, $"PrefillChunk must be between 1 and 8192; got {PrefillChunk}.");
        }
    }

    /// <summary>Reads max_position_embeddings from a model folder's config.json (text_config first); null when absent.</summary>
    public static int? ReadMaxPositions(string modelDirectory)
    {
        string path = Path.Combine(modelDirectory, "config.json");
        if (!File.Exists(path))
        {
            return null;
        }

        using var document = JsonDocument.Parse(File.ReadAllBytes(path));
        var root = document.RootElement;
        if (root.TryGetProperty("text_config", out var text) && ReadPositive(text) is int nested)
        {
            return nested;
        }

        return ReadPositive(root);

        static int? ReadPositive(JsonElement element) =>
            element.ValueKind == JsonValueKind.Object
            && element.TryGetProperty("max_position_embeddings", out var value)
            && value.TryGetInt32(out int count) && count > 0
                ? count
                : null;
    }
}
