namespace Waldwicht.Model.Gemma4;

/// <summary>
/// Receives intermediate activations of a forward step, for debugging and for tests that compare
/// them with reference dumps. Spans are only valid during the call. Row i is position start + i.
/// </summary>
public interface IForwardObserver
{
    /// <summary>Scaled token embeddings [rows, H].</summary>
    void OnEmbeddings(int start, int rows, ReadOnlySpan<float> values);

    /// <summary>Combined per-layer inputs [rows, N, P].</summary>
    void OnPerLayerInputs(int start, int rows, ReadOnlySpan<float> values);

    /// <summary>Hidden state after layer <paramref name="layer"/>, layer scalar included [rows, H].</summary>
    void OnLayerOutput(int layer, int start, int rows, ReadOnlySpan<float> values);

    /// <summary>Hidden state after the final norm [rows, H] (only for the rows whose logits are computed).</summary>
    void OnFinalNorm(int start, int rows, ReadOnlySpan<float> values);
}
