namespace Waldwicht.Text.Tokenization;

/// <summary>Names of the byte-fallback pieces <c>&lt;0x00&gt;</c> to <c>&lt;0xFF&gt;</c>.</summary>
internal static class BytePiece
{
    private static readonly string[] Names = Enumerable.Range(0, 256).Select(b => $"<0x{b:X2}>").ToArray();

    /// <summary>Returns the piece name of a byte, with upper-case hex digits as the Hugging Face library writes it.</summary>
    public static string Name(byte value) => Names[value];

    /// <summary>
    /// Recognizes a byte piece the way the Hugging Face ByteFallback decoder does: exactly six characters,
    /// <c>&lt;0x</c>, two characters parsed as a hexadecimal byte (either case; Rust's parser also takes a
    /// leading '+'), and <c>&gt;</c>.
    /// </summary>
    public static bool TryParse(ReadOnlySpan<char> token, out byte value)
    {
        value = 0;
        if (token.Length != 6 || token[0] != '<' || token[1] != '0' || token[2] != 'x' || token[5] != '>')
        {
            return false;
        }

        var high = HexValue(token[3]);
        var low = HexValue(token[4]);
        if (low < 0)
        {
            return false;
        }

        if (high < 0)
        {
            if (token[3] != '+')
            {
                return false;
            }

            high = 0;
        }

        value = (byte)((high << 4) | low);
        return true;
    }

    private static int HexValue(char c) => c switch
    {
        >= '0' and <= '9' => c - '0',
        >= 'a' and <= 'f' => c - 'a' + 10,
        >= 'A' and <= 'F' => c - 'A' + 10,
        _ => -1,
    };
}
