using System.Text.Json;
using Waldwicht.Formats.Safetensors;
using Waldwicht.Tests;

namespace Waldwicht.Cli.Tests;

public sealed class CliCommandTests : IDisposable
{
    private readonly string _scratch = Directory.CreateTempSubdirectory("waldwicht-cli-").FullName;

    public static TheoryData<string> ModelFolders => new(TestData.TinyModelFolders);

    public void Dispose() => Directory.Delete(_scratch, recursive: true);

    [Theory]
    [MemberData(nameof(ModelFolders))]
    public void GenerateJsonMatchesGreedyReference(string variant)
    {
        var (prompt, continuation) = ReadGreedy(variant);
        var result = CliRunner.Run(
            "generate", "--model", TestData.Path("tiny-gemma4", variant),
            "--prompt-tokens", string.Join(',', prompt), "--max-tokens", continuation.Length.ToString(), "--json");

        Assert.Equal(0, result.ExitCode);
        using var document = JsonDocument.Parse(result.StandardOutput);
        var tokens = document.RootElement.GetProperty("token_ids").EnumerateArray().Select(e => e.GetInt32()).ToArray();
        Assert.Equal(continuation, tokens);
        Assert.Equal("length", document.RootElement.GetProperty("finish_reason").GetString());
        Assert.Equal(prompt, document.RootElement.GetProperty("prompt_token_ids").EnumerateArray().Select(e => e.GetInt32()).ToArray());
        Assert.True(document.RootElement.GetProperty("stats").GetProperty("generation_tokens_per_second").GetDouble() > 0);
    }

    [Theory]
    [InlineData("", "f32")]
    [InlineData("winzling-export", "f32")]
    [InlineData("", "int32")]
    [InlineData("winzling-export", "int32")]
    [InlineData("uniform-q3-g32", "int32")]
    public void LogitsFileMatchesReference(string variant, string activations)
    {
        var (prompt, _) = ReadGreedy(variant);
        string output = Path.Combine(_scratch, "logits.safetensors");
        var result = CliRunner.Run(
            "logits", "--model", TestData.Path("tiny-gemma4", variant), "--tokens", string.Join(',', prompt), "--output", output,
            "--chunk-size", "3", "--activations", activations);

        Assert.Equal(0, result.ExitCode);
        using var actual = SafetensorsFile.Open(output);
        using var expected = SafetensorsFile.Open(TestData.Path("tiny-gemma4", variant, "expected_logits.safetensors"));
        Assert.Equal([prompt.Length, 512L], actual.GetInfo("logits").Shape);
        var a = actual.GetSpan<float>("logits");
        var e = expected.GetSpan<float>("logits");
        float worst = 0;
        for (int i = 0; i < e.Length; i++)
        {
            worst = Math.Max(worst, Math.Abs(a[i] - e[i]));
        }

        Assert.True(worst <= 1e-3f, $"max |diff| {worst}");
    }

    [Fact]
    public void InspectListsComponents()
    {
        var result = CliRunner.Run("inspect", "--model", TestData.Path("tiny-gemma4", "winzling-export"));

        Assert.Equal(0, result.ExitCode);
        Assert.Contains("attention", result.StandardOutput);
        Assert.Contains("ple_embeddings", result.StandardOutput);
        Assert.Contains("739,290", result.StandardOutput);
    }

    [Fact]
    public void InspectAgreesWithQuantizePlan()
    {
        string output = Path.Combine(_scratch, "winzling");
        var plan = CliRunner.Run("quantize", "--model", TestData.Path("tiny-gemma4"), "--recipe", "winzling", "--group-size", "32", "--plan");
        var quantize = CliRunner.Run("quantize", "--model", TestData.Path("tiny-gemma4"), "--recipe", "winzling", "--group-size", "32", "--output", output);
        var inspect = CliRunner.Run("inspect", "--model", output);

        Assert.Equal(0, plan.ExitCode);
        Assert.Equal(0, quantize.ExitCode);
        Assert.Equal(0, inspect.ExitCode);

        // Each component row of the plan (name and parameter count) reappears in the report of the result.
        string[] components = ["attention", "mlp", "ple_embeddings", "ple_gate_proj", "main_embed_lmhead", "default", "kept"];
        var inspectLines = inspect.StandardOutput.Split('\n');
        foreach (var component in components)
        {
            var planRow = plan.StandardOutput.Split('\n').Single(line => line.StartsWith(component + " ", StringComparison.Ordinal));
            string parameters = planRow.Split(' ', StringSplitOptions.RemoveEmptyEntries)[planRow.StartsWith("kept", StringComparison.Ordinal) ? 2 : 4];
            var inspectRow = inspectLines.Single(line => System.Text.RegularExpressions.Regex.IsMatch(line, $"^│ {component} +│"));
            Assert.Contains($" {parameters} ", inspectRow);
        }
    }

    [Fact]
    public void QuantizeWithoutOutputIsRejected()
    {
        var result = CliRunner.Run("quantize", "--model", TestData.Path("tiny-gemma4"), "--recipe", "winzling");

        Assert.Equal(1, result.ExitCode);
        Assert.Contains("'--output' is required unless --plan", result.StandardError);
    }

    [Fact]
    public void DemoModelIsUsedWithoutModelOption()
    {
        var environment = new Dictionary<string, string> { ["WALDWICHT_CACHE"] = Path.Combine(_scratch, "cache") };
        var result = CliRunner.Run(environment, "generate", "--prompt", "Hello", "--max-tokens", "4", "--json");

        Assert.Equal(0, result.ExitCode);
        Assert.Contains("demo model", result.StandardError);
        Assert.Contains("noise", result.StandardError);
        using var document = JsonDocument.Parse(result.StandardOutput);
        Assert.True(document.RootElement.GetProperty("token_ids").GetArrayLength() <= 4);
    }

    [Fact]
    public void ChatAnswersEachTurnUntilExit()
    {
        var result = CliRunner.RunWithInput(
            null,
            "Hello\n/system Be brief.\nAnd again\n/stats\n/exit\n",
            "chat", "--model", TestData.Path("tiny-gemma4"), "--max-tokens", "3", "--seed", "1");

        Assert.Equal(0, result.ExitCode);
        Assert.Contains("Chatting with tiny-gemma4", result.StandardError);
        Assert.Contains("System message set.", result.StandardError);
        Assert.Contains("Prompt: ", result.StandardError);
        Assert.Equal(2, result.StandardError.Split("(reply cut off at 3 tokens)").Length - 1);
    }

    [Fact]
    public void OutOfRangeTokenIsRejected()
    {
        var result = CliRunner.Run("generate", "--model", TestData.Path("tiny-gemma4"), "--prompt-tokens", "2,600");

        Assert.Equal(1, result.ExitCode);
        Assert.Contains("error: --prompt-tokens: token id 600 is out of range; the vocabulary has ids 0 to 511.", result.StandardError);
    }

    [Fact]
    public void PromptAndTokensAreExclusive()
    {
        var result = CliRunner.Run("generate", "--model", TestData.Path("tiny-gemma4"), "--prompt", "hi", "--prompt-tokens", "2");

        Assert.Equal(1, result.ExitCode);
        Assert.Contains("Give exactly one of --prompt TEXT or --prompt-tokens IDS", result.StandardError);
    }

    [Fact]
    public void MissingModelFolderIsReported()
    {
        string missing = Path.Combine(_scratch, "no-such-model");
        var result = CliRunner.Run("generate", "--model", missing, "--prompt", "hi");

        Assert.Equal(1, result.ExitCode);
        Assert.Contains("no-such-model", result.StandardError);
    }

    [Fact]
    public void MissingFolderLookedUpOfflineIsExplained()
    {
        var environment = new Dictionary<string, string>
        {
            ["HF_HUB_OFFLINE"] = "1",
            ["HF_HOME"] = Path.Combine(_scratch, "hf-home"),
        };
        var result = CliRunner.Run(environment, "inspect", "--model", "no-such-org/no-such-model");

        Assert.Equal(1, result.ExitCode);
        Assert.Contains("There is no local folder 'no-such-org/no-such-model'", result.StandardError);
    }

    [Fact]
    public void LogitsIntoMissingFolderLeavesNothing()
    {
        string output = Path.Combine(_scratch, "missing", "logits.safetensors");
        var result = CliRunner.Run("logits", "--model", TestData.Path("tiny-gemma4"), "--tokens", "2,3", "--output", output);

        Assert.Equal(1, result.ExitCode);
        Assert.Contains("Output folder not found", result.StandardError);
        Assert.False(Directory.Exists(Path.Combine(_scratch, "missing")));
    }

    [Fact]
    public void InvalidTemperatureNamesOption()
    {
        var result = CliRunner.Run("generate", "--model", TestData.Path("tiny-gemma4"), "--prompt-tokens", "2", "--temperature", "-1");

        Assert.Equal(1, result.ExitCode);
        Assert.Contains("--temperature", result.StandardError);
    }

    [Fact]
    public void Int16ActivationsKeepGreedyTokens()
    {
        var (prompt, continuation) = ReadGreedy("winzling-export");
        var result = CliRunner.Run(
            "generate", "--model", TestData.Path("tiny-gemma4", "winzling-export"), "--activations", "int16",
            "--prompt-tokens", string.Join(',', prompt), "--max-tokens", continuation.Length.ToString(), "--json");

        Assert.Equal(0, result.ExitCode);
        using var document = JsonDocument.Parse(result.StandardOutput);
        var tokens = document.RootElement.GetProperty("token_ids").EnumerateArray().Select(e => e.GetInt32()).ToArray();
        Assert.Equal(continuation, tokens);
    }

    [Fact]
    public void NonNumericTemperatureIsExplained()
    {
        var result = CliRunner.Run("generate", "--model", TestData.Path("tiny-gemma4"), "--prompt-tokens", "2", "--temperature", "abc");

        Assert.Equal(1, result.ExitCode);
        Assert.Contains("--temperature: 'abc' is not a number", result.StandardError);
        Assert.DoesNotContain("System.", result.StandardError);
    }

    [Fact]
    public void UnknownActivationPrecisionIsRejected()
    {
        var result = CliRunner.Run("generate", "--model", TestData.Path("tiny-gemma4"), "--prompt-tokens", "2", "--activations", "int4");

        Assert.Equal(1, result.ExitCode);
        Assert.Contains("--activations", result.StandardError);
        Assert.Contains("int4", result.StandardError);
    }

    [Theory]
    [InlineData("q4_1")]
    [InlineData("q5_1")]
    [InlineData("Q4_1")]
    public void ExportGgufWritesTypesWithMinimum(string type)
    {
        string output = Path.Combine(_scratch, $"tiny-{type}.gguf");
        var result = CliRunner.Run("export", "gguf", "--model", TestData.Path("tiny-gemma4"), "--type", type, "--output", output);

        Assert.Equal(0, result.ExitCode);
        Assert.Matches($@"Wrote .*tiny-{type}\.gguf: \d+ tensors \(.*\d+ {type.ToLowerInvariant()}\), [\d.]+ (kB|MB|GB), in", result.StandardError);
        Assert.True(new FileInfo(output).Length > 0);
    }

    [Fact]
    public void ExportGgufRejectsUnknownType()
    {
        string output = Path.Combine(_scratch, "tiny.gguf");
        var result = CliRunner.Run("export", "gguf", "--model", TestData.Path("tiny-gemma4"), "--type", "q4_k", "--output", output);

        Assert.Equal(1, result.ExitCode);
        Assert.Contains("q4_k", result.StandardError);
        Assert.Contains("q4_1", result.StandardError);
        Assert.False(File.Exists(output));
    }

    [Theory]
    [InlineData("waldwicht serve", "serve", "--port", "abc")]
    [InlineData("waldwicht export gguf", "export", "gguf", "--bogus")]
    public void ParseErrorPointsToHelp(string commandPath, params string[] arguments)
    {
        var result = CliRunner.Run(arguments);

        Assert.Equal(1, result.ExitCode);
        Assert.Contains(arguments[^1], result.StandardError);
        Assert.Contains($"Run '{commandPath} --help' for usage.", result.StandardError);
        Assert.DoesNotContain("Options:", result.StandardError + result.StandardOutput);
    }

    [Fact]
    public void BenchJsonReportsWarmupAndRuns()
    {
        var result = CliRunner.Run(
            "bench", "--model", TestData.Path("tiny-gemma4"), "--prompt-tokens", "8", "--gen-tokens", "4", "--runs", "2",
            "--bandwidth-gbs", "10", "--json");

        Assert.Equal(0, result.ExitCode);
        using var document = JsonDocument.Parse(result.StandardOutput);
        var root = document.RootElement;
        Assert.Equal(2, root.GetProperty("runs").GetArrayLength());

        // A run of the tiny model takes milliseconds, so the one-second warm-up repeats it many times.
        Assert.True(root.GetProperty("warmup_runs").GetInt32() > 1);
        Assert.Equal(1.0, root.GetProperty("options").GetProperty("warmup_seconds").GetDouble());
        Assert.True(root.GetProperty("decode_tokens_per_second").GetProperty("median").GetDouble() > 0);
        Assert.Equal(10.0, root.GetProperty("bandwidth").GetProperty("gigabytes_per_second").GetDouble());

        // The BF16 model has no quantized matrices, so no activation precision applies.
        Assert.Equal(JsonValueKind.Null, root.GetProperty("activations").ValueKind);
    }

    [Theory]
    [InlineData("", true)]
    [InlineData("winzling-export", false)]
    public void BenchNotesUnusedActivationPrecision(string variant, bool unused)
    {
        var result = CliRunner.Run(
            "bench", "--model", TestData.Path("tiny-gemma4", variant), "--prompt-tokens", "4", "--gen-tokens", "2", "--runs", "1",
            "--bandwidth-gbs", "10", "--activations", "int8");

        Assert.Equal(0, result.ExitCode);
        Assert.Contains("int8 activations", result.StandardError);
        Assert.Equal(!unused, result.StandardOutput.Contains("int8 activations", StringComparison.Ordinal));
        Assert.Equal(unused, result.StandardError.Contains("(unused: the model has no quantized matrices)", StringComparison.Ordinal));
    }

    [Fact]
    public void MisspelledOptionGetsSuggestion()
    {
        var result = CliRunner.Run("generate", "--prompt", "hi", "--temprature", "0.5");

        Assert.Equal(1, result.ExitCode);
        Assert.Contains("Did you mean '--temperature' instead of '--temprature'?", result.StandardError);
        Assert.Contains("Run 'waldwicht generate --help' for usage.", result.StandardError);
        Assert.Equal("", result.StandardOutput.Trim());
    }

    private static (int[] Prompt, int[] Continuation) ReadGreedy(string variant)
    {
        using var document = JsonDocument.Parse(File.ReadAllText(TestData.Path("tiny-gemma4", variant, "expected_greedy.json")));
        var root = document.RootElement;
        return (
            root.GetProperty("prompt_token_ids").EnumerateArray().Select(e => e.GetInt32()).ToArray(),
            root.GetProperty("greedy_continuation").EnumerateArray().Select(e => e.GetInt32()).ToArray());
    }
}
