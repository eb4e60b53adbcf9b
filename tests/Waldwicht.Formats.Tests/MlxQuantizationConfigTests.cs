using System.Text.Json;
using Waldwicht.Formats.Mlx;
using Waldwicht.Formats.Safetensors;
using Waldwicht.Tests;

namespace Waldwicht.Formats.Tests;

public sealed class MlxQuantizationConfigTests
{
    private const string MlxPath = "language_model.model.layers.3.mlp.down_proj";
    private const string HfPath = "model.language_model.layers.3.mlp.down_proj";

    [Fact]
    public void FullPathInEitherNamingStyle()
    {
        var mlxKeyed = Block($$$"""{"bits":5,"group_size":64,"{{{MlxPath}}}":{"bits":4,"group_size":32}}""");
        var hfKeyed = Block($$$"""{"bits":5,"group_size":64,"{{{HfPath}}}":{"bits":3,"group_size":128}}""");

        Assert.Equal(new QuantizationParameters(4, 32), mlxKeyed.Resolve([MlxPath, HfPath], hasScales: true));
        Assert.Equal(new QuantizationParameters(4, 32), mlxKeyed.Resolve([HfPath, MlxPath], hasScales: true));
        Assert.Equal(new QuantizationParameters(3, 128), hfKeyed.Resolve([MlxPath, HfPath], hasScales: true));
        Assert.Equal(new QuantizationParameters(3, 128), hfKeyed.Resolve(HfPath, hasScales: true));
    }

    [Fact]
    public void FullPathWinsOverLeaf()
    {
        var config = Block($$$"""{"bits":5,"group_size":64,"down_proj":{"bits":4,"group_size":64},"{{{MlxPath}}}":{"bits":8,"group_size":32}}""");

        Assert.Equal(new QuantizationParameters(8, 32), config.Resolve([MlxPath, HfPath], hasScales: true));
        Assert.Equal(new QuantizationParameters(4, 64), config.Resolve("language_model.model.layers.4.mlp.down_proj", hasScales: true));
    }

    [Fact]
    public void FirstMatchingPathWins()
    {
        var config = Block($$$"""{"bits":5,"group_size":64,"{{{MlxPath}}}":{"bits":4,"group_size":64},"{{{HfPath}}}":{"bits":2,"group_size":64}}""");

        Assert.Equal(new QuantizationParameters(2, 64), config.Resolve([HfPath, MlxPath], hasScales: true));
    }

    [Fact]
    public void TrueAndFalseEntries()
    {
        var config = Block($$$"""{"bits":5,"group_size":64,"down_proj":{"bits":4,"group_size":64},"{{{MlxPath}}}":true,"language_model.model.layers.4.mlp.down_proj":false}""");

        Assert.Equal(new QuantizationParameters(5, 64), config.Resolve(MlxPath, hasScales: true));
        Assert.Null(config.Resolve(MlxPath, hasScales: false));
        Assert.Null(config.Resolve("language_model.model.layers.4.mlp.down_proj", hasScales: false));
    }

    [Fact]
    public void FalseEntryWithScalesRejected()
    {
        var config = Block("""{"bits":5,"group_size":64,"language_model.model.embed_tokens":false}""");

        var error = Assert.Throws<FormatException>(() => config.Resolve("language_model.model.embed_tokens", hasScales: true));

        Assert.Equal(
            "config.json quantization: entry 'language_model.model.embed_tokens' is false (not quantized), but the checkpoint stores language_model.model.embed_tokens.scales; remove the entry or the quantized tensors.",
            error.Message);
    }

    [Fact]
    public void LeafKeysNeedObjectValues()
    {
        var config = Block("""{"bits":5,"group_size":64,"down_proj":true,"up_proj":false,"gate_proj":3}""");

        Assert.Equal(new QuantizationParameters(5, 64), config.Resolve("language_model.model.layers.0.mlp.down_proj", hasScales: true));
        Assert.Equal(new QuantizationParameters(5, 64), config.Resolve("language_model.model.layers.0.mlp.up_proj", hasScales: true));
        Assert.Equal(new QuantizationParameters(5, 64), config.Resolve("language_model.model.layers.0.mlp.gate_proj", hasScales: true));
        Assert.Null(config.Resolve("language_model.model.layers.0.mlp.up_proj", hasScales: false));
    }

    [Fact]
    public void LeafMatchesByEquality()
    {
        var config = Block("""{"bits":5,"group_size":64,"per_layer_projection":{"bits":4,"group_size":64},"embed_tokens":{"bits":3,"group_size":64}}""");

        Assert.Equal(new QuantizationParameters(4, 64), config.Resolve("language_model.model.layers.2.per_layer_projection", hasScales: true));
        Assert.Equal(new QuantizationParameters(5, 64), config.Resolve("language_model.model.per_layer_model_projection", hasScales: true));
        Assert.Equal(new QuantizationParameters(3, 64), config.Resolve("language_model.model.embed_tokens", hasScales: true));
        Assert.Equal(new QuantizationParameters(5, 64), config.Resolve("language_model.model.embed_tokens_per_layer", hasScales: true));
    }

    [Fact]
    public void GlobalsOnlyWithScales()
    {
        var config = Block("""{"bits":5,"group_size":64,"per_layer_projection":{"bits":4,"group_size":64}}""");

        Assert.Equal(new QuantizationParameters(5, 64), config.Resolve("language_model.model.layers.0.self_attn.q_proj", hasScales: true));
        Assert.Null(config.Resolve("language_model.model.layers.0.self_attn.q_proj", hasScales: false));

        // An entry never forces quantization onto a module stored as a float matrix.
        Assert.Null(config.Resolve("language_model.model.layers.0.per_layer_projection", hasScales: false));
    }

    [Fact]
    public void OverrideFieldsDefaultToMlxDefaults()
    {
        var config = Block("""{"bits":5,"group_size":32,"down_proj":{"bits":8},"up_proj":{"group_size":128},"gate_proj":{}}""");

        Assert.Equal(new QuantizationParameters(8, 64), config.Resolve("x.down_proj", hasScales: true));
        Assert.Equal(new QuantizationParameters(4, 128), config.Resolve("x.up_proj", hasScales: true));
        Assert.Equal(new QuantizationParameters(4, 64), config.Resolve("x.gate_proj", hasScales: true));
    }

    [Fact]
    public void StaleMirrorIgnored()
    {
        var config = FromConfig("""{"quantization":{"bits":5,"group_size":64,"down_proj":{"bits":4,"group_size":64}},"quantization_config":{"group_size":64,"bits":3,"mode":"affine"}}""")!;

        Assert.Equal("quantization", config.SourceKey);
        Assert.Equal(new QuantizationParameters(5, 64), config.Global);
        Assert.Equal(["down_proj"], config.OverrideKeys);
        Assert.Equal(
            "config.json: quantization_config (bits 3, group_size 64) differs from quantization (bits 5, group_size 64); quantization is used, as mlx-lm does.",
            config.Warning);
    }

    [Fact]
    public void IdenticalMirrorGivesNoWarning()
    {
        var config = FromConfig("""{"quantization":{"group_size":64,"bits":4,"mode":"affine"},"quantization_config":{"group_size":64,"bits":4,"mode":"affine"}}""")!;

        Assert.Null(config.Warning);
        Assert.Equal("affine", config.Mode);
    }

    [Fact]
    public void MirrorAloneIsUsed()
    {
        var top = FromConfig("""{"quantization_config":{"group_size":32,"bits":3}}""")!;
        var nested = FromConfig("""{"text_config":{"quantization_config":{"group_size":128,"bits":6}}}""")!;

        Assert.Equal(("quantization_config", new QuantizationParameters(3, 32)), (top.SourceKey, top.Global));
        Assert.Equal(new QuantizationParameters(6, 128), nested.Global);
    }

    [Theory]
    [InlineData("""{"model_type":"gemma4"}""")]
    [InlineData("""{"quantization":null}""")]
    [InlineData("""{"quantization":null,"quantization_config":null}""")]
    public void UnquantizedConfig(string json)
    {
        Assert.Null(FromConfig(json));
    }

    [Theory]
    [InlineData("""[]""", "config.json must be a JSON object, found Array.")]
    [InlineData("""{"quantization":4}""", "config.json quantization: must be an object, found Number.")]
    [InlineData("""{"quantization":{"group_size":64}}""", "config.json quantization: 'bits' is missing; the quantization block needs the global bits and group_size.")]
    [InlineData("""{"quantization":{"bits":4}}""", "config.json quantization: 'group_size' is missing; the quantization block needs the global bits and group_size.")]
    [InlineData("""{"quantization":{"bits":"4","group_size":64}}""", "config.json quantization: 'bits' must be an integer, found \"4\".")]
    [InlineData("""{"quantization":{"bits":4.5,"group_size":64}}""", "config.json quantization: 'bits' must be an integer, found 4.5.")]
    [InlineData("""{"quantization":{"bits":7,"group_size":64}}""", "config.json quantization: bits 7 with group_size 64 is not supported; bits must be 2, 3, 4, 5, 6 or 8 and group_size 32, 64 or 128.")]
    [InlineData("""{"quantization":{"bits":4,"group_size":16}}""", "config.json quantization: bits 4 with group_size 16 is not supported; bits must be 2, 3, 4, 5, 6 or 8 and group_size 32, 64 or 128.")]
    [InlineData("""{"quantization":{"bits":4,"group_size":32,"mode":"mxfp4"}}""", "config.json quantization: mode \"mxfp4\" is not supported; only \"affine\" quantization can be loaded.")]
    [InlineData("""{"quantization_config":{"quant_method":"awq","bits":4}}""", "config.json: quantization_config uses quant_method \"awq\", which is not MLX affine quantization; convert the model to MLX format first.")]
    [InlineData("""{"quantization_config":"x"}""", "config.json quantization_config: must be an object, found String.")]
    public void InvalidBlocks(string json, string message)
    {
        var error = Assert.Throws<FormatException>(() => FromConfig(json));

        Assert.Equal(message, error.Message);
    }

    [Theory]
    [InlineData("""{"bits":7,"group_size":64}""", "config.json quantization.down_proj: bits 7 with group_size 64 is not supported; bits must be 2, 3, 4, 5, 6 or 8 and group_size 32, 64 or 128.")]
    [InlineData("""{"bits":"4"}""", "config.json quantization.down_proj: 'bits' must be an integer, found \"4\".")]
    [InlineData("""{"bits":4,"mode":"nvfp4"}""", "config.json quantization.down_proj: mode \"nvfp4\" is not supported; only \"affine\" quantization can be loaded.")]
    public void InvalidOverrideRaisedWhenResolved(string entry, string message)
    {
        var config = Block($$$"""{"bits":5,"group_size":64,"down_proj":{{{entry}}}}""");

        Assert.Equal(new QuantizationParameters(5, 64), config.Resolve("x.up_proj", hasScales: true));
        var error = Assert.Throws<FormatException>(() => config.Resolve("x.down_proj", hasScales: true));
        Assert.Equal(message, error.Message);
    }

    [Fact]
    public void InvalidFullPathValue()
    {
        var config = Block("""{"bits":5,"group_size":64,"language_model.model.embed_tokens":"yes"}""");

        var error = Assert.Throws<FormatException>(() => config.Resolve("language_model.model.embed_tokens", hasScales: true));

        Assert.Equal(
            "config.json quantization: entry 'language_model.model.embed_tokens' is \"yes\", but must be an object with bits and group_size, true or false.",
            error.Message);
    }

    [Fact]
    public void NoPathRejected()
    {
        var config = Block("""{"bits":5,"group_size":64}""");

        Assert.Throws<ArgumentException>(() => config.Resolve([], hasScales: true));
    }

    [Theory]
    [InlineData("winzling-like")]
    [InlineData("winzling-like-release-layout")]
    [InlineData("winzling-export")]
    [InlineData("uniform-q4-g64")]
    [InlineData("uniform-q3-g32")]
    public void FixtureConfigsResolve(string folder)
    {
        string path = TestData.Path("tiny-gemma4", folder);
        var config = MlxQuantizationConfig.FromConfigFile(Path.Combine(path, "config.json"))!;
        using var checkpoint = SafetensorsCheckpoint.Open(path);
        Assert.Equal("quantization", config.SourceKey);
        Assert.Equal(folder is "winzling-like-release-layout" or "winzling-export", config.Warning != null);

        int checkedModules = 0;
        foreach (var (module, expected) in ExpectedModules(folder))
        {
            string mlxPath = "language_model.model." + module;
            string hfPath = "model.language_model." + module;
            string stored = checkpoint.Contains(mlxPath + ".weight") ? mlxPath : hfPath;
            bool hasScales = checkpoint.Contains(stored + ".scales");

            var resolved = config.Resolve([mlxPath, hfPath], hasScales);

            Assert.True(expected == resolved, $"{folder} {module}: expected {expected?.ToString() ?? "unquantized"}, resolved {resolved?.ToString() ?? "unquantized"}.");
            if (resolved is { } parameters)
            {
                var weight = checkpoint.GetInfo(stored + ".weight");
                var inferred = QuantizedLayout.Infer(
                    stored,
                    weight.Shape,
                    checkpoint.GetInfo(stored + ".scales").Shape,
                    checkpoint.GetInfo(stored + ".biases").Shape,
                    (int)weight.Shape[0],
                    (int)(weight.Shape[1] * 32 / parameters.Bits),
                    parameters);
                Assert.Equal(parameters, inferred);
            }

            checkedModules++;
        }

        Assert.Equal(3 + (10 * 9), checkedModules);
    }

    // Per-module bits and group size of each fixture variant; null means stored unquantized.
    private static IEnumerable<(string Module, QuantizationParameters? Expected)> ExpectedModules(string folder)
    {
        QuantizationParameters? Winzling(string leaf) => leaf switch
        {
            "embed_tokens" => new(3, 64),
            "embed_tokens_per_layer" => new(3, 32),
            "gate_proj" or "up_proj" or "down_proj" or "per_layer_input_gate" => new(4, 64),
            "per_layer_projection" => null,
            _ => new(5, 64),
        };

        QuantizationParameters? Uniform(string leaf, QuantizationParameters parameters) => leaf switch
        {
            "per_layer_projection" => null,
            "embed_tokens_per_layer" when parameters.GroupSize == 64 => null,
            _ => parameters,
        };

        Func<string, QuantizationParameters?> rule = folder switch
        {
            "uniform-q4-g64" => leaf => Uniform(leaf, new(4, 64)),
            "uniform-q3-g32" => leaf => Uniform(leaf, new(3, 32)),
            _ => Winzling,
        };

        foreach (var module in new[] { "embed_tokens", "embed_tokens_per_layer", "per_layer_model_projection" })
        {
            yield return (module, rule(module));
        }

        for (int layer = 0; layer < 10; layer++)
        {
            foreach (var module in new[]
            {
                "self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
                "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj", "per_layer_input_gate", "per_layer_projection",
            })
            {
                yield return ($"layers.{layer}.{module}", rule(module[(module.LastIndexOf('.') + 1)..]));
            }
        }
    }

    private static MlxQuantizationConfig Block(string json)
    {
        using var document = JsonDocument.Parse(json);
        return MlxQuantizationConfig.Parse(document.RootElement);
    }

    private static MlxQuantizationConfig? FromConfig(string json)
    {
        using var document = JsonDocument.Parse(json);
        return MlxQuantizationConfig.FromConfig(document.RootElement);
    }
}
