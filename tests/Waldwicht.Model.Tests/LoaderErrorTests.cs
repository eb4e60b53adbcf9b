using System.Text.Json.Nodes;
using Waldwicht.Formats.Safetensors;
using Waldwicht.Model.Gemma4;
using Waldwicht.Tests;

namespace Waldwicht.Model.Tests;

/// <summary>Loading malformed model folders fails with messages that name the defect.</summary>
public sealed class LoaderErrorTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("waldwicht-loader-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    [Fact]
    public void MissingConfigIsReported()
    {
        var error = Assert.Throws<ModelFormatException>(() => Gemma4Model.Load(_folder));
        Assert.Contains("config.json not found", error.Message);
    }

    [Fact]
    public void OtherModelTypeIsRejected()
    {
        File.WriteAllText(Path.Combine(_folder, "config.json"), """{"model_type": "llama", "hidden_size": 64}""");
        var error = Assert.Throws<ModelFormatException>(() => Gemma4Model.Load(_folder));
        Assert.Contains("model_type 'llama'", error.Message);
    }

    [Fact]
    public void InvalidConfigJsonIsReported()
    {
        File.WriteAllText(Path.Combine(_folder, "config.json"), "{ not json");
        var error = Assert.Throws<ModelFormatException>(() => Gemma4Model.Load(_folder));
        Assert.Contains("not valid JSON", error.Message);
    }

    [Fact]
    public void MissingTensorIsNamed()
    {
        CopyFixtureWithout("", "model.language_model.layers.2.mlp.up_proj.weight");
        var error = Assert.Throws<ModelFormatException>(() => Gemma4Model.Load(_folder));
        Assert.Contains("model.language_model.layers.2.mlp.up_proj.weight", error.Message);
    }

    [Fact]
    public void SharedLayerKeysAndValuesMayBeAbsent()
    {
        CopyFixtureWithout("", "model.language_model.layers.7.self_attn.k_proj.weight",
            "model.language_model.layers.7.self_attn.v_proj.weight", "model.language_model.layers.7.self_attn.k_norm.weight");
        using var model = Gemma4Model.Load(_folder);
        Assert.Null(model.Weights.Layers[7].KProj);
    }

    [Fact]
    public void UnusedSharedLayerTensorsAreListed()
    {
        using var model = Gemma4Model.Load(TestData.Path("tiny-gemma4"));
        Assert.Contains("model.language_model.layers.6.self_attn.k_proj.weight", model.Weights.IgnoredTensors);
        Assert.Equal(12, model.Weights.IgnoredTensors.Count);
    }

    [Fact]
    public void WrongShapeIsNamed()
    {
        CopyFixture("");
        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(_folder, "config.json")))!;
        config["text_config"]!["intermediate_size"] = 96;
        File.WriteAllText(Path.Combine(_folder, "config.json"), config.ToJsonString());
        var error = Assert.Throws<ModelFormatException>(() => Gemma4Model.Load(_folder));
        Assert.Contains("layers.0.mlp.gate_proj.weight' has shape [128, 64], expected [96, 64]", error.Message);
    }

    [Fact]
    public void ConfiguredBitsMustMatchShapes()
    {
        CopyFixture("winzling-export");
        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(_folder, "config.json")))!;
        config["quantization"]!["down_proj"]!["bits"] = 5;
        File.WriteAllText(Path.Combine(_folder, "config.json"), config.ToJsonString());
        var error = Assert.Throws<ModelFormatException>(() => Gemma4Model.Load(_folder));
        Assert.Contains("mlp.down_proj", error.Message);
        Assert.Contains("config.json gives 5 bits and group size 64", error.Message);
        Assert.Contains("give 4 bits and group size 64", error.Message);
    }

    [Fact]
    public void StaleQuantizationConfigIsIgnored()
    {
        CopyFixture("winzling-like-release-layout");
        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(_folder, "config.json")))!;
        Assert.NotNull(config["quantization_config"]);
        using var model = Gemma4Model.Load(_folder);
        var embed = Assert.IsType<Waldwicht.Numerics.Matrices.QuantizedMatrix>(model.Weights.EmbedTokens);
        Assert.Equal(3, embed.Bits);
    }

    [Fact]
    public void TokenOutOfRangeIsRejected()
    {
        using var model = Gemma4Model.Load(TestData.Path("tiny-gemma4"));
        var session = model.CreateSession();
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => session.Forward([2, 512], new float[512]));
        Assert.Contains("between 0 and 511", error.Message);
    }

    private void CopyFixture(string variant)
    {
        foreach (var file in Directory.GetFiles(TestData.Path("tiny-gemma4", variant)))
        {
            File.Copy(file, Path.Combine(_folder, Path.GetFileName(file)));
        }
    }

    private void CopyFixtureWithout(string variant, params string[] dropped)
    {
        foreach (var file in Directory.GetFiles(TestData.Path("tiny-gemma4", variant)))
        {
            if (!file.EndsWith(".safetensors", StringComparison.Ordinal) || Path.GetFileName(file) != "model.safetensors")
            {
                File.Copy(file, Path.Combine(_folder, Path.GetFileName(file)));
            }
        }

        using var source = SafetensorsFile.Open(TestData.Path("tiny-gemma4", variant, "model.safetensors"));
        var remaining = source.Tensors.Where(t => !dropped.Contains(t.Name)).ToList();
        using var writer = SafetensorsWriter.Create(Path.Combine(_folder, "model.safetensors"), remaining.Select(TensorDeclaration.From));
        foreach (var tensor in remaining)
        {
            writer.Write(tensor.Name, source.GetBytes(tensor));
        }

        writer.Complete();
    }
}
