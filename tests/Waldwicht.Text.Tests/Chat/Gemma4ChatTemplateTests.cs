using System.Text.Json.Nodes;
using Waldwicht.Text.Chat;
using Xunit;

namespace Waldwicht.Text.Tests.Chat;

public class Gemma4ChatTemplateTests
{
    private static readonly ToolDefinition Weather = new(
        "get_weather",
        "Get the current weather for a city.",
        JsonNode.Parse("""
            {"type": "object",
             "properties": {"city": {"type": "string", "description": "City name"},
                            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}},
             "required": ["city"]}
            """)!.AsObject());

    private static readonly ToolDefinition Search = new(
        "search",
        "Search docs.",
        JsonNode.Parse("""
            {"type": "object",
             "properties": {"query": {"type": "string"},
                            "limit": {"type": "integer", "description": "Max hits"},
                            "exact": {"type": "boolean", "nullable": true},
                            "tags": {"type": "array", "items": {"type": "string"}},
                            "filter": {"type": "object", "description": "Filter",
                                       "properties": {"lang": {"type": "string"}}, "required": ["lang"]}},
             "required": ["query"]}
            """)!.AsObject());

    private const string WeatherDeclaration =
        "<|tool>declaration:get_weather{description:<|\"|>Get the current weather for a city.<|\"|>,parameters:{properties:{city:{description:<|\"|>City name<|\"|>,type:<|\"|>STRING<|\"|>},unit:{enum:[<|\"|>celsius<|\"|>,<|\"|>fahrenheit<|\"|>],type:<|\"|>STRING<|\"|>}},required:[<|\"|>city<|\"|>],type:<|\"|>OBJECT<|\"|>}}<tool|>";

    private static ChatToolCall ParisCall(string? id = null) =>
        new("get_weather", new JsonObject { ["city"] = "Paris" }, id);

    private static string Render(
        IReadOnlyList<ChatMessage> messages,
        IReadOnlyList<ToolDefinition>? tools = null,
        bool thinking = false,
        bool generationPrompt = true,
        ChatTemplateVariant variant = ChatTemplateVariant.V1) =>
        Gemma4ChatTemplate.Render(messages, tools, new ChatRenderOptions
        {
            EnableThinking = thinking,
            AddGenerationPrompt = generationPrompt,
            Variant = variant,
        });

    [Fact]
    public void V1_SingleUserTurn()
    {
        Assert.Equal(
            "<bos><|turn>user\nHello!<turn|>\n<|turn>model\n",
            Render([ChatMessage.User("Hello!")]));
    }

    [Fact]
    public void V1_SystemAndUser()
    {
        Assert.Equal(
            "<bos><|turn>system\nYou are concise.<turn|>\n<|turn>user\nWhat is 2+2?<turn|>\n<|turn>model\n",
            Render([ChatMessage.System("You are concise."), ChatMessage.User("What is 2+2?")]));
    }

    [Fact]
    public void V1_MultiTurnWithAssistantReply()
    {
        var prompt = Render(
        [
            ChatMessage.System("You are concise."),
            ChatMessage.User("What is 2+2?"),
            ChatMessage.Assistant("4"),
            ChatMessage.User("And 3+3?"),
        ]);

        Assert.Equal(
            "<bos><|turn>system\nYou are concise.<turn|>\n<|turn>user\nWhat is 2+2?<turn|>\n<|turn>model\n4<turn|>\n<|turn>user\nAnd 3+3?<turn|>\n<|turn>model\n",
            prompt);
    }

    [Fact]
    public void V1_ThinkingWithoutSystemMessage()
    {
        Assert.Equal(
            "<bos><|turn>system\n<|think|><turn|>\n<|turn>user\nHello!<turn|>\n<|turn>model\n",
            Render([ChatMessage.User("Hello!")], thinking: true));
    }

    [Fact]
    public void V1_ThinkingWithSystemMessage()
    {
        Assert.Equal(
            "<bos><|turn>system\n<|think|>You are concise.<turn|>\n<|turn>user\nHello!<turn|>\n<|turn>model\n",
            Render([ChatMessage.System("You are concise."), ChatMessage.User("Hello!")], thinking: true));
    }

    [Fact]
    public void V1_EarlierThoughtChannelIsStripped()
    {
        var prompt = Render(
        [
            ChatMessage.User("What is 2+2?"),
            ChatMessage.Assistant("<|channel>thought\nsimple sum\n<channel|>4"),
        ], generationPrompt: false);

        Assert.Equal("<bos><|turn>user\nWhat is 2+2?<turn|>\n<|turn>model\n4<turn|>\n", prompt);
    }

    [Fact]
    public void V1_ToolDeclaration()
    {
        Assert.Equal(
            $"<bos><|turn>system\n{WeatherDeclaration}<turn|>\n<|turn>user\nWeather in Paris?<turn|>\n<|turn>model\n",
            Render([ChatMessage.User("Weather in Paris?")], [Weather]));
    }

    [Fact]
    public void V1_NativeToolRoundTripLeavesTurnOpen()
    {
        var reply = new ChatMessage(ChatMessage.AssistantRole, "")
        {
            ToolCalls = [ParisCall()],
            ToolResponses = [new ChatToolResponse("get_weather", JsonNode.Parse("""{"temperature": 18, "condition": "sunny"}"""))],
        };

        var prompt = Render([ChatMessage.User("Weather in Paris?"), reply]);

        Assert.Equal(
            "<bos><|turn>user\nWeather in Paris?<turn|>\n<|turn>model\n<|tool_call>call:get_weather{city:<|\"|>Paris<|\"|>}<tool_call|><|tool_response>response:get_weather{condition:<|\"|>sunny<|\"|>,temperature:18}<tool_response|>",
            prompt);
    }

    [Fact]
    public void V1_NonMappingToolResponse()
    {
        var reply = new ChatMessage(ChatMessage.AssistantRole)
        {
            ToolResponses = [new ChatToolResponse("get_weather", JsonValue.Create("plain text result"))],
        };

        var prompt = Render([ChatMessage.User("Weather?"), reply]);

        Assert.EndsWith("<|turn>model\n<|tool_response>response:get_weather{value:<|\"|>plain text result<|\"|>}<tool_response|>", prompt);
    }

    [Fact]
    public void V1_OpenAiToolMessageIsPlainTurn()
    {
        var prompt = Render(
        [
            ChatMessage.User("Weather in Paris?"),
            ChatMessage.Assistant(null, ParisCall("call_1")),
            ChatMessage.Tool("call_1", "{\"temperature\": 18}"),
        ], [Weather]);

        Assert.Equal(
            $"<bos><|turn>system\n{WeatherDeclaration}<turn|>\n<|turn>user\nWeather in Paris?<turn|>\n<|turn>model\n<|tool_call>call:get_weather{{city:<|\"|>Paris<|\"|>}}<tool_call|><turn|>\n<|turn>tool\n{{\"temperature\": 18}}<turn|>\n<|turn>model\n",
            prompt);
    }

    [Fact]
    public void V1_NestedSchemaAndNonStringArguments()
    {
        var call = new ChatToolCall("search", JsonNode.Parse("""
            {"query": "x", "limit": 3, "exact": true, "tags": ["a", "b"], "filter": {"lang": "en"}}
            """)!.AsObject());

        var prompt = Render(
        [
            ChatMessage.System("  Be brief.  "),
            ChatMessage.User("find x"),
            ChatMessage.Assistant(null, call),
        ], [Search], thinking: true);

        Assert.Equal(
            "<bos><|turn>system\n<|think|>Be brief.<|tool>declaration:search{description:<|\"|>Search docs.<|\"|>,parameters:{properties:{exact:{nullable:true,type:<|\"|>BOOLEAN<|\"|>},filter:{description:<|\"|>Filter<|\"|>,properties:{lang:{type:<|\"|>STRING<|\"|>}},required:[<|\"|>lang<|\"|>],type:<|\"|>OBJECT<|\"|>},limit:{description:<|\"|>Max hits<|\"|>,type:<|\"|>INTEGER<|\"|>},query:{type:<|\"|>STRING<|\"|>},tags:{,items:{type:<|\"|>STRING<|\"|>}type:<|\"|>ARRAY<|\"|>}},required:[<|\"|>query<|\"|>],type:<|\"|>OBJECT<|\"|>}}<tool|><turn|>\n<|turn>user\nfind x<turn|>\n<|turn>model\n<|tool_call>call:search{exact:true,filter:{lang:<|\"|>en<|\"|>},limit:3,query:<|\"|>x<|\"|>,tags:[<|\"|>a<|\"|>,<|\"|>b<|\"|>]}<tool_call|><turn|>\n<|turn>model\n",
            prompt);
    }

    [Fact]
    public void V2_ArrayDeclarationIsCorrected()
    {
        var prompt = Render([ChatMessage.User("find x")], [Search], variant: ChatTemplateVariant.V2);

        Assert.Contains("tags:{items:{type:<|\"|>STRING<|\"|>},type:<|\"|>ARRAY<|\"|>}", prompt);
        Assert.Contains("filter:{description:<|\"|>Filter<|\"|>,properties:{lang:{type:<|\"|>STRING<|\"|>}},required:[<|\"|>lang<|\"|>],type:<|\"|>OBJECT<|\"|>}", prompt);
    }

    [Theory]
    [InlineData(ChatTemplateVariant.V1)]
    [InlineData(ChatTemplateVariant.V2)]
    [InlineData(ChatTemplateVariant.V3)]
    public void SystemTurn_OnlyWhenNeeded(ChatTemplateVariant variant)
    {
        var plain = Render([ChatMessage.User("Hi")], variant: variant);
        var developer = Render([ChatMessage.Developer("Rules."), ChatMessage.User("Hi")], variant: variant);
        var laterSystem = Render([ChatMessage.User("Hi"), ChatMessage.System("Late.")], variant: variant);

        Assert.DoesNotContain("<|turn>system", plain);
        Assert.StartsWith("<bos><|turn>system\nRules.<turn|>\n<|turn>user\nHi", developer);
        Assert.Equal("<bos><|turn>user\nHi<turn|>\n<|turn>system\nLate.<turn|>\n<|turn>model\n", laterSystem);
    }

    [Fact]
    public void V1_TrimsUserTextAndContentParts()
    {
        var parts = ChatContent.FromParts(
        [
            ChatContentPart.FromText("  Look: "),
            ChatContentPart.Image(),
            ChatContentPart.FromText(" and listen "),
            ChatContentPart.Audio(),
            ChatContentPart.Video(),
            new ChatContentPart("file"),
        ]);

        var prompt = Render([new ChatMessage(ChatMessage.UserRole, parts), ChatMessage.User("\t spaced \n")]);

        Assert.Equal(
            "<bos><|turn>user\nLook:\n\n<|image|>\n\nand listen<|audio|>\n\n<|video|>\n\n<turn|>\n<|turn>user\nspaced<turn|>\n<|turn>model\n",
            prompt);
    }

    [Theory]
    [InlineData("pre<|channel>x<channel|>mid<|channel>y<channel|>post", "premidpost")]
    [InlineData("dangling <|channel>never closed", "dangling")]
    [InlineData("stray <channel|> end", "stray  end")]
    [InlineData("  <|channel>thought\nonly thinking<channel|>  ", "")]
    public void V1_StripThinkingEdgeCases(string reply, string rendered)
    {
        var prompt = Render([ChatMessage.Assistant(reply)], generationPrompt: false);

        Assert.Equal($"<bos><|turn>model\n{rendered}<turn|>\n", prompt);
    }

    [Fact]
    public void V1_OtherRolesPassThrough()
    {
        var prompt = Render([new ChatMessage("ipython", "out"), new ChatMessage("model", "  <|channel>t<channel|>raw ")]);

        Assert.Equal("<bos><|turn>ipython\nout<turn|>\n<|turn>model\nraw<turn|>\n<|turn>model\n", prompt);
    }

    [Fact]
    public void Arguments_SortedKeysAndPythonValues()
    {
        var call = new ChatToolCall("f", JsonNode.Parse("""
            {"a": 2.5, "b": 1e16, "c": 1e-5, "d": null, "e": -0.0, "f": 100000000000000000000, "g": "x",
             "h": {"B": 1, "a": 2, "A": 3}, "i": 3, "j": 1.0, "k": [true, false, []]}
            """)!.AsObject());

        var v1 = Render([ChatMessage.User("x"), ChatMessage.Assistant(null, call)], generationPrompt: false);
        var v3 = Render([ChatMessage.User("x"), ChatMessage.Assistant(null, call)], generationPrompt: false, variant: ChatTemplateVariant.V3);

        Assert.Contains("call:f{a:2.5,b:1e+16,c:1e-05,d:None,e:-0.0,f:100000000000000000000,g:<|\"|>x<|\"|>,h:{a:2,A:3,B:1},i:3,j:1.0,k:[true,false,[]]}", v1);
        Assert.Contains("d:null,", v3);
    }

    [Fact]
    public void Arguments_ClrNumbersKeepTheirType()
    {
        var call = new ChatToolCall("f", new JsonObject { ["n"] = 3, ["x"] = 2.0, ["y"] = 0.5f, ["big"] = long.MaxValue });

        var prompt = Render([ChatMessage.Assistant(null, call)], generationPrompt: false);

        Assert.Contains("call:f{big:9223372036854775807,n:3,x:2.0,y:0.5}", prompt);
    }

    [Fact]
    public void ArgumentsText_WrittenVerbatimOrUnwrapped()
    {
        var text = ChatToolCall.FromArgumentsJson("f", " {a:1} ");
        var json = ChatToolCall.FromArgumentsJson("f", """{"b": "x", "a": 1}""");
        var jsonString = ChatToolCall.FromArgumentsJson("f", "\"raw text\"");
        var jsonArray = ChatToolCall.FromArgumentsJson("f", "[1, 2]");

        Assert.Equal(" {a:1} ", text.ArgumentsText);
        Assert.Null(text.Arguments);
        Assert.Equal("raw text", jsonString.ArgumentsText);
        Assert.Null(jsonArray.Arguments);
        Assert.Null(jsonArray.ArgumentsText);
        Assert.Contains("call:f{ {a:1} }", Render([ChatMessage.Assistant(null, text)]));
        Assert.Contains("call:f{a:1}<", Render([ChatMessage.Assistant(null, text)], variant: ChatTemplateVariant.V3));
        Assert.Contains("call:f{a:1,b:<|\"|>x<|\"|>}", Render([ChatMessage.Assistant(null, json)]));
        Assert.Contains("call:f{raw text}", Render([ChatMessage.Assistant(null, jsonString)]));
        Assert.Contains("call:f{}", Render([ChatMessage.Assistant(null, jsonArray)]));
    }

    [Fact]
    public void ArgumentsJson_DuplicateKeyLastValueWins()
    {
        var call = ChatToolCall.FromArgumentsJson("f", """{"b": 1, "a": {"x": 1, "x": 2}, "b": 3}""");

        Assert.Equal("""{"b":3,"a":{"x":2}}""", call.Arguments!.ToJsonString());
        Assert.Contains("call:f{a:{x:2},b:3}", Render([ChatMessage.Assistant(null, call)]));
    }

    [Fact]
    public void V1_ToolResponseWithoutNameIsUnknown()
    {
        var reply = new ChatMessage(ChatMessage.AssistantRole)
        {
            ToolResponses = [new ChatToolResponse(null, JsonValue.Create(7)), new ChatToolResponse("", null)],
        };

        var v1 = Render([reply]);
        var v3 = Render([reply], variant: ChatTemplateVariant.V3);

        Assert.Equal("<bos><|turn>model\n<|tool_response>response:unknown{value:7}<tool_response|><|tool_response>response:{value:None}<tool_response|>", v1);
        Assert.EndsWith("<|tool_response>response:unknown{value:null}<tool_response|>", v3);
    }

    [Fact]
    public void V1_ToolResponsesWithContentCloseTheTurn()
    {
        var reply = new ChatMessage(ChatMessage.AssistantRole, "It is sunny.")
        {
            ToolResponses = [new ChatToolResponse("get_weather", new JsonObject { ["sky"] = "clear" })],
        };

        // The last rendered item is still a tool response, so no generation prompt follows.
        Assert.Equal(
            "<bos><|turn>model\n<|tool_response>response:get_weather{sky:<|\"|>clear<|\"|>}<tool_response|>It is sunny.<turn|>\n",
            Render([reply]));
    }

    [Fact]
    public void V1_GenerationPromptOptional()
    {
        Assert.Equal("<bos><|turn>user\nHi<turn|>\n", Render([ChatMessage.User("Hi")], generationPrompt: false));
    }

    [Fact]
    public void EmptyConversation_RendersSystemAndPrompt()
    {
        Assert.Equal("<bos><|turn>model\n", Render([]));
        Assert.Equal("<bos><|turn>system\n<|think|>\n<turn|>\n<|turn>model\n", Render([], thinking: true, variant: ChatTemplateVariant.V3));
    }

    [Fact]
    public void V2_OpenAiRoundTripFoldsToolMessage()
    {
        var prompt = Render(
        [
            ChatMessage.User("Weather in Paris?"),
            ChatMessage.Assistant(null, ParisCall("call_1")),
            ChatMessage.Tool("call_1", "{\"temperature\": 18}"),
        ], [Weather], variant: ChatTemplateVariant.V2);

        Assert.Equal(
            $"<bos><|turn>system\n{WeatherDeclaration}<turn|>\n<|turn>user\nWeather in Paris?<turn|>\n<|turn>model\n<|tool_call>call:get_weather{{city:<|\"|>Paris<|\"|>}}<tool_call|><|tool_response>response:get_weather{{value:<|\"|>{{\"temperature\": 18}}<|\"|>}}<tool_response|>",
            prompt);
    }

    [Fact]
    public void V2_ThinkTokenFollowedByNewline()
    {
        Assert.StartsWith("<bos><|turn>system\n<|think|>\nBe brief.<turn|>\n",
            Render([ChatMessage.System("Be brief."), ChatMessage.User("Hi")], thinking: true, variant: ChatTemplateVariant.V2));
    }

    [Fact]
    public void V2_SystemPartsGetSpaces()
    {
        var system = new ChatMessage(ChatMessage.SystemRole, ChatContent.FromParts([ChatContentPart.FromText(" A "), ChatContentPart.FromText("B")]));

        Assert.StartsWith("<bos><|turn>system\nA B <turn|>\n", Render([system, ChatMessage.User("Hi")], variant: ChatTemplateVariant.V2));
    }

    [Fact]
    public void V2_ToolNameResolution()
    {
        var prompt = Render(
        [
            ChatMessage.Assistant(null, ParisCall("a"), new ChatToolCall("search", null, "b")),
            ChatMessage.Tool("b", "found"),
            ChatMessage.Tool("zzz", "other", name: "custom"),
            ChatMessage.Tool("zzz", "anonymous"),
        ], variant: ChatTemplateVariant.V2);

        Assert.EndsWith(
            "<|tool_response>response:search{value:<|\"|>found<|\"|>}<tool_response|><|tool_response>response:custom{value:<|\"|>other<|\"|>}<tool_response|><|tool_response>response:unknown{value:<|\"|>anonymous<|\"|>}<tool_response|>",
            prompt);
    }

    [Fact]
    public void V2_ReasoningReplayedBeforeRecentCalls()
    {
        var reply = new ChatMessage(ChatMessage.AssistantRole)
        {
            Reasoning = "need weather",
            ToolCalls = [new ChatToolCall("get_weather", JsonNode.Parse("""{"city": "Paris", "unit": null}""")!.AsObject(), "c")],
        };

        Assert.Equal(
            "<bos><|turn>user\nHi<turn|>\n<|turn>model\n<|channel>thought\nneed weather\n<channel|><|tool_call>call:get_weather{city:<|\"|>Paris<|\"|>,unit:None}<tool_call|><|tool_response>",
            Render([ChatMessage.User("Hi"), reply], variant: ChatTemplateVariant.V2));
        Assert.Equal(
            "<bos><|turn>user\nHi<turn|>\n<|turn>model\n<|tool_call>call:get_weather{city:<|\"|>Paris<|\"|>,unit:None}<tool_call|><turn|>\n<|turn>model\n",
            Render([ChatMessage.User("Hi"), reply]));
    }

    [Fact]
    public void V2_AssistantAfterAssistantContinuesTurn()
    {
        var messages = new[]
        {
            ChatMessage.User("Hi"),
            new ChatMessage(ChatMessage.AssistantRole, "Let me check.") { Reasoning = "need data" },
            ChatMessage.Assistant("Done."),
        };

        Assert.Equal(
            "<bos><|turn>user\nHi<turn|>\n<|turn>model\nLet me check.<turn|>\nDone.<turn|>\n<|turn>model\n",
            Render(messages, variant: ChatTemplateVariant.V2));
        Assert.Equal(
            "<bos><|turn>user\nHi<turn|>\n<|turn>model\n<|channel>thought\nneed data\n<channel|>Let me check.Done.<turn|>\n<|turn>model\n",
            Render(messages, variant: ChatTemplateVariant.V3));
    }

    [Fact]
    public void V3_OpensThoughtChannelAfterToolResponse()
    {
        var messages = new[]
        {
            ChatMessage.User("Weather in Paris?"),
            ChatMessage.Assistant(null, ParisCall("call_1")),
            ChatMessage.Tool("call_1", "{\"temperature\": 18}"),
        };

        var thinking = Render(messages, thinking: true, variant: ChatTemplateVariant.V3);
        var v2 = Render(messages, thinking: true, variant: ChatTemplateVariant.V2);

        Assert.Equal(
            "<bos><|turn>system\n<|think|>\n<turn|>\n<|turn>user\nWeather in Paris?<turn|>\n<|turn>model\n<|tool_call>call:get_weather{city:<|\"|>Paris<|\"|>}<tool_call|><|tool_response>response:get_weather{value:<|\"|>{\"temperature\": 18}<|\"|>}<tool_response|><|channel>thought\n",
            thinking);
        Assert.EndsWith("<tool_response|>", v2);
        Assert.True(Gemma4OutputSplitter.ForPrompt(thinking).AppendToken("plan", isSpecial: false) is [ReasoningDelta { Text: "plan" }]);
    }

    [Fact]
    public void V3_ClosesAnsweredTurnBeforeUser()
    {
        var reply = new ChatMessage(ChatMessage.AssistantRole)
        {
            ToolResponses = [new ChatToolResponse("f", JsonValue.Create(1))],
        };

        var v2 = Render([reply, ChatMessage.User("next")], variant: ChatTemplateVariant.V2);
        var v3 = Render([reply, ChatMessage.User("next")], variant: ChatTemplateVariant.V3);

        Assert.Equal("<bos><|turn>model\n<|tool_response>response:f{value:1}<tool_response|><|turn>user\nnext<turn|>\n<|turn>model\n", v2);
        Assert.Equal("<bos><|turn>model\n<|tool_response>response:f{value:1}<tool_response|><turn|>\n<|turn>user\nnext<turn|>\n<|turn>model\n", v3);
    }

    [Fact]
    public void V3_MediaAliasesInContent()
    {
        var parts = ChatContent.FromParts([new ChatContentPart("image_url"), new ChatContentPart("input_audio"), ChatContentPart.FromText("x")]);

        Assert.Equal("<bos><|turn>user\nx<turn|>\n<|turn>model\n", Render([new ChatMessage("user", parts)], variant: ChatTemplateVariant.V2));
        Assert.Equal("<bos><|turn>user\n<|image|><|audio|>x<turn|>\n<|turn>model\n", Render([new ChatMessage("user", parts)], variant: ChatTemplateVariant.V3));
    }

    [Fact]
    public void Declaration_KeywordNamedParameters()
    {
        var tool = new ToolDefinition("f", "d", JsonNode.Parse("""
            {"type": "object", "properties": {"type": {"type": "string"}, "q": {"type": "object", "additionalProperties": {"type": "string"}}}}
            """)!.AsObject(), JsonNode.Parse("""{"type": "object", "description": "Result"}""")!.AsObject());

        var v1 = Render([ChatMessage.User("x")], [tool]);
        var v2 = Render([ChatMessage.User("x")], [tool], variant: ChatTemplateVariant.V2);

        Assert.Contains("declaration:f{description:<|\"|>d<|\"|>,parameters:{properties:{q:{,properties:{additionalProperties:{type:<|\"|>STRING<|\"|>}}type:<|\"|>OBJECT<|\"|>}},type:<|\"|>OBJECT<|\"|>},response:{description:<|\"|>Result<|\"|>,type:<|\"|>OBJECT<|\"|>}}", v1);
        Assert.Contains("properties:{q:{properties:{additionalProperties:{type:<|\"|>STRING<|\"|>}},type:<|\"|>OBJECT<|\"|>},type:{type:<|\"|>STRING<|\"|>}}", v2);
    }

    [Fact]
    public void Declaration_InvalidSchemaNamesPath()
    {
        var badRequired = new ToolDefinition("f", "d", JsonNode.Parse("""{"type": "object", "required": true}""")!.AsObject());
        var badProperties = new ToolDefinition("g", "d", JsonNode.Parse("""{"type": "object", "properties": ["a"]}""")!.AsObject());

        var required = Assert.Throws<ArgumentException>(() => Render([ChatMessage.User("x")], [badRequired]));
        var properties = Assert.Throws<ArgumentException>(() => Render([ChatMessage.User("x")], [badProperties]));

        Assert.Contains("Tool 'f': parameters.required must be a list", required.Message);
        Assert.Contains("Tool 'g': parameters.properties must be an object", properties.Message);
    }

    [Fact]
    public void Render_RejectsNullMessage()
    {
        var error = Assert.Throws<ArgumentException>(() => Gemma4ChatTemplate.Render([ChatMessage.User("a"), null!]));

        Assert.Contains("Message 1 is null", error.Message);
    }

    [Fact]
    public void Render_RejectsNullTool()
    {
        var error = Assert.Throws<ArgumentException>(() => Gemma4ChatTemplate.Render([ChatMessage.User("a")], [Weather, null!]));

        Assert.Contains("Tool 1 is null", error.Message);
    }

    [Fact]
    public void Message_RejectsNullListItems()
    {
        var calls = Assert.Throws<ArgumentException>(() => new ChatMessage("assistant") { ToolCalls = [ParisCall(), null!] });
        var responses = Assert.Throws<ArgumentNullException>(() => new ChatMessage("assistant") { ToolResponses = null! });

        Assert.Contains("ToolCalls[1] is null", calls.Message);
        Assert.Equal("ToolResponses", responses.ParamName);
        Assert.Throws<ArgumentNullException>(() => new ToolDefinition(null!, "d"));
        Assert.Throws<ArgumentException>(() => new ChatMessage(""));
    }

    [Fact]
    public void Render_RejectsUnknownVariant()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() =>
            Gemma4ChatTemplate.Render([ChatMessage.User("a")], options: new ChatRenderOptions { Variant = (ChatTemplateVariant)7 }));
    }

    [Fact]
    public void ContentPart_TextRequiresText()
    {
        Assert.Throws<ArgumentException>(() => new ChatContentPart("text"));
        Assert.Throws<ArgumentException>(() => ChatContent.FromParts([ChatContentPart.Image(), null!]));
    }
}
