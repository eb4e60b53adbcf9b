namespace Waldwicht.Model.Gemma4;

/// <summary>Attention type of a decoder layer, as named in config.json layer_types.</summary>
public enum AttentionKind
{
    /// <summary>"sliding_attention": causal, limited to the last sliding_window positions.</summary>
    Sliding,

    /// <summary>"full_attention": causal over the whole context.</summary>
    Full,
}

/// <summary>RoPE settings of one attention kind.</summary>
/// <param name="Type">"default" or "proportional".</param>
/// <param name="Theta">Base of the inverse frequencies.</param>
/// <param name="PartialRotaryFactor">Share of the head dimension that rotates (proportional RoPE).</param>
/// <param name="Factor">Divisor applied to every inverse frequency (1 when absent).</param>
public sealed record RopeParameters(string Type, double Theta, double PartialRotaryFactor, double Factor);
