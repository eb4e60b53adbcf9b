using System.Text;
using System.Text.Json.Nodes;

namespace Waldwicht.Text.Chat;

/// <summary>
/// Gemma's value syntax as the templates' <c>format_argument</c> macro writes it: strings between
/// <c>&lt;|"|&gt;</c> delimiters with no escaping, <c>true</c>/<c>false</c>, numbers as Python prints them,
/// lists <c>[a,b]</c> and mappings <c>{key:value}</c> with keys in <c>dictsort</c> order.
/// </summary>
internal static class Gemma4ValueSyntax
{
    public const string Quote = Gemma4ControlTokens.StringDelimiter;

    /// <param name="builder">Receives the text.</param>
    /// <param name="value">The value; null is JSON null.</param>
    /// <param name="quoteKeys">Wraps mapping keys in string delimiters (declarations do, calls and responses do not).</param>
    /// <param name="nullText">Text for JSON null: "None" in V1 and V2, "null" in V3.</param>
    public static void Append(StringBuilder builder, JsonNode? value, bool quoteKeys, string nullText)
    {
        switch (PythonValues.KindOf(value))
        {
            case PythonKind.Str:
                builder.Append(Quote).Append(PythonValues.GetString(value!)).Append(Quote);
                break;
            case PythonKind.Bool:
                builder.Append(PythonValues.GetBool(value!) ? "true" : "false");
                break;
            case PythonKind.Dict:
                builder.Append('{');
                var first = true;
                foreach (var (key, item) in PythonValues.DictSort(value!.AsObject()))
                {
                    builder.Append(first ? "" : ",");
                    first = false;
                    if (quoteKeys)
                    {
                        builder.Append(Quote).Append(key).Append(Quote);
                    }
                    else
                    {
                        builder.Append(key);
                    }

                    builder.Append(':');
                    Append(builder, item, quoteKeys, nullText);
                }

                builder.Append('}');
                break;
            case PythonKind.List:
                builder.Append('[');
                var firstItem = true;
                foreach (var item in value!.AsArray())
                {
                    builder.Append(firstItem ? "" : ",");
                    firstItem = false;
                    Append(builder, item, quoteKeys, nullText);
                }

                builder.Append(']');
                break;
            case PythonKind.None:
                builder.Append(nullText);
                break;
            default:
                builder.Append(PythonValues.ToStr(value));
                break;
        }
    }

    /// <summary>Writes the members of an argument or response object as <c>key:value</c> pairs in dictsort order, comma-separated.</summary>
    public static void AppendMembers(StringBuilder builder, JsonObject members, string nullText)
    {
        var first = true;
        foreach (var (key, item) in PythonValues.DictSort(members))
        {
            builder.Append(first ? "" : ",");
            first = false;
            builder.Append(key).Append(':');
            Append(builder, item, quoteKeys: false, nullText);
        }
    }
}
