using System.Text;

namespace Waldwicht.Text.Tokenization;

/// <summary>
/// A decoder step of tokenizer.json. Like the Hugging Face library, each step maps the list of token strings to a
/// new list, and the final list is concatenated.
/// </summary>
internal abstract class DecoderStep
{
    public abstract List<string> DecodeChain(List<string> tokens);
}

/// <summary>"Replace" with a string pattern, applied to each token (Gemma: U+2581 to space).</summary>
internal sealed class ReplaceDecoder(string pattern, string content) : DecoderStep
{
    public string Pattern { get; } = pattern;

    public string Content { get; } = content;

    public string Apply(string token) => token.Replace(Pattern, Content, StringComparison.Ordinal);

    public override List<string> DecodeChain(List<string> tokens) => tokens.ConvertAll(Apply);
}

/// <summary>
/// "ByteFallback": joins each run of consecutive <c>&lt;0xNN&gt;</c> pieces into its bytes. A run that is valid
/// UTF-8 becomes its text; an invalid run becomes one U+FFFD per byte (tokenizers 0.22 behaviour).
/// </summary>
internal sealed class ByteFallbackDecoder : DecoderStep
{
    public override List<string> DecodeChain(List<string> tokens)
    {
        var result = new List<string>(tokens.Count);
        var run = new List<byte>();
        foreach (var token in tokens)
        {
            if (BytePiece.TryParse(token, out var value))
            {
                run.Add(value);
                continue;
            }

            if (run.Count > 0)
            {
                result.Add(DecodeRun(run));
                run.Clear();
            }

            result.Add(token);
        }

        if (run.Count > 0)
        {
            result.Add(DecodeRun(run));
        }

        return result;
    }

    /// <summary>Returns the text of a complete byte run, or one U+FFFD per byte when it is not valid UTF-8.</summary>
    public static string DecodeRun(List<byte> run)
    {
        var bytes = System.Runtime.InteropServices.CollectionsMarshal.AsSpan(run);
        return System.Text.Unicode.Utf8.IsValid(bytes) ? Encoding.UTF8.GetString(bytes) : new string('\uFFFD', bytes.Length);
    }
}

/// <summary>"Fuse": concatenates all tokens into one.</summary>
internal sealed class FuseDecoder : DecoderStep
{
    public override List<string> DecodeChain(List<string> tokens) => [string.Concat(tokens)];
}

/// <summary>
/// "Strip": removes up to <see cref="Start"/> leading and <see cref="Stop"/> trailing occurrences of one character
/// from each token (Gemma 1 and 2 strip one leading space after Fuse).
/// </summary>
internal sealed class StripDecoder(Rune content, int start, int stop) : DecoderStep
{
    public Rune Content { get; } = content;

    public int Start { get; } = start;

    public int Stop { get; } = stop;

    public string Apply(string token)
    {
        var runes = token.EnumerateRunes().ToList();
        var startCut = 0;
        while (startCut < Start && startCut < runes.Count && runes[startCut] == Content)
        {
            startCut++;
        }

        var stopCut = runes.Count;
        for (var i = 0; i < Stop && stopCut > startCut && runes[stopCut - 1] == Content; i++)
        {
            stopCut--;
        }

        if (startCut == 0 && stopCut == runes.Count)
        {
            return token;
        }

        var builder = new StringBuilder(token.Length);
        for (var i = startCut; i < stopCut; i++)
        {
            builder.Append(runes[i].ToString());
        }

        return builder.ToString();
    }

    public override List<string> DecodeChain(List<string> tokens) => tokens.ConvertAll(Apply);
}

/// <summary>"Sequence": applies its decoder steps in order.</summary>
internal sealed class SequenceDecoder(IReadOnlyList<DecoderStep> steps) : DecoderStep
{
    public IReadOnlyList<DecoderStep> Steps { get; } = steps;

    public override List<string> DecodeChain(List<string> tokens)
    {
        foreach (var step in Steps)
        {
            tokens = step.DecodeChain(tokens);
        }

        return tokens;
    }
}
