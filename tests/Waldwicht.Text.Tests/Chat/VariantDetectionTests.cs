using System.Text.Json.Nodes;
using Waldwicht.Text.Chat;
using Xunit;

namespace Waldwicht.Text.Tests.Chat;

public sealed class VariantDetectionTests : IDisposable
{
    private const string V1Fragment = "{%- if enable_thinking is defined and enable_thinking -%}\n    {{- '<|think|>' -}}\n{%- endif -%}";
    private const string V2Fragment = "{%- macro format_tool_response_block(tool_name, response) -%}\n{{- '<|think|>\\n' -}}";
    private const string V3Fragment = "{%- elif ns.prev_message_type == 'tool_response'\n        and enable_thinking -%}\n    {{- '<|channel>thought\\n' -}}";

    private readonly string folder = Path.Combine(Path.GetTempPath(), "waldwicht-chat-" + Guid.NewGuid().ToString("N"));

    public VariantDetectionTests() => Directory.CreateDirectory(folder);

    public void Dispose() => Directory.Delete(folder, recursive: true);

    [Theory]
    [InlineData(null, ChatTemplateVariant.V1)]
    [InlineData("", ChatTemplateVariant.V1)]
    [InlineData("{{ messages }}", ChatTemplateVariant.V1)]
    [InlineData(V1Fragment, ChatTemplateVariant.V1)]
    [InlineData(V2Fragment, ChatTemplateVariant.V2)]
    [InlineData("{{- '<|think|>\\n' -}}", ChatTemplateVariant.V2)]
    [InlineData("{%- set continue_same_model_turn = (role == 'model') -%}", ChatTemplateVariant.V2)]
    [InlineData(V2Fragment + V3Fragment, ChatTemplateVariant.V3)]
    [InlineData("{%- set preserve_thinking = preserve_thinking | default(false) -%}", ChatTemplateVariant.V3)]
    public void DetectVariant_FromFragments(string? template, ChatTemplateVariant expected)
    {
        Assert.Equal(expected, Gemma4ChatTemplate.DetectVariant(template));
    }

    [Fact]
    public void Folder_PrefersJinjaFile()
    {
        File.WriteAllText(Path.Combine(folder, "chat_template.jinja"), V3Fragment);
        File.WriteAllText(Path.Combine(folder, "tokenizer_config.json"), new JsonObject { ["chat_template"] = V2Fragment }.ToJsonString());

        Assert.Equal(ChatTemplateVariant.V3, Gemma4ChatTemplate.DetectVariantFromModelFolder(folder));
    }

    [Fact]
    public void Folder_ChatTemplateJson()
    {
        File.WriteAllText(Path.Combine(folder, "chat_template.json"), new JsonObject { ["chat_template"] = V2Fragment }.ToJsonString());

        Assert.Equal(ChatTemplateVariant.V2, Gemma4ChatTemplate.DetectVariantFromModelFolder(folder));
    }

    [Fact]
    public void Folder_TokenizerConfigString()
    {
        File.WriteAllText(Path.Combine(folder, "tokenizer_config.json"), new JsonObject { ["chat_template"] = V3Fragment, ["bos_token"] = "<bos>" }.ToJsonString());

        Assert.Equal(ChatTemplateVariant.V3, Gemma4ChatTemplate.DetectVariantFromModelFolder(folder));
        Assert.Equal(V3Fragment, Gemma4ChatTemplate.ReadTemplateText(folder));
    }

    [Fact]
    public void Folder_TokenizerConfigNamedTemplates()
    {
        var templates = new JsonArray(
            new JsonObject { ["name"] = "tool_use", ["template"] = V1Fragment },
            new JsonObject { ["name"] = "default", ["template"] = V2Fragment });
        File.WriteAllText(Path.Combine(folder, "tokenizer_config.json"), new JsonObject { ["chat_template"] = templates }.ToJsonString());

        Assert.Equal(ChatTemplateVariant.V2, Gemma4ChatTemplate.DetectVariantFromModelFolder(folder));
    }

    [Fact]
    public void Folder_WithoutTemplateIsV1()
    {
        File.WriteAllText(Path.Combine(folder, "tokenizer_config.json"), """{"bos_token": "<bos>"}""");

        Assert.Null(Gemma4ChatTemplate.ReadTemplateText(folder));
        Assert.Equal(ChatTemplateVariant.V1, Gemma4ChatTemplate.DetectVariantFromModelFolder(folder));
    }

    [Fact]
    public void Folder_InvalidJsonNamesFile()
    {
        File.WriteAllText(Path.Combine(folder, "tokenizer_config.json"), "{ not json");

        var error = Assert.Throws<InvalidDataException>(() => Gemma4ChatTemplate.DetectVariantFromModelFolder(folder));

        Assert.Contains("tokenizer_config.json", error.Message);
    }

    [Fact]
    public void Folder_MissingThrows()
    {
        var missing = Path.Combine(folder, "nope");

        var error = Assert.Throws<DirectoryNotFoundException>(() => Gemma4ChatTemplate.DetectVariantFromModelFolder(missing));

        Assert.Contains(missing, error.Message);
    }

    [Fact]
    public void Folder_FixtureModelIsV1()
    {
        Assert.Equal(ChatTemplateVariant.V1, Gemma4ChatTemplate.DetectVariantFromModelFolder(Waldwicht.Tests.TestData.Path("tiny-gemma4")));
    }
}
