using System.Globalization;
using System.Text;

namespace Waldwicht.Text.Chat;

/// <summary>
/// Parses the tool calls that Gemma 4 writes, <c>call:NAME{key:value,…}</c>, into a name and JSON arguments.
/// </summary>
/// <remarks>
/// <para>The argument syntax is the one the chat template uses for calls in the prompt: bare keys, strings between
/// <c>&lt;|"|&gt;</c> delimiters (which may contain braces, colons, commas, quotes and newlines), numbers, booleans,
/// null, nested objects and arrays. The parser also accepts what models write by mistake when the meaning is
/// unambiguous: JSON strings and keys in double quotes, delimited keys, <c>None</c>/<c>True</c>/<c>False</c>,
/// trailing commas, a missing <c>call:</c> prefix, and the parenthesised form <c>call:NAME(key: value, …)</c>
/// (also with <c>=</c>). Unquoted string values are rejected.</para>
/// <para>Function names consist of letters, digits, <c>_</c>, <c>:</c>, <c>.</c> and <c>-</c>, so namespaced names such
/// as <c>ns:tool.get-x</c> parse. Parsing never throws on model output: text that does not parse, including a
/// truncated call, becomes a failed result that carries the raw text.</para>
/// </remarks>
public static class Gemma4ToolCallParser
{
    /// <summary>Deepest nesting of objects and arrays that is parsed; deeper text is reported as a failure.</summary>
    public const int MaxDepth = 128;

    /// <summary>
    /// Parses every call in a text: the text of one tool-call span, or several calls one after another, each
    /// optionally wrapped in <c>&lt;|tool_call&gt;…&lt;tool_call|&gt;</c>. Whitespace between calls is ignored.
    /// </summary>
    /// <returns>One result per call in order, or a single failure when the text contains no call at all.</returns>
    public static IReadOnlyList<ToolCallParseResult> Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var results = new List<ToolCallParseResult>();
        var position = SkipWhiteSpace(text, 0);
        if (position == text.Length)
        {
            results.Add(ToolCallParseResult.Failure(text, "the tool call is empty"));
            return results;
        }

        while (position < text.Length)
        {
            var wrapped = text.AsSpan(position).StartsWith(Gemma4ControlTokens.ToolCallStart, StringComparison.Ordinal);
            if (wrapped)
            {
                position = SkipWhiteSpace(text, position + Gemma4ControlTokens.ToolCallStart.Length);
            }

            var start = position;
            var reader = new CallReader(text, start);
            var parsed = reader.TryReadCall(out var name, out var arguments, out var error);
            position = reader.Position;
            if (parsed && wrapped)
            {
                var end = SkipWhiteSpace(text, position);
                if (text.AsSpan(end).StartsWith(Gemma4ControlTokens.ToolCallEnd, StringComparison.Ordinal))
                {
                    results.Add(ToolCallParseResult.Success(name!, arguments!, text[start..position]));
                    position = SkipWhiteSpace(text, end + Gemma4ControlTokens.ToolCallEnd.Length);
                    continue;
                }

                parsed = false;
                error = $"expected {Gemma4ControlTokens.ToolCallEnd} after the call at offset {end - start}";
            }

            if (parsed)
            {
                results.Add(ToolCallParseResult.Success(name!, arguments!, text[start..position]));
                position = SkipWhiteSpace(text, position);
                continue;
            }

            // Resume after the end marker of a wrapped call; an unwrapped failure takes the rest of the text.
            var close = wrapped ? text.IndexOf(Gemma4ControlTokens.ToolCallEnd, start, StringComparison.Ordinal) : -1;
            var rawEnd = close >= 0 ? close : text.Length;
            results.Add(ToolCallParseResult.Failure(text[start..rawEnd], error!));
            position = close >= 0 ? SkipWhiteSpace(text, close + Gemma4ControlTokens.ToolCallEnd.Length) : text.Length;
        }

        return results;
    }

    private static int SkipWhiteSpace(string text, int position)
    {
        while (position < text.Length && char.IsWhiteSpace(text[position]))
        {
            position++;
        }

        return position;
    }

    /// <summary>Recursive-descent reader of one call that writes the arguments as compact JSON.</summary>
    private sealed class CallReader
    {
        private const string Quote = Gemma4ControlTokens.StringDelimiter;

        private readonly string text;
        private readonly int start;
        private int position;
        private int depth;

        /// <param name="text">The whole text; offsets in error messages count from <paramref name="start"/>.</param>
        /// <param name="start">Where the call starts.</param>
        public CallReader(string text, int start)
        {
            this.text = text;
            this.start = start;
            position = start;
        }

        public int Position => position;

        public bool TryReadCall(out string? name, out string? argumentsJson, out string? error)
        {
            name = null;
            argumentsJson = null;
            try
            {
                name = ReadName();
                SkipWhiteSpace();
                argumentsJson = Peek() switch
                {
                    '{' => ReadObject('}', allowEquals: false),
                    '(' => ReadObject(')', allowEquals: true),
                    _ when AtEnd => throw Fail($"the text ends after the function name '{name}'"),
                    _ => throw Fail($"expected '{{' or '(' after the function name '{name}' but found {Describe()}"),
                };
                error = null;
                return true;
            }
            catch (FormatException e)
            {
                error = e.Message;
                return false;
            }
        }

        private bool AtEnd => position >= text.Length;

        private char Peek() => AtEnd ? '\0' : text[position];

        private bool StartsWith(string marker) => text.AsSpan(position).StartsWith(marker, StringComparison.Ordinal);

        private string ReadName()
        {
            SkipWhiteSpace();
            if (StartsWith("call"))
            {
                var afterCall = SkipWhiteSpaceFrom(position + 4);
                if (afterCall < text.Length && text[afterCall] == ':')
                {
                    position = SkipWhiteSpaceFrom(afterCall + 1);
                }
            }

            var nameStart = position;
            while (!AtEnd)
            {
                var status = Rune.DecodeFromUtf16(text.AsSpan(position), out var rune, out var length);
                if (status != System.Buffers.OperationStatus.Done
                    || !(Rune.IsLetterOrDigit(rune) || rune.Value is '_' or ':' or '.' or '-'))
                {
                    break;
                }

                position += length;
            }

            if (position == nameStart)
            {
                throw Fail(AtEnd ? "the text ends before the function name" : $"expected a function name but found {Describe()}");
            }

            return text[nameStart..position];
        }

        /// <summary>Reads <c>{key:value,…}</c>, or the parenthesised argument list when <paramref name="close"/> is ')'.</summary>
        private string ReadObject(char close, bool allowEquals)
        {
            var open = position;
            position++;
            Enter();
            var keys = new List<string>();
            var values = new List<string>();
            var indexOfKey = new Dictionary<string, int>(StringComparer.Ordinal);
            SkipWhiteSpace();
            while (Peek() != close)
            {
                if (AtEnd)
                {
                    throw Fail($"the text ends inside the object that starts at offset {open - start} (truncated call?)");
                }

                var key = ReadKey(allowEquals);
                SkipWhiteSpace();
                if (Peek() == ':' || (allowEquals && Peek() == '='))
                {
                    position++;
                }
                else
                {
                    throw Fail(AtEnd ? $"the text ends after the key '{key}'" : $"expected ':' after the key '{key}' but found {Describe()}");
                }

                var value = ReadValue();

                // Duplicate keys behave as in Python's json.loads: the last value wins, the first position stays.
                if (indexOfKey.TryGetValue(key, out var existing))
                {
                    values[existing] = value;
                }
                else
                {
                    indexOfKey.Add(key, keys.Count);
                    keys.Add(key);
                    values.Add(value);
                }

                SkipWhiteSpace();
                if (Peek() == ',')
                {
                    position++;
                    SkipWhiteSpace();
                }
                else if (Peek() != close)
                {
                    throw Fail(AtEnd
                        ? $"the text ends after the value of '{key}' (truncated call?)"
                        : $"expected ',' or '{close}' after the value of '{key}' but found {Describe()}");
                }
            }

            position++;
            depth--;
            var json = new StringBuilder("{");
            for (var i = 0; i < keys.Count; i++)
            {
                json.Append(i == 0 ? "" : ",");
                AppendJsonString(json, keys[i]);
                json.Append(':').Append(values[i]);
            }

            return json.Append('}').ToString();
        }

        private string ReadArray()
        {
            var open = position;
            position++;
            Enter();
            var json = new StringBuilder("[");
            var first = true;
            SkipWhiteSpace();
            while (Peek() != ']')
            {
                if (AtEnd)
                {
                    throw Fail($"the text ends inside the array that starts at offset {open - start} (truncated call?)");
                }

                json.Append(first ? "" : ",").Append(ReadValue());
                first = false;
                SkipWhiteSpace();
                if (Peek() == ',')
                {
                    position++;
                    SkipWhiteSpace();
                }
                else if (Peek() != ']')
                {
                    throw Fail(AtEnd
                        ? "the text ends inside an array (truncated call?)"
                        : $"expected ',' or ']' in the array that starts at offset {open - start} but found {Describe()}");
                }
            }

            position++;
            depth--;
            return json.Append(']').ToString();
        }

        private string ReadKey(bool allowEquals)
        {
            if (StartsWith(Quote))
            {
                return ReadDelimitedString();
            }

            if (Peek() == '"')
            {
                return ReadJsonString();
            }

            var keyStart = position;
            while (!AtEnd && !StartsWith(Quote) && !IsKeyTerminator(text[position], allowEquals))
            {
                position++;
            }

            var key = text[keyStart..position].Trim();
            if (key.Length == 0)
            {
                throw Fail($"expected a key but found {Describe()}");
            }

            return key;
        }

        private static bool IsKeyTerminator(char c, bool allowEquals) =>
            c is ':' or ',' or '{' or '}' or '[' or ']' or '(' or ')' or '"' or '\n' or '\r' || (allowEquals && c == '=');

        private string ReadValue()
        {
            SkipWhiteSpace();
            if (AtEnd)
            {
                throw Fail("the text ends where a value was expected (truncated call?)");
            }

            if (StartsWith(Quote))
            {
                return ToJsonString(ReadDelimitedString());
            }

            var c = Peek();
            switch (c)
            {
                case '"':
                    return ToJsonString(ReadJsonString());
                case '{':
                    return ReadObject('}', allowEquals: false);
                case '[':
                    return ReadArray();
                case '-' or '+' or '.' or (>= '0' and <= '9'):
                    return ReadNumber();
            }

            if (char.IsLetter(c))
            {
                return ReadLiteral();
            }

            throw Fail($"expected a value but found {Describe()}");
        }

        private string ReadLiteral()
        {
            var wordStart = position;
            while (!AtEnd && (char.IsLetterOrDigit(text[position]) || text[position] == '_'))
            {
                position++;
            }

            var word = text[wordStart..position];
            return word switch
            {
                "true" or "True" => "true",
                "false" or "False" => "false",
                "null" or "None" => "null",
                _ => throw FailAt(wordStart,
                    $"unexpected bare word '{word}'; strings must be delimited by {Quote} or double quotes"),
            };
        }

        private string ReadNumber()
        {
            var numberStart = position;
            if (Peek() is '-' or '+')
            {
                position++;
            }

            var mantissaDigits = SkipDigits();
            if (Peek() == '.')
            {
                position++;
                mantissaDigits += SkipDigits();
            }

            if (mantissaDigits > 0 && Peek() is 'e' or 'E')
            {
                var exponentStart = position;
                position++;
                if (Peek() is '-' or '+')
                {
                    position++;
                }

                if (SkipDigits() == 0)
                {
                    position = exponentStart;
                }
            }

            var literal = text[numberStart..position];
            if (mantissaDigits == 0)
            {
                throw FailAt(numberStart, $"invalid number '{literal}'");
            }

            if (!AtEnd && !char.IsWhiteSpace(Peek()) && Peek() is not (',' or '}' or ']' or ')'))
            {
                throw Fail($"invalid number: '{literal}' is followed by {Describe()}");
            }

            if (IsJsonNumber(literal))
            {
                return literal;
            }

            // Forms JSON lacks (+1, .5, 5., 007) are written as the shortest round-trip double.
            var number = double.Parse(literal, NumberStyles.Float, CultureInfo.InvariantCulture);
            if (!double.IsFinite(number))
            {
                throw FailAt(numberStart, $"number '{literal}' is out of range");
            }

            return number.ToString("R", CultureInfo.InvariantCulture);
        }

        private int SkipDigits()
        {
            var digitsStart = position;
            while (!AtEnd && char.IsAsciiDigit(text[position]))
            {
                position++;
            }

            return position - digitsStart;
        }

        /// <summary>Reads <c>&lt;|"|&gt;…&lt;|"|&gt;</c>; the content ends at the next delimiter and has no escapes.</summary>
        private string ReadDelimitedString()
        {
            var open = position;
            var contentStart = position + Quote.Length;
            var close = text.IndexOf(Quote, contentStart, StringComparison.Ordinal);
            if (close < 0)
            {
                throw FailAt(open, $"the string that starts at offset {open - start} has no closing {Quote} (truncated call?)");
            }

            position = close + Quote.Length;
            return text[contentStart..close];
        }

        /// <summary>Reads a double-quoted JSON string; raw control characters inside are tolerated.</summary>
        private string ReadJsonString()
        {
            var open = position;
            position++;
            var value = new StringBuilder();
            while (true)
            {
                if (AtEnd)
                {
                    throw FailAt(open, $"the string that starts at offset {open - start} has no closing quote (truncated call?)");
                }

                var c = text[position++];
                if (c == '"')
                {
                    return value.ToString();
                }

                if (c != '\\')
                {
                    value.Append(c);
                    continue;
                }

                if (AtEnd)
                {
                    throw FailAt(open, $"the string that starts at offset {open - start} ends inside an escape (truncated call?)");
                }

                var escape = text[position++];
                switch (escape)
                {
                    case '"' or '\\' or '/':
                        value.Append(escape);
                        break;
                    case 'b':
                        value.Append('\b');
                        break;
                    case 'f':
                        value.Append('\f');
                        break;
                    case 'n':
                        value.Append('\n');
                        break;
                    case 'r':
                        value.Append('\r');
                        break;
                    case 't':
                        value.Append('\t');
                        break;
                    case 'u' when position + 4 <= text.Length
                        && ushort.TryParse(text.AsSpan(position, 4), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var code):
                        value.Append((char)code);
                        position += 4;
                        break;
                    default:
                        throw FailAt(position - 2, $"invalid escape '\\{escape}' in a string");
                }
            }
        }

        private void Enter()
        {
            if (++depth > MaxDepth)
            {
                throw Fail($"the arguments nest deeper than {MaxDepth} levels");
            }
        }

        private void SkipWhiteSpace() => position = SkipWhiteSpaceFrom(position);

        private int SkipWhiteSpaceFrom(int from)
        {
            while (from < text.Length && char.IsWhiteSpace(text[from]))
            {
                from++;
            }

            return from;
        }

        private string Describe()
        {
            if (AtEnd)
            {
                return "the end of the text";
            }

            var excerpt = text.Substring(position, Math.Min(12, text.Length - position));
            return $"'{excerpt}' at offset {position - start}";
        }

        private FormatException Fail(string message) => new(message);

        private FormatException FailAt(int offset, string message) =>
            new(message.Contains("offset", StringComparison.Ordinal) ? message : $"{message} at offset {offset - start}");

        private static bool IsJsonNumber(string literal)
        {
            var i = 0;
            if (i < literal.Length && literal[i] == '-')
            {
                i++;
            }

            if (i >= literal.Length || !char.IsAsciiDigit(literal[i]))
            {
                return false;
            }

            if (literal[i] == '0' && i + 1 < literal.Length && char.IsAsciiDigit(literal[i + 1]))
            {
                return false;
            }

            while (i < literal.Length && char.IsAsciiDigit(literal[i]))
            {
                i++;
            }

            if (i < literal.Length && literal[i] == '.')
            {
                i++;
                if (i >= literal.Length || !char.IsAsciiDigit(literal[i]))
                {
                    return false;
                }

                while (i < literal.Length && char.IsAsciiDigit(literal[i]))
                {
                    i++;
                }
            }

            if (i < literal.Length && literal[i] is 'e' or 'E')
            {
                i++;
                if (i < literal.Length && literal[i] is '+' or '-')
                {
                    i++;
                }

                if (i >= literal.Length || !char.IsAsciiDigit(literal[i]))
                {
                    return false;
                }

                while (i < literal.Length && char.IsAsciiDigit(literal[i]))
                {
                    i++;
                }
            }

            return i == literal.Length;
        }
    }

    private static string ToJsonString(string value)
    {
        var builder = new StringBuilder(value.Length + 2);
        AppendJsonString(builder, value);
        return builder.ToString();
    }

    /// <summary>
    /// Writes a JSON string literal as Python's <c>json.dumps(ensure_ascii=False)</c> does: only quotes,
    /// backslashes and control characters are escaped. Lone surrogates are escaped too, so the text stays valid UTF-16.
    /// </summary>
    internal static void AppendJsonString(StringBuilder builder, string value)
    {
        builder.Append('"');
        for (var i = 0; i < value.Length; i++)
        {
            var c = value[i];
            switch (c)
            {
                case '"':
                    builder.Append("\\\"");
                    break;
                case '\\':
                    builder.Append("\\\\");
                    break;
                case '\n':
                    builder.Append("\\n");
                    break;
                case '\r':
                    builder.Append("\\r");
                    break;
                case '\t':
                    builder.Append("\\t");
                    break;
                case '\b':
                    builder.Append("\\b");
                    break;
                case '\f':
                    builder.Append("\\f");
                    break;
                default:
                    var paired = char.IsHighSurrogate(c) ? i + 1 < value.Length && char.IsLowSurrogate(value[i + 1])
                        : !char.IsLowSurrogate(c) || (i > 0 && char.IsHighSurrogate(value[i - 1]));
                    if (c < 0x20 || !paired)
                    {
                        builder.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
                    }
                    else
                    {
                        builder.Append(c);
                    }

                    break;
            }
        }

        builder.Append('"');
    }
}
