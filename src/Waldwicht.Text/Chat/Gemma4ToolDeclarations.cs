using System.Text;
using System.Text.Json.Nodes;
using static Waldwicht.Text.Chat.PythonValues;

namespace Waldwicht.Text.Chat;

/// <summary>
/// Writes a tool declaration (<c>declaration:NAME{description:…,parameters:{…}}</c>) from a JSON schema as
/// the templates' <c>format_function_declaration</c> and <c>format_parameters</c> macros do, including the
/// quirks of V1: an object or array property gets a leading comma (<c>tags:{,items:{…}type:…}</c>), no comma
/// before its type, and V1 skips properties named like schema keywords (description, type, properties,
/// required, nullable).
/// </summary>
internal static class Gemma4ToolDeclarations
{
    private const string Quote = Gemma4ValueSyntax.Quote;

    private static readonly HashSet<string> SchemaKeywords = ["description", "type", "properties", "required", "nullable"];

    /// <exception cref="ArgumentException">A part of the schema that the template iterates is not a list or mapping.</exception>
    public static void Append(StringBuilder builder, ToolDefinition tool, Gemma4TemplateRules rules)
    {
        var context = $"Tool '{tool.Name}'";
        builder.Append("declaration:").Append(tool.Name)
            .Append("{description:").Append(Quote).Append(tool.Description ?? "").Append(Quote);

        var parameters = tool.Parameters;
        if (IsTruthy(parameters))
        {
            builder.Append(",parameters:{");
            if (IsTruthy(Get(parameters, "properties")))
            {
                builder.Append("properties:{");
                AppendProperties(builder, Get(parameters, "properties"), filterKeywords: false, rules, $"{context}: parameters.properties");
                builder.Append("},");
            }

            if (IsTruthy(Get(parameters, "required")))
            {
                builder.Append("required:[");
                AppendQuotedList(builder, Get(parameters, "required"), $"{context}: parameters.required");
                builder.Append("],");
            }

            // Without a "type" the template never closes the parameters brace; kept for byte parity.
            if (IsTruthy(Get(parameters, "type")))
            {
                builder.Append("type:").Append(Quote).Append(UpperOf(parameters, "type")).Append(Quote).Append('}');
            }
        }

        if (tool.Response is { } response)
        {
            builder.Append(",response:{");
            if (IsTruthy(Get(response, "description")))
            {
                builder.Append("description:").Append(Quote).Append(StrOf(response, "description")).Append(Quote).Append(',');
            }

            if (UpperOf(response, "type") == "OBJECT")
            {
                builder.Append("type:").Append(Quote).Append("OBJECT").Append(Quote).Append('}');
            }
        }

        builder.Append('}');
    }

    /// <summary>The <c>format_parameters</c> macro: one <c>NAME:{…}</c> entry per property in dictsort order.</summary>
    private static void AppendProperties(StringBuilder builder, JsonNode? properties, bool filterKeywords, Gemma4TemplateRules rules, string path)
    {
        if (properties is not JsonObject map)
        {
            throw new ArgumentException(
                $"{path} must be an object that maps property names to schemas, but it is {Repr(properties)}.");
        }

        // V1 filters the keyword names at every level; V2 and V3 only when a property schema stands in for
        // its own properties (an object property without "properties").
        var filter = filterKeywords || !rules.CorrectedDeclarations;
        var first = true;
        foreach (var (key, value) in DictSort(map))
        {
            if (filter && SchemaKeywords.Contains(key))
            {
                continue;
            }

            builder.Append(first ? "" : ",");
            first = false;
            builder.Append(key).Append(":{");
            if (rules.CorrectedDeclarations)
            {
                AppendPropertyBody(builder, value, rules, $"{path}.{key}");
            }
            else
            {
                AppendPropertyBodyV1(builder, value, rules, $"{path}.{key}");
            }
        }
    }

    private static void AppendPropertyBodyV1(StringBuilder builder, JsonNode? value, Gemma4TemplateRules rules, string path)
    {
        var needsComma = false;
        if (IsTruthy(Get(value, "description")))
        {
            builder.Append("description:").Append(Quote).Append(StrOf(value, "description")).Append(Quote);
            needsComma = true;
        }

        if (IsTruthy(Get(value, "nullable")))
        {
            AppendSeparator(builder, ref needsComma);
            builder.Append("nullable:true");
        }

        var type = UpperOf(value, "type");
        if (type == "STRING")
        {
            if (IsTruthy(Get(value, "enum")))
            {
                AppendSeparator(builder, ref needsComma);
                builder.Append("enum:");
                Gemma4ValueSyntax.Append(builder, Get(value, "enum"), quoteKeys: true, rules.NullText);
            }
        }
        else if (type == "OBJECT")
        {
            builder.Append(",properties:{");
            AppendNestedProperties(builder, value, rules, path);
            builder.Append('}');
            if (IsTruthy(Get(value, "required")))
            {
                builder.Append(",required:[");
                AppendQuotedList(builder, Get(value, "required"), $"{path}.required");
                builder.Append(']');
            }
        }
        else if (type == "ARRAY")
        {
            if (Get(value, "items") is JsonObject items && items.Count > 0)
            {
                builder.Append(",items:{");
                AppendItems(builder, items, rules, $"{path}.items");
                builder.Append('}');
            }
        }

        AppendSeparator(builder, ref needsComma);
        builder.Append("type:").Append(Quote).Append(type).Append(Quote).Append('}');
    }

    private static void AppendPropertyBody(StringBuilder builder, JsonNode? value, Gemma4TemplateRules rules, string path)
    {
        var needsComma = false;
        if (IsTruthy(Get(value, "description")))
        {
            builder.Append("description:").Append(Quote).Append(StrOf(value, "description")).Append(Quote);
            needsComma = true;
        }

        var type = UpperOf(value, "type");
        if (type == "STRING")
        {
            if (IsTruthy(Get(value, "enum")))
            {
                AppendSeparator(builder, ref needsComma);
                builder.Append("enum:");
                Gemma4ValueSyntax.Append(builder, Get(value, "enum"), quoteKeys: true, rules.NullText);
            }
        }
        else if (type == "ARRAY")
        {
            if (Get(value, "items") is JsonObject items && items.Count > 0)
            {
                AppendSeparator(builder, ref needsComma);
                builder.Append("items:{");
                AppendItems(builder, items, rules, $"{path}.items");
                builder.Append('}');
            }
        }

        if (IsTruthy(Get(value, "nullable")))
        {
            AppendSeparator(builder, ref needsComma);
            builder.Append("nullable:true");
        }

        if (type == "OBJECT")
        {
            AppendSeparator(builder, ref needsComma);
            builder.Append("properties:{");
            AppendNestedProperties(builder, value, rules, path);
            builder.Append('}');
            if (IsTruthy(Get(value, "required")))
            {
                AppendSeparator(builder, ref needsComma);
                builder.Append("required:[");
                AppendQuotedList(builder, Get(value, "required"), $"{path}.required");
                builder.Append(']');
            }
        }

        AppendSeparator(builder, ref needsComma);
        builder.Append("type:").Append(Quote).Append(type).Append(Quote).Append('}');
    }

    /// <summary>
    /// Properties of an object property: its "properties" mapping, or else the property schema itself with
    /// the keyword names filtered out (so that, for example, "additionalProperties" shows up as a property).
    /// </summary>
    private static void AppendNestedProperties(StringBuilder builder, JsonNode? value, Gemma4TemplateRules rules, string path)
    {
        if (TryGet(value, "properties", out var nested) && nested is JsonObject)
        {
            AppendProperties(builder, nested, filterKeywords: false, rules, $"{path}.properties");
        }
        else if (value is JsonObject)
        {
            AppendProperties(builder, value, filterKeywords: true, rules, path);
        }
    }

    /// <summary>The items schema of an array property: every non-null entry in dictsort order.</summary>
    private static void AppendItems(StringBuilder builder, JsonObject items, Gemma4TemplateRules rules, string path)
    {
        var first = true;
        foreach (var (key, value) in DictSort(items))
        {
            if (value is null)
            {
                continue;
            }

            builder.Append(first ? "" : ",");
            first = false;
            switch (key)
            {
                case "properties":
                    builder.Append("properties:{");
                    if (value is JsonObject)
                    {
                        AppendProperties(builder, value, filterKeywords: false, rules, $"{path}.properties");
                    }

                    builder.Append('}');
                    break;
                case "required":
                    builder.Append("required:[");
                    AppendQuotedList(builder, value, $"{path}.required");
                    builder.Append(']');
                    break;
                case "type":
                    builder.Append("type:");
                    if (KindOf(value) == PythonKind.Str)
                    {
                        Gemma4ValueSyntax.Append(builder, JsonValue.Create(Upper(value)), quoteKeys: true, rules.NullText);
                    }
                    else
                    {
                        var upper = new JsonArray(Iterate(value, $"{path}.type").Select(t => (JsonNode?)JsonValue.Create(Upper(t))).ToArray());
                        Gemma4ValueSyntax.Append(builder, upper, quoteKeys: true, rules.NullText);
                    }

                    break;
                default:
                    builder.Append(key).Append(':');
                    Gemma4ValueSyntax.Append(builder, value, quoteKeys: true, rules.NullText);
                    break;
            }
        }
    }

    /// <summary>A "required" list as <c>&lt;|"|&gt;a&lt;|"|&gt;,&lt;|"|&gt;b&lt;|"|&gt;</c>.</summary>
    private static void AppendQuotedList(StringBuilder builder, JsonNode? list, string path)
    {
        var first = true;
        foreach (var item in Iterate(list, path))
        {
            builder.Append(first ? "" : ",");
            first = false;
            builder.Append(Quote).Append(ToStr(item)).Append(Quote);
        }
    }

    private static void AppendSeparator(StringBuilder builder, ref bool needsComma)
    {
        if (needsComma)
        {
            builder.Append(',');
        }

        needsComma = true;
    }
}
