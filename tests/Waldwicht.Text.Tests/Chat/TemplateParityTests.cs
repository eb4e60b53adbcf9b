using System.Text.Json.Nodes;
using Waldwicht.Tests;
using Waldwicht.Text.Chat;
using Xunit;

namespace Waldwicht.Text.Tests.Chat;

/// <summary>
/// Compares rendered prompts with those that jinja2 3.1.6 rendered from the Gemma 4 templates with the
/// transformers settings (trim_blocks, lstrip_blocks).
/// </summary>
/// <remarks>
/// The generated conversations mix system and developer messages, text and media parts, thought channels,
/// tool calls with nested arguments, OpenAI tool messages, Gemma-native tool responses and random tool
/// schemas. V1 is the template Waldwicht models ship. The V2 and V3 prompts come from third-party copies of
/// the later google templates. Cases that the Jinja templates cannot render (an empty conversation, a V2 tool
/// message without name or matching id) are left out.
/// </remarks>
public class TemplateParityTests
{
    private static readonly Lazy<JsonArray> Cases = new(() =>
        JsonNode.Parse(File.ReadAllText(TestData.Path("..", "Waldwicht.Text.Tests", "Chat", "TemplateCases.json")))!.AsArray());

    public static TheoryData<int, string> CaseIds()
    {
        var data = new TheoryData<int, string>();
        for (var i = 0; i < Cases.Value.Count; i++)
        {
            foreach (var (variant, _) in Cases.Value[i]!["expected"]!.AsObject())
            {
                data.Add(i, variant);
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(CaseIds))]
    public void Render_MatchesJinja(int index, string variant)
    {
        var testCase = Cases.Value[index]!;
        var options = testCase["options"]!;
        var renderOptions = new ChatRenderOptions
        {
            AddGenerationPrompt = (bool)options["add_generation_prompt"]!,
            EnableThinking = (bool?)options["enable_thinking"] ?? false,
            PreserveThinking = (bool)options["preserve_thinking"]!,
            Variant = Enum.Parse<ChatTemplateVariant>(variant),
        };

        var prompt = Gemma4ChatTemplate.Render(
            ChatJson.Messages(testCase["messages"]), ChatJson.Tools(testCase["tools"]), renderOptions);

        Assert.Equal((string)testCase["expected"]![variant]!, prompt);
    }

    [Fact]
    public void Cases_CoverEveryVariant()
    {
        var variants = CaseIds().Select(row => (string)row[1]).ToHashSet();

        Assert.Equal(["V1", "V2", "V3"], variants.Order());
        Assert.True(Cases.Value.Count >= 80);
    }
}
