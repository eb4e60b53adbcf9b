using System.Text.Json.Nodes;
using Waldwicht.Formats.Safetensors;
using Waldwicht.Model;
using Waldwicht.Quantization.Conversion;
using Waldwicht.Quantization.Recipes;
using Waldwicht.Tests;

namespace Waldwicht.Quantization.Tests;

/// <summary>Bad inputs and failed runs: each must give a clear message and leave no output behind.</summary>
public sealed class FailureTests
{
    private static readonly QuantizeOptions Winzling = new() { Recipe = QuantizationRecipe.Parse("winzling") };

    [Fact]
    public void ExistingOutputWithoutForceIsRejected()
    {
        using var folder = new TemporaryFolder();
        string output = folder.Combine("out");
        Directory.CreateDirectory(output);
        File.WriteAllText(Path.Combine(output, "keep.txt"), "old");

        var exception = Assert.Throws<IOException>(() => CheckpointQuantizer.Quantize(TinyModel.Folder, output, Winzling));

        Assert.Contains("already exists", exception.Message, StringComparison.Ordinal);
        Assert.Contains("--force", exception.Message, StringComparison.Ordinal);
        Assert.Equal(["out", Path.Combine("out", "keep.txt")], folder.Entries());
    }

    [Fact]
    public void ForceReplacesExistingOutput()
    {
        using var folder = new TemporaryFolder();
        string output = folder.Combine("out");
        Directory.CreateDirectory(output);
        File.WriteAllText(Path.Combine(output, "keep.txt"), "old");

        CheckpointQuantizer.Quantize(TinyModel.Folder, output, Winzling with { Force = true });

        Assert.False(File.Exists(Path.Combine(output, "keep.txt")));
        Assert.True(File.Exists(Path.Combine(output, "model.safetensors")));
        Assert.Equal(["out"], folder.Entries().Where(e => !e.Contains(Path.DirectorySeparatorChar)));
    }

    [Fact]
    public void FailedForceRunKeepsOldOutput()
    {
        using var folder = new TemporaryFolder();
        string output = folder.Combine("out");
        Directory.CreateDirectory(output);
        File.WriteAllText(Path.Combine(output, "keep.txt"), "old");

        Assert.Throws<IOException>(() => CheckpointQuantizer.Quantize(TinyModel.Folder, output, Winzling with { Force = true }, new FailingProgress(20)));

        Assert.Equal(["out", Path.Combine("out", "keep.txt")], folder.Entries());
        Assert.Equal("old", File.ReadAllText(Path.Combine(output, "keep.txt")));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(50)]
    [InlineData(150)]
    public void WriteFailureLeavesNothing(int failAtReport)
    {
        using var folder = new TemporaryFolder();

        var exception = Assert.Throws<IOException>(() => CheckpointQuantizer.Quantize(
            TinyModel.Folder, folder.Combine("out"), Winzling with { BlockBytes = 2048 }, new FailingProgress(failAtReport)));

        Assert.Equal("No space left on device", exception.Message);
        Assert.Empty(folder.Entries());
    }

    [Fact]
    public void FailureRemovesCreatedParents()
    {
        using var folder = new TemporaryFolder();

        Assert.Throws<IOException>(() => CheckpointQuantizer.Quantize(
            TinyModel.Folder, folder.Combine("a", "b", "out"), Winzling, new FailingProgress(10)));

        Assert.Empty(folder.Entries());
    }

    [Fact]
    public void CancellationLeavesNothing()
    {
        using var folder = new TemporaryFolder();
        using var cancellation = new CancellationTokenSource();
        var progress = new CallbackProgress(p =>
        {
            if (p.TensorNumber == 30)
            {
                cancellation.Cancel();
            }
        });

        Assert.ThrowsAny<OperationCanceledException>(() => CheckpointQuantizer.Quantize(
            TinyModel.Folder, folder.Combine("out"), Winzling with { BlockBytes = 2048 }, progress, cancellation.Token));

        Assert.Empty(folder.Entries());
    }

    [Fact]
    public void ReadOnlyOutputParentIsRejected()
    {
        using var folder = new TemporaryFolder();
        string parent = UnwritableFolder(folder);

        var exception = Assert.Throws<IOException>(() => CheckpointQuantizer.Quantize(TinyModel.Folder, Path.Combine(parent, "out"), Winzling));

        Assert.Contains("Cannot create the output folder", exception.Message, StringComparison.Ordinal);
        Assert.Contains("writable location", exception.Message, StringComparison.Ordinal);
        Assert.False(Directory.Exists(Path.Combine(parent, "out")));
        Assert.DoesNotContain(Directory.GetFileSystemEntries(parent), e => e.Contains("out.tmp-", StringComparison.Ordinal));
    }

    [Fact]
    public void OutputInsideInputIsRejected()
    {
        using var folder = new TemporaryFolder();
        string input = TinyModel.CopyTo(folder.Combine("input"));
        var filesBefore = folder.Entries();

        var inside = Assert.Throws<IOException>(() => CheckpointQuantizer.Quantize(input, Path.Combine(input, "q"), Winzling));
        var same = Assert.Throws<IOException>(() => CheckpointQuantizer.Quantize(input, input, Winzling with { Force = true }));
        var around = Assert.Throws<IOException>(() => CheckpointQuantizer.Quantize(input, folder.Path, Winzling with { Force = true }));

        Assert.Contains("lies inside the input folder", inside.Message, StringComparison.Ordinal);
        Assert.Contains("is the input folder", same.Message, StringComparison.Ordinal);
        Assert.Contains("would replace the input", around.Message, StringComparison.Ordinal);
        Assert.Equal(filesBefore, folder.Entries());
    }

    [Fact]
    public void NotGemma4IsRejected()
    {
        using var folder = new TemporaryFolder();
        var builder = CheckpointBuilder.FromTinyModel();
        builder.Config = new JsonObject { ["model_type"] = "llama", ["hidden_size"] = 64 };
        string input = builder.Write(folder.Combine("input"));

        var exception = Assert.Throws<ModelFormatException>(() => CheckpointQuantizer.Quantize(input, folder.Combine("out"), Winzling));

        Assert.Contains("model_type 'llama'", exception.Message, StringComparison.Ordinal);
        Assert.Contains("Gemma 4", exception.Message, StringComparison.Ordinal);
        Assert.False(Directory.Exists(folder.Combine("out")));
    }

    [Fact]
    public void MissingConfigIsRejected()
    {
        using var folder = new TemporaryFolder();
        string input = TinyModel.CopyTo(folder.Combine("input"));
        File.Delete(Path.Combine(input, "config.json"));

        var exception = Assert.Throws<ModelFormatException>(() => QuantizationPlanner.Plan(input, Winzling));

        Assert.Contains("config.json not found", exception.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void GemmaConfigWithoutGemmaTensorsIsRejected()
    {
        using var folder = new TemporaryFolder();
        var builder = new CheckpointBuilder().AddBf16("transformer.wte.weight", 512, 64);
        string input = builder.Write(folder.Combine("input"));

        var exception = Assert.Throws<ModelFormatException>(() => QuantizationPlanner.Plan(input, Winzling));

        Assert.Contains("No embedding table found", exception.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("winzling-like")]
    [InlineData("winzling-export")]
    public void QuantizedInputIsRejected(string variant)
    {
        using var folder = new TemporaryFolder();

        var exception = Assert.Throws<ModelFormatException>(() => CheckpointQuantizer.Quantize(TestData.Path("tiny-gemma4", variant), folder.Combine("out"), Winzling));

        Assert.Contains("is already quantized", exception.Message, StringComparison.Ordinal);
        Assert.Contains("quantize the original BF16 checkpoint", exception.Message, StringComparison.Ordinal);
        Assert.Empty(folder.Entries());
    }

    [Fact]
    public void QuantizedTensorsWithoutConfigBlockAreRejected()
    {
        using var folder = new TemporaryFolder();
        string input = folder.Combine("input");
        Directory.CreateDirectory(input);
        foreach (var file in Directory.GetFiles(TestData.Path("tiny-gemma4", "winzling-export")))
        {
            File.Copy(file, Path.Combine(input, Path.GetFileName(file)));
        }

        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(input, "config.json")))!.AsObject();
        config.Remove("quantization");
        config.Remove("quantization_config");
        File.SetAttributes(Path.Combine(input, "config.json"), FileAttributes.Normal);
        File.WriteAllText(Path.Combine(input, "config.json"), config.ToJsonString());

        var exception = Assert.Throws<ModelFormatException>(() => QuantizationPlanner.Plan(input, Winzling));

        Assert.Contains("is already quantized (tensor 'model.language_model.embed_tokens.biases' is F32", exception.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void MissingShardIsRejected()
    {
        using var folder = new TemporaryFolder();
        string input = CheckpointBuilder.FromTinyModel().Write(folder.Combine("input"), shards: 2);
        File.Delete(Path.Combine(input, "model-00002-of-00002.safetensors"));

        var exception = Assert.Throws<SafetensorsFormatException>(() => CheckpointQuantizer.Quantize(input, folder.Combine("out"), Winzling));

        Assert.Contains("shard 'model-00002-of-00002.safetensors' is listed in the index but missing", exception.Message, StringComparison.Ordinal);
        Assert.False(Directory.Exists(folder.Combine("out")));
    }

    [Fact]
    public void TruncatedShardIsRejected()
    {
        using var folder = new TemporaryFolder();
        string input = TinyModel.CopyTo(folder.Combine("input"));
        string shard = Path.Combine(input, "model.safetensors");
        using (var stream = new FileStream(shard, FileMode.Open))
        {
            stream.SetLength(stream.Length - 100);
        }

        var exception = Assert.Throws<SafetensorsFormatException>(() => QuantizationPlanner.Plan(input, Winzling));

        Assert.Contains("truncated", exception.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void MissingWeightsAreRejected()
    {
        using var folder = new TemporaryFolder();
        string input = TinyModel.CopyTo(folder.Combine("input"));
        File.Delete(Path.Combine(input, "model.safetensors"));

        var exception = Assert.Throws<FileNotFoundException>(() => QuantizationPlanner.Plan(input, Winzling));

        Assert.Contains("No model*.safetensors files", exception.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void MissingFolderIsRejected()
    {
        using var folder = new TemporaryFolder();

        var exception = Assert.Throws<DirectoryNotFoundException>(() => QuantizationPlanner.Plan(folder.Combine("nowhere"), Winzling));

        Assert.Contains("Model folder not found", exception.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void GroupSizeDividingNothingIsRejected()
    {
        using var folder = new TemporaryFolder();
        var builder = new CheckpointBuilder()
            .AddBf16("model.language_model.embed_tokens.weight", 512, 48)
            .AddBf16("model.language_model.layers.0.mlp.up_proj.weight", 96, 48)
            .AddBf16("model.language_model.norm.weight", 48);
        string input = builder.Write(folder.Combine("input"));

        var exception = Assert.Throws<InvalidOperationException>(() => CheckpointQuantizer.Quantize(input, folder.Combine("out"), Winzling));

        Assert.Contains("quantizes no tensor", exception.Message, StringComparison.Ordinal);
        Assert.Contains("--group-size 32", exception.Message, StringComparison.Ordinal);
        Assert.False(Directory.Exists(folder.Combine("out")));
    }

    [Fact]
    public void NonFiniteWeightIsRejected()
    {
        using var folder = new TemporaryFolder();
        string input = CheckpointBuilder.FromTinyModel()
            .SetBf16("model.language_model.layers.2.mlp.up_proj.weight", (5 * 64) + 70, float.NaN)
            .Write(folder.Combine("input"));

        var exception = Assert.Throws<ModelFormatException>(() => CheckpointQuantizer.Quantize(input, folder.Combine("out"), Winzling));

        Assert.Contains("'model.language_model.layers.2.mlp.up_proj.weight'", exception.Message, StringComparison.Ordinal);
        Assert.Contains("NaN or infinity", exception.Message, StringComparison.Ordinal);
        Assert.False(Directory.Exists(folder.Combine("out")));
        Assert.Equal(["input"], folder.Entries().Where(e => !e.Contains(Path.DirectorySeparatorChar)));
    }

    // A folder this process cannot create entries in. Permission bits do not bind the superuser,
    // so as root the test uses a Linux sysfs folder, where creating folders fails for everyone.
    private static string UnwritableFolder(TemporaryFolder folder)
    {
        string parent = folder.Combine("read-only");
        Directory.CreateDirectory(parent);
        if (OperatingSystem.IsWindows())
        {
            throw new PlatformNotSupportedException("This test needs Unix permissions.");
        }

        File.SetUnixFileMode(parent, UnixFileMode.UserRead | UnixFileMode.UserExecute | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
        if (!CanCreateFolderIn(parent) || !OperatingSystem.IsLinux())
        {
            return parent;
        }

        const string sysfs = "/sys/kernel";
        Assert.False(CanCreateFolderIn(sysfs), $"Neither {parent} (mode 0544) nor {sysfs} rejects new folders for this user.");
        return sysfs;
    }

    private static bool CanCreateFolderIn(string parent)
    {
        string probe = Path.Combine(parent, "probe-" + Guid.NewGuid().ToString("N"));
        try
        {
            Directory.CreateDirectory(probe);
            Directory.Delete(probe);
            return true;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    /// <summary>Throws the error of a full disk at the n-th progress report, in the middle of writing.</summary>
    private sealed class FailingProgress(int failAt) : IProgress<QuantizationProgress>
    {
        private int _reports;

        public void Report(QuantizationProgress value)
        {
            if (++_reports == failAt)
            {
                throw new IOException("No space left on device");
            }
        }
    }

    private sealed class CallbackProgress(Action<QuantizationProgress> callback) : IProgress<QuantizationProgress>
    {
        public void Report(QuantizationProgress value) => callback(value);
    }
}
