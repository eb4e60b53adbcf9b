using System.Buffers;
using System.Text;

namespace Waldwicht.Text.Tokenization;

/// <summary>
/// Turns generated token ids into text one id at a time. <see cref="Add"/> returns only text that is final: it never
/// returns part of a multi-byte character, and byte-fallback pieces are held until their character is complete.
/// The concatenation of everything <see cref="Add"/> and <see cref="Flush"/> return equals
/// <see cref="GemmaTokenizer.Decode"/> of the whole id sequence with the same options.
/// </summary>
/// <remarks>
/// In <see cref="DecodeMode.HuggingFace"/> mode a run of byte pieces is held until a non-byte piece (or
/// <see cref="Flush"/>) ends it, because the Hugging Face decoder turns a whole run into U+FFFD characters when any
/// part of it is invalid UTF-8; once a run is known to be invalid its U+FFFD characters are returned at once.
/// Special tokens come out as their text (such as &lt;|"|&gt; inside a tool call) unless the detokenizer was created
/// with skipSpecialTokens. An instance keeps the state of one sequence and is not thread-safe, so create one per
/// generation.
/// </remarks>
public sealed class StreamingDetokenizer
{
    private readonly GemmaTokenizer tokenizer;
    private readonly DecoderPlan plan;
    private readonly bool skipSpecialTokens;
    private readonly DecodeMode mode;
    private readonly List<byte> byteRun = [];
    private readonly Decoder utf8Decoder = new UTF8Encoding(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: false).GetDecoder();
    private readonly Dictionary<StripDecoder, int> leadingStripLeft = [];
    private bool byteRunInvalid;
    private bool anyTokenSeen;

    internal StreamingDetokenizer(GemmaTokenizer tokenizer, DecoderPlan plan, bool skipSpecialTokens, DecodeMode mode)
    {
        var problem = mode == DecodeMode.HuggingFace ? plan.HuggingFaceStreamingProblem : plan.MlxStreamingProblem;
        if (problem != null)
        {
            throw new NotSupportedException(
                $"Streaming decoding in {mode} mode is not supported for this tokenizer.json because {problem}. Decode the whole sequence with GemmaTokenizer.Decode instead.");
        }

        this.tokenizer = tokenizer;
        this.plan = plan;
        this.skipSpecialTokens = skipSpecialTokens;
        this.mode = mode;
        Reset();
    }

    /// <summary>How pieces become text.</summary>
    public DecodeMode Mode => mode;

    /// <summary>True when special tokens are left out of the text.</summary>
    public bool SkipSpecialTokens => skipSpecialTokens;

    /// <summary>Adds one token id and returns the text that became final (often empty while bytes are pending).</summary>
    /// <exception cref="ArgumentOutOfRangeException">The id has no piece in the vocabulary.</exception>
    public string Add(int tokenId)
    {
        var token = tokenizer.IdToToken(tokenId)
            ?? throw new ArgumentOutOfRangeException(
                nameof(tokenId), tokenId, $"Token id {tokenId} is not in the vocabulary (ids 0 to {tokenizer.VocabularySize - 1}).");
        if (skipSpecialTokens && tokenizer.IsSpecial(tokenId))
        {
            return string.Empty;
        }

        return mode == DecodeMode.HuggingFace ? AddHuggingFace(token) : AddMlx(token);
    }

    /// <summary>Ends the sequence: returns the text still pending (invalid bytes become U+FFFD) and resets the state.</summary>
    public string Flush()
    {
        string text;
        if (mode == DecodeMode.HuggingFace)
        {
            text = CloseByteRun();
        }
        else
        {
            text = FinishMlxText(DecodeBytes([], flush: true));
        }

        Reset();
        return text;
    }

    /// <summary>Drops any pending bytes and starts a new sequence.</summary>
    public void Reset()
    {
        byteRun.Clear();
        byteRunInvalid = false;
        anyTokenSeen = false;
        utf8Decoder.Reset();
        leadingStripLeft.Clear();
        var stripSteps = mode == DecodeMode.HuggingFace ? plan.WholeTextSteps.OfType<StripDecoder>() : plan.MlxStripSteps;
        foreach (var strip in stripSteps)
        {
            leadingStripLeft[strip] = strip.Start;
        }
    }

    private string AddHuggingFace(string token)
    {
        if (plan.Decoder == null)
        {
            // Without a decoder the Hugging Face library joins the token strings with spaces.
            var joined = anyTokenSeen ? " " + token : token;
            anyTokenSeen = true;
            return joined;
        }

        token = DecoderPlan.ApplyEach(plan.PerTokenSteps, token);
        if (plan.HasByteFallback && BytePiece.TryParse(token, out var value))
        {
            if (byteRunInvalid)
            {
                return FinishElement("\uFFFD");
            }

            byteRun.Add(value);
            if (!IsValidUtf8Prefix(byteRun))
            {
                // Everything in this run decodes to U+FFFD now, whatever bytes follow.
                byteRunInvalid = true;
                var replacement = new StringBuilder();
                for (var i = 0; i < byteRun.Count; i++)
                {
                    replacement.Append(FinishElement("\uFFFD"));
                }

                byteRun.Clear();
                return replacement.ToString();
            }

            return string.Empty;
        }

        return CloseByteRun() + FinishElement(token);
    }

    private string CloseByteRun()
    {
        // The bytes of a run already known to be invalid were returned as U+FFFD when they arrived.
        byteRunInvalid = false;
        if (byteRun.Count == 0)
        {
            return string.Empty;
        }

        // A run that ends inside a character is invalid as a whole.
        string text;
        if (!System.Text.Unicode.Utf8.IsValid(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(byteRun)))
        {
            var replacement = new StringBuilder();
            for (var i = 0; i < byteRun.Count; i++)
            {
                replacement.Append(FinishElement("\uFFFD"));
            }

            text = replacement.ToString();
        }
        else
        {
            text = FinishElement(ByteFallbackDecoder.DecodeRun(byteRun));
        }

        byteRun.Clear();
        return text;
    }

    /// <summary>Runs one element (a token string or the text of a byte run) through the steps after ByteFallback.</summary>
    private string FinishElement(string element)
    {
        element = DecoderPlan.ApplyEach(plan.PerElementSteps, element);
        foreach (var step in plan.WholeTextSteps)
        {
            element = step switch
            {
                ReplaceDecoder replace => replace.Apply(element),
                StripDecoder strip => StripLeading(strip, element),
                _ => element,
            };
        }

        return element;
    }

    private string AddMlx(string token)
    {
        byte[] bytes = (plan.HasByteFallback || tokenizer.UsesByteFallback) && BytePiece.TryParse(token, out var value)
            ? [value]
            : Encoding.UTF8.GetBytes(token);
        return FinishMlxText(DecodeBytes(bytes, flush: false));
    }

    /// <summary>Decodes bytes through the stateful UTF-8 decoder, which holds back an incomplete last character.</summary>
    private string DecodeBytes(ReadOnlySpan<byte> bytes, bool flush)
    {
        var chars = new char[utf8Decoder.GetCharCount(bytes, flush)];
        var written = utf8Decoder.GetChars(bytes, chars, flush);
        return new string(chars, 0, written);
    }

    private string FinishMlxText(string text)
    {
        foreach (var replace in plan.MlxReplaceSteps)
        {
            text = replace.Apply(text);
        }

        foreach (var strip in plan.MlxStripSteps)
        {
            text = StripLeading(strip, text);
        }

        return text;
    }

    private string StripLeading(StripDecoder strip, string text)
    {
        var left = leadingStripLeft[strip];
        var index = 0;
        while (left > 0 && index < text.Length)
        {
            if (Rune.DecodeFromUtf16(text.AsSpan(index), out var rune, out var consumed) != OperationStatus.Done || rune != strip.Content)
            {
                left = 0;
                break;
            }

            index += consumed;
            left--;
        }

        leadingStripLeft[strip] = left;
        return index == 0 ? text : text[index..];
    }

    /// <summary>Returns true when the bytes are valid UTF-8 or a valid UTF-8 text cut off inside its last character.</summary>
    private static bool IsValidUtf8Prefix(List<byte> bytes)
    {
        var span = System.Runtime.InteropServices.CollectionsMarshal.AsSpan(bytes);
        var status = System.Text.Unicode.Utf8.ToUtf16(span, new char[span.Length], out _, out _, replaceInvalidSequences: false, isFinalBlock: false);
        return status is OperationStatus.Done or OperationStatus.NeedMoreData;
    }
}
