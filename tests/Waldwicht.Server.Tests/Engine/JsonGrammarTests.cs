using System.Text;
using System.Text.Json;
using Waldwicht.Runtime.ChatClient.Constraints;

namespace Waldwicht.Server.Tests.Engine;

public sealed class JsonGrammarTests
{
    private const string PersonSchema = """
        {"type":"object","properties":{
           "name":{"type":"string"},
           "age":{"type":"integer"},
           "kind":{"enum":["a","b",3,null]},
           "tags":{"type":"array","items":{"type":"string"},"minItems":1,"maxItems":2},
           "home":{"$ref":"#/$defs/place"}},
         "required":["name","age"],
         "$defs":{"place":{"type":["object","null"],"properties":{"x":{"type":"number"}},"required":["x"]}}}
        """;

    public static TheoryData<string, string, bool> Documents => new()
    {
        // schema, text, accepted as a complete value
        { PersonSchema, """{"name":"Ann","age":3}""", true },
        { PersonSchema, """{ "age" : -12 , "name" : "A \"q\" \u00e9" }""", true },
        { PersonSchema, """{"name":"x","age":1,"kind":"b","tags":["t"],"home":{"x":1.5e3}}""", true },
        { PersonSchema, """{"name":"x","age":1,"home":null,"kind":3}""", true },
        { PersonSchema, """{"name":"x"}""", false },
        { PersonSchema, """{"name":"x","age":1.5}""", false },
        { PersonSchema, """{"name":"x","age":1,"extra":1}""", false },
        { PersonSchema, """{"name":"x","age":1,"name":"y"}""", false },
        { PersonSchema, """{"name":"x","age":1,"kind":"c"}""", false },
        { PersonSchema, """{"name":"x","age":1,"tags":[]}""", false },
        { PersonSchema, """{"name":"x","age":1,"tags":["a","b","c"]}""", false },
        { PersonSchema, """{"name":"x","age":01}""", false },
        { PersonSchema, "{\"name\":\"line\nbreak\",\"age\":1}", false },
        { """{"type":"object"}""", """{"a":[1,{"b":null}],"c":"d"}""", true },
        { """{"type":"object","additionalProperties":{"type":"boolean"}}""", """{"a":true,"b":false}""", true },
        { """{"type":"object","additionalProperties":{"type":"boolean"}}""", """{"a":1}""", false },
        { """{"type":"array","items":{"type":"number"}}""", """[1, -0.5, 2E-3]""", true },
        { """{"anyOf":[{"type":"string"},{"type":"null"}]}""", "null", true },
        { """{"const":{"k":[1,2]}}""", """{"k":[1,2]}""", true },
        { """{"type":"integer"}""", "42", true },
    };

    [Theory]
    [MemberData(nameof(Documents))]
    public void AcceptsExactlyValidDocuments(string schema, string text, bool valid)
    {
        var node = JsonSchemaCompiler.Compile(JsonDocument.Parse(schema).RootElement);
        var state = JsonGrammarState.Start(node);

        bool accepted = state.TryAdvance(Encoding.UTF8.GetBytes(text), out var end) && end.IsComplete;

        Assert.Equal(valid, accepted);
    }

    [Fact]
    public void WhitespaceRunsAreLimited()
    {
        var state = JsonGrammarState.Start(JsonSchemaCompiler.AnyObject());
        var padding = Encoding.UTF8.GetBytes(new string(' ', JsonGrammarState.MaxWhitespaceRun));

        Assert.True(state.TryAdvance(padding, out var padded));
        Assert.False(padded.TryAdvance((byte)' ', out _));
        Assert.True(padded.TryAdvance((byte)'{', out _));
    }

    [Theory]
    [InlineData("""{"type":"thing"}""", "not a JSON schema type")]
    [InlineData("""{"$ref":"http://example.com/s"}""", "only local references")]
    [InlineData("""{"$ref":"#/$defs/missing"}""", "points to nothing")]
    [InlineData("""{"type":"object","properties":{"a":{}},"required":["b"]}""", "not in properties")]
    [InlineData("""{"anyOf":[{"type":"object"},{"type":"object"}]}""", "only branches of different types")]
    [InlineData("""{"type":"array","minItems":3,"maxItems":1}""", "below minItems")]
    public void UnsupportedSchemasAreRejected(string schema, string message)
    {
        var error = Assert.Throws<JsonSchemaException>(() => JsonSchemaCompiler.Compile(JsonDocument.Parse(schema).RootElement));

        Assert.Contains(message, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void RecursiveReferencesCompile()
    {
        var schema = """{"type":"object","properties":{"child":{"anyOf":[{"$ref":"#"},{"type":"null"}]}},"required":["child"]}""";
        var node = JsonSchemaCompiler.Compile(JsonDocument.Parse(schema).RootElement);

        bool accepted = JsonGrammarState.Start(node).TryAdvance("""{"child":{"child":{"child":null}}}"""u8, out var end);

        Assert.True(accepted);
        Assert.True(end.IsComplete);
    }
}
