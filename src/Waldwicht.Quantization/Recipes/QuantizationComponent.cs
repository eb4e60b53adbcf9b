namespace Waldwicht.Quantization.Recipes;

/// <summary>
/// Groups of Gemma 4 weight matrices that a recipe quantizes with their own bits and group size.
/// Tensors that belong to no group follow the recipe's default.
/// </summary>
public enum QuantizationComponent
{
    /// <summary>Attention projections: q_proj, k_proj, v_proj, o_proj.</summary>
    Attention,

    /// <summary>MLP projections: gate_proj, up_proj, down_proj.</summary>
    Mlp,

    /// <summary>The per-layer embedding table embed_tokens_per_layer.</summary>
    PleEmbeddings,

    /// <summary>Per-layer input gates and projections: per_layer_input_gate, per_layer_projection.</summary>
    PleGateProj,

    /// <summary>The token embedding, which is also the tied output head: embed_tokens, lm_head.</summary>
    MainEmbedLmHead,
}

/// <summary>Names, aliases and tensor-name patterns of <see cref="QuantizationComponent"/>.</summary>
/// <remarks>
/// Membership follows the Waldwicht exporter: a tensor belongs to a component when one of the
/// component's patterns is a substring of its name, and the main embedding additionally excludes
/// names containing "per_layer". Every pattern is also a module leaf name, which is what the
/// leaf-keyed quantization block of config.json lists.
/// </remarks>
public static class QuantizationComponents
{
    /// <summary>Every component in the order recipes and reports list them.</summary>
    public static IReadOnlyList<QuantizationComponent> All { get; } =
    [
        QuantizationComponent.Attention,
        QuantizationComponent.Mlp,
        QuantizationComponent.PleEmbeddings,
        QuantizationComponent.PleGateProj,
        QuantizationComponent.MainEmbedLmHead,
    ];

    /// <summary>The name used in recipes and config files, such as "ple_embeddings".</summary>
    public static string Name(this QuantizationComponent component) => component switch
    {
        QuantizationComponent.Attention => "attention",
        QuantizationComponent.Mlp => "mlp",
        QuantizationComponent.PleEmbeddings => "ple_embeddings",
        QuantizationComponent.PleGateProj => "ple_gate_proj",
        QuantizationComponent.MainEmbedLmHead => "main_embed_lmhead",
        _ => throw new ArgumentOutOfRangeException(nameof(component), component, "Unknown quantization component."),
    };

    /// <summary>The short recipe alias, such as "ple".</summary>
    public static string ShortName(this QuantizationComponent component) => component switch
    {
        QuantizationComponent.Attention => "attn",
        QuantizationComponent.Mlp => "mlp",
        QuantizationComponent.PleEmbeddings => "ple",
        QuantizationComponent.PleGateProj => "gate",
        QuantizationComponent.MainEmbedLmHead => "embed",
        _ => throw new ArgumentOutOfRangeException(nameof(component), component, "Unknown quantization component."),
    };

    /// <summary>Substrings of tensor names that place a tensor in the component.</summary>
    public static IReadOnlyList<string> Patterns(this QuantizationComponent component) => component switch
    {
        QuantizationComponent.Attention => ["q_proj", "k_proj", "v_proj", "o_proj"],
        QuantizationComponent.Mlp => ["gate_proj", "up_proj", "down_proj"],
        QuantizationComponent.PleEmbeddings => ["embed_tokens_per_layer"],
        QuantizationComponent.PleGateProj => ["per_layer_input_gate", "per_layer_projection"],
        QuantizationComponent.MainEmbedLmHead => ["embed_tokens", "lm_head"],
        _ => throw new ArgumentOutOfRangeException(nameof(component), component, "Unknown quantization component."),
    };

    /// <summary>True when the tensor name belongs to the component under the exporter's substring rule.</summary>
    public static bool Matches(this QuantizationComponent component, string tensorName)
    {
        ArgumentNullException.ThrowIfNull(tensorName);
        if (component == QuantizationComponent.MainEmbedLmHead && tensorName.Contains("per_layer", StringComparison.Ordinal))
        {
            return false;
        }

        foreach (var pattern in component.Patterns())
        {
            if (tensorName.Contains(pattern, StringComparison.Ordinal))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>
    /// Finds the component of a recipe key: a component name ("ple_embeddings") or alias ("ple"),
    /// case-insensitive.
    /// </summary>
    public static bool TryParse(string text, out QuantizationComponent component)
    {
        ArgumentNullException.ThrowIfNull(text);
        foreach (var candidate in All)
        {
            if (string.Equals(text, candidate.Name(), StringComparison.OrdinalIgnoreCase)
                || string.Equals(text, candidate.ShortName(), StringComparison.OrdinalIgnoreCase))
            {
                component = candidate;
                return true;
            }
        }

        component = default;
        return false;
    }
}
