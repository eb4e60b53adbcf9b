namespace Waldwicht.Text.Tokenization;

/// <summary>A normalizer step of tokenizer.json, applied to each text piece left between added tokens.</summary>
internal abstract class TextNormalizer
{
    public abstract string Normalize(string text);
}

/// <summary>"Replace" with a string pattern: replaces every occurrence (Gemma: space to U+2581).</summary>
internal sealed class ReplaceNormalizer(string pattern, string content) : TextNormalizer
{
    public override string Normalize(string text) => text.Replace(pattern, content, StringComparison.Ordinal);
}

/// <summary>"Prepend": puts a prefix in front of every non-empty piece (Gemma 1 and 2 prepend U+2581).</summary>
internal sealed class PrependNormalizer(string prefix) : TextNormalizer
{
    public override string Normalize(string text) => text.Length == 0 ? text : prefix + text;
}

/// <summary>"Sequence": applies its normalizers in order.</summary>
internal sealed class SequenceNormalizer(IReadOnlyList<TextNormalizer> normalizers) : TextNormalizer
{
    public override string Normalize(string text)
    {
        foreach (var normalizer in normalizers)
        {
            text = normalizer.Normalize(text);
        }

        return text;
    }
}
