namespace Waldwicht.Text.Chat;

/// <summary>
/// Content of a chat message: either a plain string or a list of parts (text, image, audio, video).
/// </summary>
/// <remarks>
/// The Gemma 4 templates render the two forms differently (a string is trimmed as a whole, text parts are
/// trimmed one by one, and media parts become placeholder tokens), so the form is kept as given.
/// </remarks>
public sealed class ChatContent
{
    private ChatContent(string? text, IReadOnlyList<ChatContentPart>? parts)
    {
        Text = text;
        Parts = parts;
    }

    /// <summary>The content when it was given as a string; null when it was given as parts.</summary>
    public string? Text { get; }

    /// <summary>The content when it was given as a list of parts; null when it was given as a string.</summary>
    public IReadOnlyList<ChatContentPart>? Parts { get; }

    /// <summary>True when the content was given as a string.</summary>
    public bool IsText => Parts is null;

    /// <summary>True for an empty string or an empty part list (the templates treat both as "no content").</summary>
    public bool IsEmpty => Parts is null ? Text!.Length == 0 : Parts.Count == 0;

    /// <summary>Creates content given as a string.</summary>
    public static ChatContent FromText(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        return new ChatContent(text, null);
    }

    /// <summary>Creates content given as a list of parts.</summary>
    public static ChatContent FromParts(IEnumerable<ChatContentPart> parts)
    {
        ArgumentNullException.ThrowIfNull(parts);
        var list = parts.ToArray();
        for (var i = 0; i < list.Length; i++)
        {
            if (list[i] is null)
            {
                throw new ArgumentException($"Content part {i} is null; remove it or pass a text part.", nameof(parts));
            }
        }

        return new ChatContent(null, list);
    }

    public static implicit operator ChatContent(string text) => FromText(text);

    /// <summary>The text parts joined without separator, or the string content.</summary>
    public string JoinText() =>
        Parts is null ? Text! : string.Concat(Parts.Where(p => p.IsText).Select(p => p.Text));

    public override string ToString() => JoinText();
}

/// <summary>
/// One part of a message's content. <see cref="Type"/> is the part type as the request names it
/// ("text", "image", "image_url", "audio", "input_audio", "video", or any other name); the templates render
/// text parts and placeholders for the media types they know and skip the rest.
/// </summary>
public sealed class ChatContentPart
{
    /// <param name="type">Part type, such as "text" or "image".</param>
    /// <param name="text">Text of a "text" part; required for that type and ignored by the templates otherwise.</param>
    public ChatContentPart(string type, string? text = null)
    {
        ArgumentNullException.ThrowIfNull(type);
        if (type == TextType && text is null)
        {
            throw new ArgumentException("A content part of type \"text\" needs its text; pass an empty string for empty text.", nameof(text));
        }

        Type = type;
        Text = text;
    }

    public const string TextType = "text";
    public const string ImageType = "image";
    public const string ImageUrlType = "image_url";
    public const string AudioType = "audio";
    public const string InputAudioType = "input_audio";
    public const string VideoType = "video";

    /// <summary>Part type as given.</summary>
    public string Type { get; }

    /// <summary>Text of a text part.</summary>
    public string? Text { get; }

    /// <summary>True for a "text" part.</summary>
    public bool IsText => Type == TextType;

    /// <summary>Creates a text part.</summary>
    public static ChatContentPart FromText(string text) => new(TextType, text);

    /// <summary>Creates an image part (rendered as the image placeholder token).</summary>
    public static ChatContentPart Image() => new(ImageType);

    /// <summary>Creates an audio part (rendered as the audio placeholder token).</summary>
    public static ChatContentPart Audio() => new(AudioType);

    /// <summary>Creates a video part (rendered as the video placeholder token).</summary>
    public static ChatContentPart Video() => new(VideoType);
}
