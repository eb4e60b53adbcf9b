using System.Text;

namespace Waldwicht.Text.Tokenization;

/// <summary>
/// The decoder chain of tokenizer.json split into the stages that a streaming detokenizer can run token by token:
/// steps on each token string, the ByteFallback step, steps on each resulting element, and steps on the fused text.
/// </summary>
internal sealed class DecoderPlan
{
    private DecoderPlan(DecoderStep? decoder)
    {
        Decoder = decoder;
        var steps = Flatten(decoder);
        var stage = 0; // 0: before ByteFallback, 1: after ByteFallback, 2: after Fuse.
        var perToken = new List<DecoderStep>();
        var perElement = new List<DecoderStep>();
        var wholeText = new List<DecoderStep>();
        string? problem = null;

        foreach (var step in steps)
        {
            switch (step)
            {
                case ByteFallbackDecoder when stage == 0:
                    HasByteFallback = true;
                    stage = 1;
                    break;
                case ByteFallbackDecoder:
                    problem ??= "the ByteFallback step comes after a Fuse or a second ByteFallback step";
                    break;
                case FuseDecoder:
                    stage = 2;
                    break;
                case ReplaceDecoder or StripDecoder when stage == 0:
                    perToken.Add(step);
                    break;
                case ReplaceDecoder or StripDecoder when stage == 1:
                    perElement.Add(step);
                    break;
                case ReplaceDecoder replace:
                    if (!IsSingleRune(replace.Pattern))
                    {
                        problem ??= $"the Replace step after Fuse has the pattern '{replace.Pattern}', which may span two tokens";
                    }

                    wholeText.Add(step);
                    break;
                case StripDecoder strip:
                    if (strip.Stop > 0)
                    {
                        problem ??= "the Strip step after Fuse removes trailing characters, which needs the end of the text";
                    }

                    wholeText.Add(step);
                    break;
            }
        }

        PerTokenSteps = perToken;
        PerElementSteps = perElement;
        WholeTextSteps = wholeText;
        HuggingFaceStreamingProblem = problem;

        // The mlx-lm mode applies the Replace steps to the assembled text and then the Strip steps to the whole text.
        MlxReplaceSteps = steps.OfType<ReplaceDecoder>().ToList();
        MlxStripSteps = steps.OfType<StripDecoder>().ToList();
        var multiRune = MlxReplaceSteps.FirstOrDefault(r => !IsSingleRune(r.Pattern));
        MlxStreamingProblem = multiRune != null
            ? $"the Replace step has the pattern '{multiRune.Pattern}', which may span two tokens"
            : MlxStripSteps.Any(s => s.Stop > 0) ? "a Strip step removes trailing characters, which needs the end of the text" : null;
    }

    /// <summary>The decoder as read from tokenizer.json; null means tokens are joined with spaces.</summary>
    public DecoderStep? Decoder { get; }

    public bool HasByteFallback { get; }

    public IReadOnlyList<DecoderStep> PerTokenSteps { get; }

    public IReadOnlyList<DecoderStep> PerElementSteps { get; }

    public IReadOnlyList<DecoderStep> WholeTextSteps { get; }

    public IReadOnlyList<ReplaceDecoder> MlxReplaceSteps { get; }

    public IReadOnlyList<StripDecoder> MlxStripSteps { get; }

    /// <summary>Why token-by-token decoding cannot reproduce the Hugging Face mode, or null when it can.</summary>
    public string? HuggingFaceStreamingProblem { get; }

    /// <summary>Why token-by-token decoding cannot reproduce the mlx-lm mode, or null when it can.</summary>
    public string? MlxStreamingProblem { get; }

    public static DecoderPlan Create(DecoderStep? decoder) => new(decoder);

    public static string ApplyEach(IReadOnlyList<DecoderStep> steps, string text)
    {
        foreach (var step in steps)
        {
            text = step switch
            {
                ReplaceDecoder replace => replace.Apply(text),
                StripDecoder strip => strip.Apply(text),
                _ => text,
            };
        }

        return text;
    }

    private static List<DecoderStep> Flatten(DecoderStep? decoder)
    {
        var steps = new List<DecoderStep>();
        if (decoder is SequenceDecoder sequence)
        {
            foreach (var step in sequence.Steps)
            {
                steps.AddRange(Flatten(step));
            }
        }
        else if (decoder != null)
        {
            steps.Add(decoder);
        }

        return steps;
    }

    private static bool IsSingleRune(string text) =>
        Rune.DecodeFromUtf16(text, out _, out var consumed) == System.Buffers.OperationStatus.Done && consumed == text.Length;
}
