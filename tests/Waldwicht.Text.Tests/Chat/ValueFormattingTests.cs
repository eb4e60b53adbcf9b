using System.Text.Json.Nodes;
using Waldwicht.Text.Chat;
using Xunit;

namespace Waldwicht.Text.Tests.Chat;

/// <summary>
/// Values written as the Jinja templates write them under Python: float repr, str() of non-string schema
/// values, the trim filter's white space and dictsort order. Expected strings were produced by Python 3 and jinja2.
/// </summary>
public class ValueFormattingTests
{
    public static TheoryData<ulong, string> Floats => new()
    {
        { 0x0000000000000000UL, "0.0" },
        { 0x8000000000000000UL, "-0.0" },
        { 0x3FF0000000000000UL, "1.0" },
        { 0x4004000000000000UL, "2.5" },
        { 0x3FB999999999999AUL, "0.1" },
        { 0x4341C37937E08000UL, "1e+16" },
        { 0x430C6BF526340000UL, "1000000000000000.0" },
        { 0x4341C37937E07FFFUL, "9999999999999998.0" },
        { 0x3EE4F8B588E368F1UL, "1e-05" },
        { 0x3F1A36E2EB1C432DUL, "0.0001" },
        { 0x3F202E4B6CE5DC68UL, "0.00012345" },
        { 0x40FE240C9FBE76C9UL, "123456.789" },
        { 0xBE6172C417C771EFUL, "-3.25e-08" },
        { 0x7E37E43C8800759CUL, "1e+300" },
        { 0x0000000000000001UL, "5e-324" },
        { 0x7FEFFFFFFFFFFFFFUL, "1.7976931348623157e+308" },
        { 0x3FD5555555555555UL, "0.3333333333333333" },
        { 0x4340000000000000UL, "9007199254740992.0" },
        { 0x43E0000000000000UL, "9.223372036854776e+18" },
        { 0x4480F0CF064DD592UL, "1e+22" },
        { 0x3DE49DA7E361CE4CUL, "1.5e-10" },
        { 0x4059000000000000UL, "100.0" },
        { 0x42DC12218377DE6BUL, "123456789012345.67" },
        { 0x3F505E1C15097C81UL, "0.000999" },
        { 0x4326F4A5915114B5UL, "3230720716212826.5" },
        { 0x40EB4F2D85B378F5UL, "55929.422570930714" },
        { 0xBF79E9E623320CB8UL, "-0.0063265790696533306" },
        { 0x41E1BF65F4D017DCUL, "2382049190.5029125" },
        { 0xBEFD5D16FF906934UL, "-2.8003341842810714e-05" },
        { 0x3F3FDA6C62FBC24FUL, "0.00048604150923295825" },
        { 0xC1B20E6B05ECF301UL, "-302934789.92558295" },
        { 0x43B0D3DE89C92D07UL, "1.2125574080598525e+18" },
        { 0xBECDA64B45CB68C9UL, "-3.5345060907912373e-06" },
        { 0xC33A41DC25501032UL, "-7390763169091634.0" },
        { 0xC2AEF2FB8E86B409UL, "-17014475670362.018" },
        { 0x7FF0000000000000UL, "inf" },
        { 0xFFF0000000000000UL, "-inf" },
    };

    [Theory]
    [MemberData(nameof(Floats))]
    public void Float_WrittenAsPythonRepr(ulong bits, string expected)
    {
        var call = new ChatToolCall("f", new JsonObject { ["x"] = BitConverter.UInt64BitsToDouble(bits) });

        var prompt = Gemma4ChatTemplate.Render([ChatMessage.Assistant(null, call)], options: new() { AddGenerationPrompt = false });

        Assert.Equal($"<bos><|turn>model\n<|tool_call>call:f{{x:{expected}}}<tool_call|><turn|>\n", prompt);
    }

    [Theory]
    [InlineData("1", "1")]
    [InlineData("-0", "0")]
    [InlineData("123456789012345678901234567890", "123456789012345678901234567890")]
    [InlineData("1E2", "100.0")]
    [InlineData("2.50", "2.5")]
    [InlineData("-0.0", "-0.0")]
    [InlineData("1e400", "inf")]
    public void JsonNumber_ParsedAsPythonDoes(string json, string expected)
    {
        var call = new ChatToolCall("f", JsonNode.Parse($"{{\"x\": {json}}}")!.AsObject());

        var prompt = Gemma4ChatTemplate.Render([ChatMessage.Assistant(null, call)], options: new() { AddGenerationPrompt = false });

        Assert.Contains($"call:f{{x:{expected}}}", prompt);
    }

    [Fact]
    public void SchemaValues_WrittenAsPythonStr()
    {
        var tool = new ToolDefinition("f", "d", JsonNode.Parse("""
            {"type": "object",
             "properties": {"a": {"type": ["string", "null"],
                                  "description": {"k": [1, 2.5, null, true, "it's", "say \"hi\"\n\u0001\u00e9\u2028"]}},
                            "b": {"type": "string", "description": 7}},
             "required": ["a", 3]}
            """)!.AsObject());

        var prompt = Gemma4ChatTemplate.Render([ChatMessage.User("\u001c\u3000 x \u001f\u00a0")], [tool], new() { AddGenerationPrompt = false });

        Assert.Equal(
            """<bos><|turn>system""" + "\n" +
            """<|tool>declaration:f{description:<|"|>d<|"|>,parameters:{properties:{a:{description:<|"|>{'k': [1, 2.5, None, True, "it's", 'say "hi"\n\x01é\u2028']}<|"|>,type:<|"|>['STRING', 'NULL']<|"|>},b:{description:<|"|>7<|"|>,type:<|"|>STRING<|"|>}},required:[<|"|>a<|"|>,<|"|>3<|"|>],type:<|"|>OBJECT<|"|>}}<tool|><turn|>""" + "\n" +
            "<|turn>user\nx<turn|>\n",
            prompt);
    }

    [Fact]
    public void DictSort_CaseInsensitiveByCodePoint()
    {
        var tool = new ToolDefinition("f", "d", JsonNode.Parse("""
            {"type": "object", "properties": {"Zeta": {"type": "string"}, "alpha": {"type": "string"}, "Éclair": {"type": "string"},
                                              "_x": {"type": "string"}, "Alpha": {"type": "string"}, "ä": {"type": "string"}}}
            """)!.AsObject());

        var prompt = Gemma4ChatTemplate.Render([ChatMessage.User("x")], [tool]);

        Assert.Contains(
            "properties:{_x:{type:<|\"|>STRING<|\"|>},alpha:{type:<|\"|>STRING<|\"|>},Alpha:{type:<|\"|>STRING<|\"|>},Zeta:{type:<|\"|>STRING<|\"|>},ä:{type:<|\"|>STRING<|\"|>},Éclair:{type:<|\"|>STRING<|\"|>}}",
            prompt);
    }
}
