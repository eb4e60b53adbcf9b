using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Waldwicht.Text.Chat;
using Xunit;

namespace Waldwicht.Text.Tests.Chat;

public class Gemma4ToolCallParserTests
{
    private const string Q = "<|\"|>";

    public static TheoryData<string, string, string> ValidCalls => new()
    {
        { $"call:get_weather{{city:{Q}Paris{Q}}}", "get_weather", """{"city":"Paris"}""" },
        { "call:f{}", "f", "{}" },
        {
            $"call:search{{query:{Q}a {{b}}, c: \"d\"\nline{Q},filter:{{lang:{Q}en{Q},tags:[{Q}x,y{Q},1]}}}}",
            "search", """{"query":"a {b}, c: \"d\"\nline","filter":{"lang":"en","tags":["x,y",1]}}"""
        },
        { "call:f{a:3,b:-2.5,c:1e5,d:-1.5E-3,e:0,f:123456789012345678901234567890}", "f", """{"a":3,"b":-2.5,"c":1e5,"d":-1.5E-3,"e":0,"f":123456789012345678901234567890}""" },
        { "call:f{a:+1,b:.5,c:5.,d:007,e:1e+16}", "f", """{"a":1,"b":0.5,"c":5,"d":7,"e":1e+16}""" },
        { "call:f{a:true,b:false,c:null,d:None,e:True,f:False}", "f", """{"a":true,"b":false,"c":null,"d":null,"e":true,"f":false}""" },
        { "call:ns:tool.get-x{id:7}", "ns:tool.get-x", """{"id":7}""" },
        { $"call:wetter_abfrage{{stadt:{Q}Zürich 🚀 東京{Q}}}", "wetter_abfrage", """{"stadt":"Zürich 🚀 東京"}""" },
        { "call:f{\"key\":\"va\\\"l\\u00e9\\n\\/\"}", "f", """{"key":"va\"lé\n/"}""" },
        { $"call:f{{{Q}my key{Q}:1,\"k2\":2}}", "f", """{"my key":1,"k2":2}""" },
        { $"call:f{{first name:{Q}Ann{Q}}}", "f", """{"first name":"Ann"}""" },
        { "call:f(key: \"v\", k2: 3)", "f", """{"key":"v","k2":3}""" },
        { $"call:f(a=1, b={Q}x{Q},)", "f", """{"a":1,"b":"x"}""" },
        { "call:f{a:[1,2,],b:1,}", "f", """{"a":[1,2],"b":1}""" },
        { " call : f \n{ a : [ ] , b : { } }\n", "f", """{"a":[],"b":{}}""" },
        { $"get_weather{{city:{Q}Paris{Q}}}", "get_weather", """{"city":"Paris"}""" },
        { "callback{a:1}", "callback", """{"a":1}""" },
        { "call:call{a:1}", "call", """{"a":1}""" },
        { "call:f{a:1,b:2,a:3}", "f", """{"a":3,"b":2}""" },
        { "call:f{z:1,a:2}", "f", """{"z":1,"a":2}""" },
        { $"call:f{{s:{Q}tab\there\u0001 \\ {Q}}}", "f", """{"s":"tab\there\u0001 \\ "}""" },
        { $"call:f{{s:{Q}{Q},t:{Q}<turn|> <|channel>{Q}}}", "f", """{"s":"","t":"<turn|> <|channel>"}""" },
        { "call:f{n:[[1,[2,{x:[]}]]]}", "f", """{"n":[[1,[2,{"x":[]}]]]}""" },
    };

    [Theory]
    [MemberData(nameof(ValidCalls))]
    public void Parse_ValidCall(string text, string name, string argumentsJson)
    {
        var result = Assert.Single(Gemma4ToolCallParser.Parse(text));

        Assert.True(result.Succeeded, result.Error);
        Assert.Equal(name, result.Name);
        Assert.Equal(argumentsJson, result.ArgumentsJson);
        Assert.Equal(text.Trim(), result.RawText);
    }

    public static TheoryData<string, string> InvalidCalls => new()
    {
        { "", "empty" },
        { "   \n", "empty" },
        { $"call:f{{a:{Q}Par", "no closing <|\"|>" },
        { "call:f{a:1", "ends after the value of 'a'" },
        { "call:f{a:", "ends where a value was expected" },
        { "call:f{a", "ends after the key 'a'" },
        { "call:f{a:[1,2", "ends inside an array" },
        { "call:f{a:\"abc", "no closing quote" },
        { "call:f{a:\"ab\\", "ends inside an escape" },
        { "call:f{a:\"\\q\"}", "invalid escape" },
        { "call:{a:1}", "expected a function name" },
        { "call:", "ends before the function name" },
        { "call:f", "ends after the function name 'f'" },
        { "call:f a", "expected '{' or '(' after the function name 'f'" },
        { "call:f{city:Paris}", "unexpected bare word 'Paris'" },
        { "call:f{a:1.2.3}", "invalid number" },
        { "call:f{a:-}", "invalid number '-'" },
        { "call:f{a:12abc}", "invalid number" },
        { "call:f{a:1 b:2}", "expected ',' or '}' after the value of 'a'" },
        { "call:f{:1}", "expected a key" },
        { "call:f{a:@}", "expected a value" },
        { "call:f{a:+1e999}", "out of range" },
        { "call:f{a:01x}", "invalid number" },
    };

    [Theory]
    [MemberData(nameof(InvalidCalls))]
    public void Parse_InvalidCallReportsRawText(string text, string reason)
    {
        var result = Assert.Single(Gemma4ToolCallParser.Parse(text));

        Assert.False(result.Succeeded);
        Assert.Null(result.Name);
        Assert.Null(result.ArgumentsJson);
        Assert.Contains(reason, result.Error);
        Assert.Equal(string.IsNullOrWhiteSpace(text) ? text : text.TrimStart(), result.RawText);
    }

    [Fact]
    public void Parse_ErrorNamesOffset()
    {
        var result = Assert.Single(Gemma4ToolCallParser.Parse("call:f{a:1 b:2}"));

        Assert.Equal("expected ',' or '}' after the value of 'a' but found 'b:2}' at offset 11", result.Error);
    }

    [Fact]
    public void Parse_SeveralCalls()
    {
        var results = Gemma4ToolCallParser.Parse($"call:a{{x:1}}\ncall:b{{y:{Q}}}{Q}}}");

        Assert.Collection(results,
            a => Assert.Equal(("a", """{"x":1}"""), (a.Name, a.ArgumentsJson)),
            b => Assert.Equal(("b", """{"y":"}"}"""), (b.Name, b.ArgumentsJson)));
    }

    [Fact]
    public void Parse_WrappedCalls()
    {
        var text = $"<|tool_call>call:a{{x:{Q}1{Q}}}<tool_call|><|tool_call>call:ns:b{{}}<tool_call|>";

        var results = Gemma4ToolCallParser.Parse(text);

        Assert.Collection(results,
            a => Assert.Equal(("a", """{"x":"1"}""", $"call:a{{x:{Q}1{Q}}}"), (a.Name, a.ArgumentsJson, a.RawText)),
            b => Assert.Equal(("ns:b", "{}", "call:ns:b{}"), (b.Name, b.ArgumentsJson, b.RawText)));
    }

    [Fact]
    public void Parse_FailedWrappedCallResumesAtEndMarker()
    {
        var results = Gemma4ToolCallParser.Parse("<|tool_call>call:a{x:Paris}<tool_call|><|tool_call>call:b{}<tool_call|>");

        Assert.Equal(2, results.Count);
        Assert.False(results[0].Succeeded);
        Assert.Equal("call:a{x:Paris}", results[0].RawText);
        Assert.True(results[1].Succeeded);
        Assert.Equal("b", results[1].Name);
    }

    [Fact]
    public void Parse_WrappedCallWithoutEndMarkerFails()
    {
        var result = Assert.Single(Gemma4ToolCallParser.Parse("<|tool_call>call:a{x:1} trailing"));

        Assert.False(result.Succeeded);
        Assert.Contains("expected <tool_call|>", result.Error);
        Assert.Equal("call:a{x:1} trailing", result.RawText);
    }

    [Fact]
    public void Parse_TrailingTextAfterCallFails()
    {
        var results = Gemma4ToolCallParser.Parse("call:a{} and then some");

        Assert.Equal(2, results.Count);
        Assert.True(results[0].Succeeded);
        Assert.False(results[1].Succeeded);
        Assert.Equal("and then some", results[1].RawText);
    }

    [Fact]
    public void Parse_DeepNestingFails()
    {
        var text = "call:f{a:" + new string('[', Gemma4ToolCallParser.MaxDepth + 10) + new string(']', Gemma4ToolCallParser.MaxDepth + 10) + "}";

        var result = Assert.Single(Gemma4ToolCallParser.Parse(text));

        Assert.False(result.Succeeded);
        Assert.Contains("deeper than 128", result.Error);
    }

    [Fact]
    public void Parse_LoneSurrogateEscapedInJson()
    {
        var result = Assert.Single(Gemma4ToolCallParser.Parse($"call:f{{s:{Q}a\ud800b{Q}}}"));

        Assert.Equal("""{"s":"a\ud800b"}""", result.ArgumentsJson);
    }

    /// <summary>The renderer writes arguments in the value syntax; parsing that text must give the same values back.</summary>
    [Fact]
    public void Parse_RoundTripsRenderedArguments()
    {
        var random = new Random(1234);
        for (var i = 0; i < 300; i++)
        {
            var arguments = RandomObject(random, depth: 0);
            var call = new ChatToolCall("ns:tool.get-x", arguments);
            var prompt = Gemma4ChatTemplate.Render([ChatMessage.Assistant(null, call)], options: new() { AddGenerationPrompt = false, Variant = ChatTemplateVariant.V3 });
            var start = prompt.IndexOf("<|tool_call>", StringComparison.Ordinal) + "<|tool_call>".Length;
            var end = prompt.IndexOf("<tool_call|>", StringComparison.Ordinal);

            var result = Assert.Single(Gemma4ToolCallParser.Parse(prompt[start..end]));

            Assert.True(result.Succeeded, $"{result.Error} in {result.RawText}");
            Assert.Equal("ns:tool.get-x", result.Name);
            AssertSameJson(arguments, JsonNode.Parse(result.ArgumentsJson));
        }
    }

    /// <summary>Arbitrary text made of the grammar's pieces never throws, and every success is a JSON object.</summary>
    [Fact]
    public void Parse_NeverThrowsOnRandomText()
    {
        string[] pieces = ["call:", "f", "ns:x.y-z", "{", "}", "[", "]", "(", ")", ":", ",", "=", Q, "\"", "\\", "1", "-2.5e3", ".", "true", "None", "abc", " ", "\n", "<|tool_call>", "<tool_call|>", "é", "\ud83d\ude80"];
        var random = new Random(99);
        for (var i = 0; i < 3000; i++)
        {
            var text = new StringBuilder();
            var length = random.Next(0, 24);
            for (var j = 0; j < length; j++)
            {
                text.Append(pieces[random.Next(pieces.Length)]);
            }

            foreach (var result in Gemma4ToolCallParser.Parse(text.ToString()))
            {
                if (result.Succeeded)
                {
                    Assert.Equal(JsonValueKind.Object, JsonDocument.Parse(result.ArgumentsJson).RootElement.ValueKind);
                    Assert.False(string.IsNullOrEmpty(result.Name));
                }
                else
                {
                    Assert.False(string.IsNullOrEmpty(result.Error));
                }
            }
        }
    }

    private static JsonObject RandomObject(Random random, int depth)
    {
        var result = new JsonObject();
        var count = random.Next(0, 4);
        for (var i = 0; i < count; i++)
        {
            result[$"k{random.Next(100)}_{(char)('a' + random.Next(26))}"] = RandomValue(random, depth + 1);
        }

        return result;
    }

    private static JsonNode? RandomValue(Random random, int depth)
    {
        string[] strings = ["", "Paris", "a {b}, c: d", "quote \" and \\ backslash", "line\nbreak", "Zürich 🚀", "<turn|>", "tab\t", "None"];
        return random.Next(depth > 2 ? 6 : 8) switch
        {
            0 => strings[random.Next(strings.Length)],
            1 => random.Next(-1000, 1000),
            2 => Math.Round(random.NextDouble() * 1000 - 500, random.Next(0, 6)) * Math.Pow(10, random.Next(-8, 20)),
            3 => random.Next(2) == 0,
            4 => null,
            5 => long.MinValue,
            6 => new JsonArray(Enumerable.Range(0, random.Next(0, 4)).Select(_ => RandomValue(random, depth + 1)).ToArray()),
            _ => RandomObject(random, depth),
        };
    }

    private static double ParseNumber(JsonNode number) =>
        double.Parse(number.ToJsonString(), System.Globalization.CultureInfo.InvariantCulture);

    private static void AssertSameJson(JsonNode? expected, JsonNode? actual)
    {
        switch (expected)
        {
            case null:
                Assert.Null(actual);
                break;
            case JsonObject obj:
                var actualObject = Assert.IsType<JsonObject>(actual);
                Assert.Equal(obj.Select(p => p.Key).Order(StringComparer.Ordinal), actualObject.Select(p => p.Key).Order(StringComparer.Ordinal));
                foreach (var (key, member) in obj)
                {
                    AssertSameJson(member, actualObject[key]);
                }

                break;
            case JsonArray array:
                var actualArray = Assert.IsType<JsonArray>(actual);
                Assert.Equal(array.Count, actualArray.Count);
                for (var i = 0; i < array.Count; i++)
                {
                    AssertSameJson(array[i], actualArray[i]);
                }

                break;
            default:
                var value = expected.AsValue();
                Assert.Equal(value.GetValueKind(), actual!.GetValueKind());
                if (value.GetValueKind() == JsonValueKind.Number)
                {
                    Assert.Equal(ParseNumber(value), ParseNumber(actual));
                }
                else
                {
                    Assert.Equal(value.ToJsonString(), actual.ToJsonString());
                }

                break;
        }
    }
}
