using System.Text;
using System.Text.Json;

namespace Waldwicht.Runtime.ChatClient.Constraints;

/// <summary>JSON value kinds a schema node admits.</summary>
[Flags]
public enum JsonValueKinds
{
    None = 0,
    Object = 1,
    Array = 2,
    String = 4,
    Number = 8,
    Integer = 16,
    Boolean = 32,
    Null = 64,
    Any = Object | Array | String | Number | Integer | Boolean | Null,
}

/// <summary>One property of an object schema.</summary>
/// <param name="Name">Property name.</param>
/// <param name="EncodedName">UTF-8 bytes of the name as written inside a JSON string (escaped, without quotes).</param>
/// <param name="Schema">Schema of the value.</param>
public sealed record JsonSchemaProperty(string Name, byte[] EncodedName, JsonSchemaNode Schema);

/// <summary>
/// A compiled JSON schema node: the subset that constrained decoding enforces (type and type lists,
/// object properties and required, additionalProperties as a schema, array items with minItems and
/// maxItems, enum and const, nested and referenced schemas). Nodes may form cycles through $ref.
/// </summary>
public sealed class JsonSchemaNode
{
    /// <summary>Most properties an object schema may list (they are tracked in a 64-bit mask).</summary>
    public const int MaxProperties = 64;

    /// <summary>Accepts any JSON value.</summary>
    public static JsonSchemaNode Any { get; } = CreateAny();

    public JsonValueKinds Kinds { get; internal set; }

    /// <summary>Allowed values as compact JSON (enum or const); null when the kinds decide.</summary>
    public IReadOnlyList<byte[]>? Literals { get; internal set; }

    /// <summary>Listed properties; null for an object with free keys.</summary>
    public IReadOnlyList<JsonSchemaProperty>? Properties { get; internal set; }

    /// <summary>Bit i is set when property i is required.</summary>
    public ulong RequiredMask { get; internal set; }

    /// <summary>Schema of values under free keys (objects without listed properties); null when such an object must stay empty.</summary>
    public JsonSchemaNode? AdditionalProperties { get; internal set; }

    /// <summary>Schema of array items.</summary>
    public JsonSchemaNode? Items { get; internal set; }

    public int MinItems { get; internal set; }

    /// <summary>For anyOf/oneOf: the branch that describes objects, when it is not this node.</summary>
    public JsonSchemaNode? ObjectBranch { get; internal set; }

    /// <summary>For anyOf/oneOf: the branch that describes arrays, when it is not this node.</summary>
    public JsonSchemaNode? ArrayBranch { get; internal set; }

    public int? MaxItems { get; internal set; }

    private static JsonSchemaNode CreateAny()
    {
        var any = new JsonSchemaNode { Kinds = JsonValueKinds.Any };
        any.AdditionalProperties = any;
        any.Items = any;
        return any;
    }

    /// <summary>Compact JSON of a value, the form a literal must take in the output.</summary>
    internal static byte[] EncodeLiteral(JsonElement value)
    {
        using var stream = new MemoryStream();
        using (var writer = new Utf8JsonWriter(stream, new JsonWriterOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            value.WriteTo(writer);
        }

        return stream.ToArray();
    }

    /// <summary>Bytes of a property name as it appears between the quotes of a JSON string.</summary>
    internal static byte[] EncodeName(string name)
    {
        byte[] quoted = EncodeLiteral(JsonSerializer.SerializeToElement(name));
        return quoted[1..^1];
    }

    public override string ToString()
    {
        var text = new StringBuilder(Kinds.ToString());
        if (Properties is { } properties)
        {
            text.Append(" {").AppendJoin(", ", properties.Select(p => p.Name)).Append('}');
        }

        return text.ToString();
    }
}
