using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Waldwicht.Text.Chat;

/// <summary>Python type that a JSON value has once a Jinja template sees it (json.loads semantics).</summary>
internal enum PythonKind
{
    None,
    Bool,
    Int,
    Float,
    Str,
    List,
    Dict,
}

/// <summary>
/// Python and Jinja semantics over System.Text.Json nodes, so that the C# renderer writes values exactly as
/// the Jinja chat templates do: truthiness, <c>str()</c> and <c>repr()</c>, float formatting, the
/// <c>trim</c> and <c>upper</c> filters, and <c>dictsort</c>.
/// </summary>
internal static class PythonValues
{
    /// <summary>Python type of a node: a JSON number with a fraction or exponent is a float, otherwise an int.</summary>
    public static PythonKind KindOf(JsonNode? node)
    {
        switch (node)
        {
            case null:
                return PythonKind.None;
            case JsonObject:
                return PythonKind.Dict;
            case JsonArray:
                return PythonKind.List;
        }

        var value = node.AsValue();
        if (value.TryGetValue<JsonElement>(out var element))
        {
            return element.ValueKind switch
            {
                JsonValueKind.String => PythonKind.Str,
                JsonValueKind.True or JsonValueKind.False => PythonKind.Bool,
                JsonValueKind.Number => IsIntegerLiteral(element.GetRawText()) ? PythonKind.Int : PythonKind.Float,
                JsonValueKind.Null or JsonValueKind.Undefined => PythonKind.None,
                JsonValueKind.Object => PythonKind.Dict,
                _ => PythonKind.List,
            };
        }

        return value.GetValueKind() switch
        {
            JsonValueKind.String => PythonKind.Str,
            JsonValueKind.True or JsonValueKind.False => PythonKind.Bool,
            JsonValueKind.Number => IsClrFloat(value) ? PythonKind.Float : PythonKind.Int,
            JsonValueKind.Object => PythonKind.Dict,
            JsonValueKind.Array => PythonKind.List,
            _ => PythonKind.None,
        };
    }

    /// <summary>Python truthiness: None, false, 0, 0.0, "", [] and {} are false.</summary>
    public static bool IsTruthy(JsonNode? node) => KindOf(node) switch
    {
        PythonKind.None => false,
        PythonKind.Bool => GetBool(node!),
        PythonKind.Int => IntText(node!) != "0",
        PythonKind.Float => GetDouble(node!) != 0.0,
        PythonKind.Str => GetString(node!).Length > 0,
        PythonKind.List => node!.AsArray().Count > 0,
        _ => node!.AsObject().Count > 0,
    };

    public static string GetString(JsonNode node)
    {
        var value = node.AsValue();
        return value.TryGetValue<string>(out var text) ? text : value.GetValue<char>().ToString();
    }

    public static bool GetBool(JsonNode node) => node.AsValue().GetValue<bool>();

    /// <summary>Python <c>str()</c> of a value, which is what <c>{{ value }}</c> writes.</summary>
    public static string ToStr(JsonNode? node) =>
        KindOf(node) == PythonKind.Str ? GetString(node!) : Repr(node);

    /// <summary>Python <c>repr()</c> of a value.</summary>
    public static string Repr(JsonNode? node)
    {
        var builder = new StringBuilder();
        AppendRepr(builder, node);
        return builder.ToString();
    }

    /// <summary>Python <c>repr()</c> of a float, such as <c>2.5</c>, <c>1e+16</c>, <c>1e-05</c>, <c>-0.0</c> or <c>inf</c>.</summary>
    public static string FormatFloat(double value)
    {
        if (double.IsNaN(value))
        {
            return "nan";
        }

        if (double.IsInfinity(value))
        {
            return value > 0 ? "inf" : "-inf";
        }

        var sign = value < 0 || (value == 0 && double.IsNegative(value)) ? "-" : "";
        if (value == 0)
        {
            return sign + "0.0";
        }

        // Split .NET's shortest round-trip text into significant digits and the position of the decimal
        // point relative to the first digit (value = 0.DIGITS × 10^point), as Python's float_repr does.
        var text = Math.Abs(value).ToString("R", CultureInfo.InvariantCulture);
        var exponent = 0;
        var e = text.IndexOfAny(['E', 'e']);
        if (e >= 0)
        {
            exponent = int.Parse(text.AsSpan(e + 1), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture);
            text = text[..e];
        }

        var dot = text.IndexOf('.');
        var integerDigits = dot >= 0 ? dot : text.Length;
        var digits = dot >= 0 ? text.Remove(dot, 1) : text;
        var leadingZeros = digits.Length - digits.TrimStart('0').Length;
        digits = digits.Trim('0');
        var point = integerDigits - leadingZeros + exponent;

        // Python's repr switches to exponent notation when the decimal point is more than 16 digits to the
        // right of the first digit or 4 or more places to its left.
        if (point > 16 || point <= -4)
        {
            var mantissa = digits.Length == 1 ? digits : digits[0] + "." + digits[1..];
            var power = point - 1;
            return sign + mantissa + "e" + (power < 0 ? "-" : "+") + Math.Abs(power).ToString("00", CultureInfo.InvariantCulture);
        }

        if (point <= 0)
        {
            return sign + "0." + new string('0', -point) + digits;
        }

        if (point >= digits.Length)
        {
            return sign + digits + new string('0', point - digits.Length) + ".0";
        }

        return sign + digits[..point] + "." + digits[point..];
    }

    /// <summary>Python <c>str.strip()</c>, which the Jinja <c>trim</c> filter calls.</summary>
    public static string Strip(string text)
    {
        var start = 0;
        var end = text.Length;
        while (start < end && IsPythonWhiteSpace(text[start]))
        {
            start++;
        }

        while (end > start && IsPythonWhiteSpace(text[end - 1]))
        {
            end--;
        }

        return text[start..end];
    }

    /// <summary>The Jinja <c>upper</c> filter: upper-cased <c>str()</c> of the value.</summary>
    public static string Upper(JsonNode? node) => ToStr(node).ToUpperInvariant();

    /// <summary>
    /// Jinja's <c>dictsort</c> with its defaults: items ordered by key, compared case-insensitively by code
    /// point; keys that compare equal keep their original order (Python's sort is stable).
    /// </summary>
    public static List<KeyValuePair<string, JsonNode?>> DictSort(JsonObject obj)
    {
        var items = obj.ToList();
        var keys = items.Select(item => item.Key.ToLowerInvariant()).ToArray();
        var order = Enumerable.Range(0, items.Count).ToArray();
        Array.Sort(order, (a, b) =>
        {
            var byKey = CompareCodePoints(keys[a], keys[b]);
            return byKey != 0 ? byKey : a.CompareTo(b);
        });
        return order.Select(i => items[i]).ToList();
    }

    /// <summary>Looks a key up the way Jinja's <c>value['key']</c> does: defined only on a mapping that has the key.</summary>
    public static bool TryGet(JsonNode? container, string key, out JsonNode? value)
    {
        if (container is JsonObject obj && obj.TryGetPropertyValue(key, out value))
        {
            return true;
        }

        value = null;
        return false;
    }

    /// <summary>Looks a key up; an undefined key is null here, which is falsy like Jinja's Undefined.</summary>
    public static JsonNode? Get(JsonNode? container, string key) => TryGet(container, key, out var value) ? value : null;

    /// <summary>Upper-cased text of a possibly undefined value: an undefined key writes "", a JSON null "NONE".</summary>
    public static string UpperOf(JsonNode? container, string key) =>
        TryGet(container, key, out var value) ? Upper(value) : "";

    /// <summary>Text of a possibly undefined value: an undefined key writes "", a JSON null "None".</summary>
    public static string StrOf(JsonNode? container, string key) =>
        TryGet(container, key, out var value) ? ToStr(value) : "";

    /// <summary>
    /// Items a Jinja <c>for</c> loop visits: list elements, the characters of a string, or the keys of a mapping.
    /// </summary>
    /// <exception cref="ArgumentException">The value is not iterable (a number, boolean or null).</exception>
    public static IEnumerable<JsonNode?> Iterate(JsonNode? node, string what)
    {
        switch (KindOf(node))
        {
            case PythonKind.List:
                return node!.AsArray();
            case PythonKind.Dict:
                return node!.AsObject().Select(item => (JsonNode?)JsonValue.Create(item.Key));
            case PythonKind.Str:
                var text = GetString(node!);
                return text.EnumerateRunes().Select(rune => (JsonNode?)JsonValue.Create(rune.ToString()));
            default:
                throw new ArgumentException(
                    $"{what} must be a list, but it is {Repr(node)}; pass a JSON array (for example [\"name\"]).");
        }
    }

    private static void AppendRepr(StringBuilder builder, JsonNode? node)
    {
        switch (KindOf(node))
        {
            case PythonKind.None:
                builder.Append("None");
                break;
            case PythonKind.Bool:
                builder.Append(GetBool(node!) ? "True" : "False");
                break;
            case PythonKind.Int:
                builder.Append(IntText(node!));
                break;
            case PythonKind.Float:
                builder.Append(FormatFloat(GetDouble(node!)));
                break;
            case PythonKind.Str:
                AppendStringRepr(builder, GetString(node!));
                break;
            case PythonKind.List:
                builder.Append('[');
                var first = true;
                foreach (var item in node!.AsArray())
                {
                    builder.Append(first ? "" : ", ");
                    first = false;
                    AppendRepr(builder, item);
                }

                builder.Append(']');
                break;
            default:
                builder.Append('{');
                var firstItem = true;
                foreach (var (key, value) in node!.AsObject())
                {
                    builder.Append(firstItem ? "" : ", ");
                    firstItem = false;
                    AppendStringRepr(builder, key);
                    builder.Append(": ");
                    AppendRepr(builder, value);
                }

                builder.Append('}');
                break;
        }
    }

    private static void AppendStringRepr(StringBuilder builder, string text)
    {
        var quote = text.Contains('\'') && !text.Contains('"') ? '"' : '\'';
        builder.Append(quote);
        foreach (var rune in EnumerateCodePoints(text))
        {
            var c = rune;
            if (c == quote || c == '\\')
            {
                builder.Append('\\').Append((char)c);
            }
            else if (c == '\t')
            {
                builder.Append("\\t");
            }
            else if (c == '\n')
            {
                builder.Append("\\n");
            }
            else if (c == '\r')
            {
                builder.Append("\\r");
            }
            else if (c < 0x20 || c == 0x7f)
            {
                builder.Append("\\x").Append(c.ToString("x2", CultureInfo.InvariantCulture));
            }
            else if (c < 0x7f || IsPrintable(c))
            {
                builder.Append(char.ConvertFromUtf32(c));
            }
            else if (c <= 0xff)
            {
                builder.Append("\\x").Append(c.ToString("x2", CultureInfo.InvariantCulture));
            }
            else if (c <= 0xffff)
            {
                builder.Append("\\u").Append(c.ToString("x4", CultureInfo.InvariantCulture));
            }
            else
            {
                builder.Append("\\U").Append(c.ToString("x8", CultureInfo.InvariantCulture));
            }
        }

        builder.Append(quote);
    }

    /// <summary>Code points of a string; a lone surrogate counts as one code point, as in Python.</summary>
    private static IEnumerable<int> EnumerateCodePoints(string text)
    {
        for (var i = 0; i < text.Length; i++)
        {
            if (char.IsHighSurrogate(text[i]) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
            {
                yield return char.ConvertToUtf32(text[i], text[i + 1]);
                i++;
            }
            else
            {
                yield return text[i];
            }
        }
    }

    /// <summary>Python's str.isprintable for one code point: not "Other" and not a separator other than space.</summary>
    private static bool IsPrintable(int codePoint)
    {
        if (codePoint is >= 0xD800 and <= 0xDFFF)
        {
            return false;
        }

        var category = CharUnicodeInfo.GetUnicodeCategory(codePoint);
        return category is not (UnicodeCategory.Control or UnicodeCategory.Format or UnicodeCategory.Surrogate
            or UnicodeCategory.PrivateUse or UnicodeCategory.OtherNotAssigned or UnicodeCategory.LineSeparator
            or UnicodeCategory.ParagraphSeparator or UnicodeCategory.SpaceSeparator);
    }

    /// <summary>Python's str.isspace: .NET white space plus the separators U+001C to U+001F.</summary>
    private static bool IsPythonWhiteSpace(char c) => char.IsWhiteSpace(c) || c is >= '\x1c' and <= '\x1f';

    private static int CompareCodePoints(string a, string b)
    {
        using var left = EnumerateCodePoints(a).GetEnumerator();
        using var right = EnumerateCodePoints(b).GetEnumerator();
        while (true)
        {
            var hasLeft = left.MoveNext();
            var hasRight = right.MoveNext();
            if (!hasLeft || !hasRight)
            {
                return hasLeft.CompareTo(hasRight);
            }

            var byPoint = left.Current.CompareTo(right.Current);
            if (byPoint != 0)
            {
                return byPoint;
            }
        }
    }

    private static bool IsIntegerLiteral(string raw) => raw.AsSpan().IndexOfAny(".eE") < 0;

    private static bool IsClrFloat(JsonValue value) =>
        value.TryGetValue<double>(out _) || value.TryGetValue<float>(out _) || value.TryGetValue<decimal>(out _)
        || value.TryGetValue<Half>(out _);

    /// <summary>Decimal text of an int value as Python prints it (JSON "-0" is the int 0).</summary>
    private static string IntText(JsonNode node)
    {
        var value = node.AsValue();
        var text = value.TryGetValue<JsonElement>(out var element) ? element.GetRawText() : value.ToJsonString();
        return text == "-0" ? "0" : text;
    }

    private static double GetDouble(JsonNode node)
    {
        var value = node.AsValue();
        if (value.TryGetValue<JsonElement>(out var element))
        {
            // JSON numbers beyond the double range are infinite in Python as well; .NET parses them the same way.
            return double.Parse(element.GetRawText(), NumberStyles.Float, CultureInfo.InvariantCulture);
        }

        if (value.TryGetValue<double>(out var number))
        {
            return number;
        }

        if (value.TryGetValue<float>(out var single))
        {
            return single;
        }

        if (value.TryGetValue<Half>(out var half))
        {
            return (double)half;
        }

        return (double)value.GetValue<decimal>();
    }
}
