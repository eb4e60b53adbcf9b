namespace Waldwicht.Text.Tokenization;

/// <summary>How token pieces become text when decoding.</summary>
public enum DecodeMode
{
    /// <summary>
    /// The Hugging Face tokenizers behaviour (the default): the decoder steps of tokenizer.json run on the token
    /// strings, so Gemma's Replace step turns U+2581 into a space before the ByteFallback step assembles byte
    /// pieces. The three byte pieces of U+2581 (E2 96 81) therefore decode to U+2581 itself, and a run of byte
    /// pieces that is not valid UTF-8 decodes to one U+FFFD per byte.
    /// </summary>
    HuggingFace,

    /// <summary>
    /// The mlx-lm streaming detokenizer behaviour. All pieces are first joined as bytes (a byte piece is its byte,
    /// any other piece its UTF-8). The bytes are decoded with U+FFFD for each invalid sequence, and then the
    /// decoder's Replace and Strip steps are applied to the text. The byte pieces of U+2581 therefore decode to a
    /// space, and byte runs may combine across other pieces.
    /// </summary>
    MlxLm,
}
