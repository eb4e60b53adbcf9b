namespace Waldwicht.Model.Gemma4;

/// <summary>
/// Maps the module names of the Gemma 4 text decoder to checkpoint tensor names. Three naming
/// styles occur: Hugging Face multimodal ("model.language_model."), mlx-lm after conversion
/// ("language_model.model.") and text-only checkpoints ("model.").
/// </summary>
public sealed class Gemma4TensorNames
{
    /// <summary>Prefixes of the text decoder, in detection order.</summary>
    public static readonly IReadOnlyList<string> KnownPrefixes = ["model.language_model.", "language_model.model.", "model."];

    /// <summary>Prefixes of tensors that belong to the vision and audio towers, which are ignored.</summary>
    public static readonly IReadOnlyList<string> MultimodalPrefixes =
    [
        "model.vision_tower.", "model.audio_tower.", "model.embed_vision.", "model.embed_audio.", "model.multi_modal_projector.",
        "vision_tower.", "audio_tower.", "embed_vision.", "embed_audio.", "multi_modal_projector.", "model.vision_embedder.",
    ];

    public Gemma4TensorNames(string prefix, string modelType)
    {
        Prefix = prefix;
        MlxPrefix = modelType == "gemma4" ? "language_model.model." : "model.";
    }

    /// <summary>Prefix of the text decoder's tensors in this checkpoint.</summary>
    public string Prefix { get; }

    /// <summary>Prefix of module paths in mlx-lm's model tree, which full-path quantization keys use.</summary>
    public string MlxPrefix { get; }

    /// <summary>Detects the naming style from the presence of the embedding table.</summary>
    public static Gemma4TensorNames Detect(Func<string, bool> contains, string modelType)
    {
        foreach (var prefix in KnownPrefixes)
        {
            if (contains(prefix + "embed_tokens.weight"))
            {
                return new Gemma4TensorNames(prefix, modelType);
            }
        }

        throw new ModelFormatException(
            "No embedding table found: expected one of " + string.Join(", ", KnownPrefixes.Select(p => p + "embed_tokens.weight"))
            + ". Is this a Gemma 4 checkpoint?");
    }

    /// <summary>True for tensors of the vision or audio towers.</summary>
    public static bool IsMultimodal(string tensorName) => MultimodalPrefixes.Any(tensorName.StartsWith);

    /// <summary>Module path relative to the decoder of layer <paramref name="layer"/>, such as "layers.3.mlp.up_proj".</summary>
    public static string LayerModule(int layer, string module) => $"layers.{layer}.{module}";

    /// <summary>Tensor name of a module's tensor, such as "weight" or "scales".</summary>
    public string Tensor(string module, string suffix) => $"{Prefix}{module}.{suffix}";

    /// <summary>Every full module path under which config.json may key quantization overrides.</summary>
    public IEnumerable<string> QuantizationKeys(string module)
    {
        yield return MlxPrefix + module;
        if (Prefix != MlxPrefix)
        {
            yield return Prefix + module;
        }

        if (Prefix != "model.language_model." && MlxPrefix != "model.language_model.")
        {
            yield return "model.language_model." + module;
        }
    }
}
