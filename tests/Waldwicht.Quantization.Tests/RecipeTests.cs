using Waldwicht.Formats.Mlx;
using Waldwicht.Quantization.Recipes;

namespace Waldwicht.Quantization.Tests;

public sealed class RecipeTests
{
    [Fact]
    public void WinzlingSettings()
    {
        var recipe = QuantizationRecipe.Parse("winzling");

        Assert.Equal("winzling", recipe.Name);
        Assert.Equal(new QuantizationParameters(5, 64), recipe.Default);
        Assert.Equal(new QuantizationParameters(5, 64), recipe.ParametersFor(QuantizationComponent.Attention));
        Assert.Equal(new QuantizationParameters(4, 64), recipe.ParametersFor(QuantizationComponent.Mlp));
        Assert.Equal(new QuantizationParameters(3, 64), recipe.ParametersFor(QuantizationComponent.PleEmbeddings));
        Assert.Equal(new QuantizationParameters(4, 64), recipe.ParametersFor(QuantizationComponent.PleGateProj));
        Assert.Equal(new QuantizationParameters(3, 64), recipe.ParametersFor(QuantizationComponent.MainEmbedLmHead));
        Assert.Equal("default=5,mlp=4,ple=3,gate=4,embed=3", recipe.Entries);
    }

    [Fact]
    public void SproesslingKeepsMlpAtDefault()
    {
        var recipe = QuantizationRecipe.Parse("Sproessling");

        Assert.Equal(new QuantizationParameters(5, 64), recipe.ParametersFor(QuantizationComponent.Mlp));
        Assert.False(recipe.Lists(QuantizationComponent.Mlp));
        Assert.Equal(new QuantizationParameters(3, 64), recipe.ParametersFor(QuantizationComponent.MainEmbedLmHead));
    }

    [Theory]
    [InlineData("juengling", 5)]
    [InlineData("uniform-2", 2)]
    [InlineData("uniform-8", 8)]
    public void UniformRecipesListNoComponent(string text, int bits)
    {
        var recipe = QuantizationRecipe.Parse(text);

        Assert.Empty(recipe.Components);
        Assert.Equal(new QuantizationParameters(bits, 64), recipe.Default);
    }

    [Fact]
    public void GroupSizeAppliesToEntriesWithoutOwn()
    {
        var recipe = QuantizationRecipe.Parse("default=4,attn=4,mlp=3@32,ple=2,gate=3,embed=2", groupSize: 128);

        Assert.Equal(new QuantizationParameters(4, 128), recipe.Default);
        Assert.Equal(new QuantizationParameters(3, 32), recipe.ParametersFor(QuantizationComponent.Mlp));
        Assert.Equal(new QuantizationParameters(2, 128), recipe.ParametersFor(QuantizationComponent.PleEmbeddings));
        Assert.Equal(new QuantizationParameters(5, 128), QuantizationRecipe.Parse("juengling", 128).Default);
        Assert.Equal(32, QuantizationRecipe.Parse("winzling", 32).ParametersFor(QuantizationComponent.Mlp).GroupSize);
    }

    [Theory]
    [InlineData("default=4,attention=3,ple_embeddings=2,ple_gate_proj=3,main_embed_lmhead=2")]
    [InlineData(" DEFAULT = 4 , Attn=3 , PLE=2, gate = 3 , Embed=2 ")]
    public void LongNamesAndAliasesAreEquivalent(string text)
    {
        var recipe = QuantizationRecipe.Parse(text);

        Assert.Equal("default=4,attn=3,ple=2,gate=3,embed=2", recipe.Entries);
        Assert.Equal(recipe.Entries, recipe.Name);
    }

    [Fact]
    public void EntriesRoundTrip()
    {
        var recipe = QuantizationRecipe.Parse("embed=2@128,default=4@32,mlp=3");
        var again = QuantizationRecipe.Parse(recipe.Entries);

        Assert.Equal(recipe.Default, again.Default);
        Assert.Equal(recipe.Components, again.Components);
        Assert.Equal("default=4@32,embed=2@128,mlp=3", recipe.Entries);
    }

    [Theory]
    [InlineData("", "empty")]
    [InlineData("   ", "empty")]
    [InlineData("foo", "Unknown recipe 'foo'")]
    [InlineData("uniform-7", "bits '7' are not supported; use 2, 3, 4, 5, 6 or 8")]
    [InlineData("uniform-1", "bits '1'")]
    [InlineData("default=4,mlps=3", "Unknown component 'mlps'")]
    [InlineData("default=4,mlp=7", "Recipe entry 'mlp=7': bits '7' are not supported")]
    [InlineData("default=4,mlp=x", "bits 'x'")]
    [InlineData("default=4,mlp=3@48", "group size '48' is not supported; use 32, 64 or 128")]
    [InlineData("default=4,mlp=3@", "group size ''")]
    [InlineData("default=4,mlp=3,mlp=4", "sets mlp twice ('mlp=3' and 'mlp=4')")]
    [InlineData("default=4,attn=3,attention=2", "sets attention twice")]
    [InlineData("default=4,default=5", "sets default twice")]
    [InlineData("default=4,,mlp=3", "empty entry")]
    [InlineData("default=4,mlp", "must have the form component=bits")]
    [InlineData("mlp=3", "sets no default")]
    public void InvalidRecipesAreRejected(string text, string message)
    {
        var exception = Assert.Throws<RecipeFormatException>(() => QuantizationRecipe.Parse(text));

        Assert.Contains(message, exception.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void InvalidGroupSizeOptionIsRejected()
    {
        var exception = Assert.Throws<RecipeFormatException>(() => QuantizationRecipe.Parse("winzling", 96));

        Assert.Contains("Group size 96 is not supported", exception.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("model.language_model.layers.3.self_attn.q_proj.weight", QuantizationComponent.Attention)]
    [InlineData("model.language_model.layers.3.self_attn.o_proj.weight", QuantizationComponent.Attention)]
    [InlineData("model.language_model.layers.3.mlp.down_proj.weight", QuantizationComponent.Mlp)]
    [InlineData("model.language_model.embed_tokens_per_layer.weight", QuantizationComponent.PleEmbeddings)]
    [InlineData("model.language_model.layers.3.per_layer_input_gate.weight", QuantizationComponent.PleGateProj)]
    [InlineData("model.language_model.layers.3.per_layer_projection.weight", QuantizationComponent.PleGateProj)]
    [InlineData("model.language_model.embed_tokens.weight", QuantizationComponent.MainEmbedLmHead)]
    [InlineData("lm_head.weight", QuantizationComponent.MainEmbedLmHead)]
    [InlineData("model.vision_tower.encoder.layers.0.self_attn.q_proj.linear.weight", QuantizationComponent.Attention)]
    public void ComponentsFollowSubstringRule(string tensor, QuantizationComponent component)
    {
        Assert.Equal(component, QuantizationRecipe.Parse("winzling").Classify(tensor));
    }

    [Theory]
    [InlineData("model.language_model.per_layer_model_projection.weight")]
    [InlineData("model.language_model.norm.weight")]
    [InlineData("model.language_model.layers.3.layer_scalar")]
    [InlineData("model.embed_vision.embedding_projection.weight")]
    public void OtherTensorsFollowDefault(string tensor)
    {
        var recipe = QuantizationRecipe.Parse("winzling");

        Assert.Null(recipe.Classify(tensor));
        Assert.Equal(recipe.Default, recipe.ParametersFor(recipe.Classify(tensor)));
    }

    [Fact]
    public void EmbedTokensPatternSkipsPerLayerNames()
    {
        Assert.False(QuantizationComponent.MainEmbedLmHead.Matches("model.language_model.embed_tokens_per_layer.weight"));
        Assert.True(QuantizationComponent.MainEmbedLmHead.Matches("model.language_model.embed_tokens.weight"));
    }
}
