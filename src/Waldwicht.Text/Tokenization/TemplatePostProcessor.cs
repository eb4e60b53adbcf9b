namespace Waldwicht.Text.Tokenization;

/// <summary>
/// The single-sequence template of a "TemplateProcessing" post-processor: fixed ids before and after the encoded
/// sequence (Gemma: &lt;bos&gt; before it). Pair templates are not used by this tokenizer.
/// </summary>
internal sealed class TemplatePostProcessor(IReadOnlyList<int> prefixIds, IReadOnlyList<int> suffixIds)
{
    public IReadOnlyList<int> PrefixIds { get; } = prefixIds;

    public IReadOnlyList<int> SuffixIds { get; } = suffixIds;

    public static readonly TemplatePostProcessor None = new([], []);
}
