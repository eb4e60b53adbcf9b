namespace Waldwicht.Text.Tokenization;

/// <summary>
/// A token of the "added_tokens" list of a tokenizer.json, matched in the text before the model runs.
/// </summary>
/// <param name="Id">Token id.</param>
/// <param name="Content">Literal text of the token.</param>
/// <param name="Special">Special tokens (control tokens such as &lt;bos&gt;) are left out when decoding with skipSpecialTokens.</param>
/// <param name="Normalized">True when the token is matched in the normalized text, false when in the raw text.</param>
/// <param name="LeftStrip">True when the match absorbs the whitespace on its left.</param>
/// <param name="RightStrip">True when the match absorbs the whitespace on its right.</param>
/// <param name="SingleWord">True when the token only matches where it is not next to a word character.</param>
public sealed record AddedToken(
    int Id,
    string Content,
    bool Special,
    bool Normalized,
    bool LeftStrip,
    bool RightStrip,
    bool SingleWord);
