using System.Buffers.Binary;
using Waldwicht.Formats.Gguf;
using Waldwicht.Model.Export;
using Waldwicht.Model.Gemma4;
using Waldwicht.Numerics.Matrices;
using Waldwicht.Tests;

namespace Waldwicht.Gguf.Tests;

public sealed class Gemma4GgufExportTests : IDisposable
{
    private static readonly string[] ExpectedKeys =
    [
        "general.architecture", "general.type", "general.name", "general.file_type", "general.quantization_version",
        "gemma4.block_count", "gemma4.context_length", "gemma4.embedding_length", "gemma4.feed_forward_length",
        "gemma4.attention.head_count", "gemma4.attention.head_count_kv", "gemma4.rope.freq_base", "gemma4.rope.freq_base_swa",
        "gemma4.attention.layer_norm_rms_epsilon", "gemma4.attention.key_length", "gemma4.attention.value_length",
        "gemma4.attention.key_length_swa", "gemma4.attention.value_length_swa", "gemma4.attention.sliding_window",
        "gemma4.attention.sliding_window_pattern", "gemma4.attention.shared_kv_layers", "gemma4.embedding_length_per_layer_input",
        "gemma4.rope.dimension_count", "gemma4.rope.dimension_count_swa", "gemma4.final_logit_softcapping",
        "tokenizer.ggml.model", "tokenizer.ggml.tokens", "tokenizer.ggml.scores", "tokenizer.ggml.token_type", "tokenizer.ggml.merges",
        "tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id", "tokenizer.ggml.unknown_token_id", "tokenizer.ggml.padding_token_id",
        "tokenizer.ggml.mask_token_id", "tokenizer.ggml.add_bos_token", "tokenizer.ggml.add_eos_token", "tokenizer.ggml.add_space_prefix",
    ];

    private readonly string _folder = Directory.CreateTempSubdirectory("gguf-export-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    [Fact]
    public void TinyModel_MetadataKeysAndValues()
    {
        using var model = Gemma4Model.Load(TestData.Path("tiny-gemma4"));
        string path = Export(model, GgufExportType.F32);

        var file = GgufReader.Read(path);

        Assert.Equal(ExpectedKeys.Order(), file.MetadataOrder.Order());
        Assert.Equal("gemma4", file.Get<string>("general.architecture"));
        Assert.Equal("tiny-gemma4", file.Get<string>("general.name"));
        Assert.Equal(0u, file.Get<uint>("general.file_type"));
        Assert.Equal(10u, file.Get<uint>("gemma4.block_count"));
        Assert.Equal(131072u, file.Get<uint>("gemma4.context_length"));
        Assert.Equal(64u, file.Get<uint>("gemma4.embedding_length"));
        Assert.Equal([128u, 128u, 128u, 128u, 128u, 128u, 256u, 256u, 256u, 256u], file.Get<object[]>("gemma4.feed_forward_length").Cast<uint>());
        Assert.Equal(4u, file.Get<uint>("gemma4.attention.head_count"));
        Assert.Equal(1u, file.Get<uint>("gemma4.attention.head_count_kv"));
        Assert.Equal(1_000_000f, file.Get<float>("gemma4.rope.freq_base"));
        Assert.Equal(10_000f, file.Get<float>("gemma4.rope.freq_base_swa"));
        Assert.Equal(1e-6f, file.Get<float>("gemma4.attention.layer_norm_rms_epsilon"));
        Assert.Equal(64u, file.Get<uint>("gemma4.attention.key_length"));
        Assert.Equal(32u, file.Get<uint>("gemma4.attention.key_length_swa"));
        Assert.Equal(64u, file.Get<uint>("gemma4.rope.dimension_count"));
        Assert.Equal(32u, file.Get<uint>("gemma4.rope.dimension_count_swa"));
        Assert.Equal(8u, file.Get<uint>("gemma4.attention.sliding_window"));
        Assert.Equal(
            [true, true, true, true, false, true, true, true, true, false],
            file.Get<object[]>("gemma4.attention.sliding_window_pattern").Cast<bool>());
        Assert.Equal(4u, file.Get<uint>("gemma4.attention.shared_kv_layers"));
        Assert.Equal(16u, file.Get<uint>("gemma4.embedding_length_per_layer_input"));
        Assert.Equal(30f, file.Get<float>("gemma4.final_logit_softcapping"));
    }

    [Fact]
    public void TinyModel_TokenizerMetadata()
    {
        using var model = Gemma4Model.Load(TestData.Path("tiny-gemma4"));
        var file = GgufReader.Read(Export(model, GgufExportType.F32));

        var tokens = file.Get<object[]>("tokenizer.ggml.tokens").Cast<string>().ToArray();
        var types = file.Get<object[]>("tokenizer.ggml.token_type").Cast<int>().ToArray();
        Assert.Equal("gemma4", file.Get<string>("tokenizer.ggml.model"));
        Assert.Equal(512, tokens.Length);
        Assert.Equal(512, types.Length);
        Assert.All(file.Get<object[]>("tokenizer.ggml.scores").Cast<float>(), s => Assert.Equal(-1000f, s));
        Assert.Equal(["<pad>", "<eos>", "<bos>", "<unk>", "<mask>"], tokens[..5]);
        Assert.Equal([3, 3, 3, 3, 3], types[..5]);
        Assert.Equal(4, types[Array.IndexOf(tokens, "<|channel>")]);
        Assert.Equal(4, types[Array.IndexOf(tokens, "<|\"|>")]);
        Assert.Equal(3, types[Array.IndexOf(tokens, "<|turn>")]);
        Assert.Equal(6, types[Array.IndexOf(tokens, "<0x0A>")]);
        Assert.Equal(1, types[Array.IndexOf(tokens, "<unused0>")]);
        Assert.Equal(872, file.Get<object[]>("tokenizer.ggml.merges").Length);
        Assert.Equal(2u, file.Get<uint>("tokenizer.ggml.bos_token_id"));
        Assert.Equal(1u, file.Get<uint>("tokenizer.ggml.eos_token_id"));
        Assert.Equal(3u, file.Get<uint>("tokenizer.ggml.unknown_token_id"));
        Assert.Equal(0u, file.Get<uint>("tokenizer.ggml.padding_token_id"));
        Assert.Equal(4u, file.Get<uint>("tokenizer.ggml.mask_token_id"));
        Assert.True(file.Get<bool>("tokenizer.ggml.add_bos_token"));
        Assert.False(file.Get<bool>("tokenizer.ggml.add_eos_token"));
        Assert.False(file.Get<bool>("tokenizer.ggml.add_space_prefix"));
    }

    [Fact]
    public void TinyModel_TensorNamesShapesAndF32Data()
    {
        using var model = Gemma4Model.Load(TestData.Path("tiny-gemma4"));
        var file = GgufReader.Read(Export(model, GgufExportType.F32));

        // Shared layers 6 to 9 carry no K/V tensors; every other layer has 17 tensors.
        Assert.Equal(5 + (6 * 17) + (4 * 14) + 1, file.Tensors.Count);
        Assert.Equal([64L, 512L], file.Tensor("token_embd.weight").Dimensions);
        Assert.Equal([160L, 512L], file.Tensor("per_layer_token_embd.weight").Dimensions);
        Assert.Equal([64L, 160L], file.Tensor("per_layer_model_proj.weight").Dimensions);
        Assert.Equal([64L, 128L], file.Tensor("blk.0.attn_q.weight").Dimensions);
        Assert.Equal([64L, 256L], file.Tensor("blk.4.attn_q.weight").Dimensions);
        Assert.Equal([256L, 64L], file.Tensor("blk.4.attn_output.weight").Dimensions);
        Assert.Equal([64L, 256L], file.Tensor("blk.7.ffn_gate.weight").Dimensions);
        Assert.Equal([16L, 64L], file.Tensor("blk.3.proj.weight").Dimensions);
        Assert.Equal([1L], file.Tensor("blk.2.layer_output_scale.weight").Dimensions);
        Assert.DoesNotContain(file.Tensors, t => t.Name == "blk.6.attn_k.weight" || t.Name == "output.weight");
        Assert.All(file.Tensors, t => Assert.Equal((uint)GgmlType.F32, t.Type));

        var ropeFreqs = Floats(file, "rope_freqs.weight", 32);
        Assert.Equal(Enumerable.Repeat(1f, 8).Concat(Enumerable.Repeat(1e30f, 24)), ropeFreqs);

        var embedding = Floats(file, "token_embd.weight", 512 * 64);
        var row = new float[64];
        model.Weights.EmbedTokens.ReadRow(300, row);
        Assert.Equal(row, embedding.AsSpan(300 * 64, 64).ToArray());

        var query = Floats(file, "blk.4.attn_q.weight", 256 * 64);
        model.Weights.Layers[4].QProj.ReadRow(255, row);
        Assert.Equal(row, query.AsSpan(255 * 64, 64).ToArray());

        Assert.Equal(model.Weights.Layers[1].PostFeedforwardLayerNorm, Floats(file, "blk.1.post_ffw_norm.weight", 64));
        Assert.Equal([model.Weights.Layers[8].LayerScalar], Floats(file, "blk.8.layer_output_scale.weight", 1));
    }

    [Theory]
    [InlineData(GgufExportType.Q8_0, 0.5 / 127 * 1.05)]
    [InlineData(GgufExportType.Q5_1, 1.0 / 31 * 1.05)]
    [InlineData(GgufExportType.Q5_0, 1.0 / 16 * 1.05)]
    [InlineData(GgufExportType.Q4_1, 1.0 / 15 * 1.05)]
    [InlineData(GgufExportType.Q4_0, 1.0 / 8 * 1.05)]
    public void TinyModel_QuantizedTensorsCloseToSource(GgufExportType type, double relativeTolerance)
    {
        // The tolerance is one quantization step relative to the row's largest magnitude (half a
        // step for Q8_0, Q5_1 and Q4_1, whose steps span up to twice that magnitude), plus 5% for the
        // binary16 rounding of the scale.
        using var model = Gemma4Model.Load(TestData.Path("tiny-gemma4"));
        string path = Export(model, type, out var result);
        var file = GgufReader.Read(path);

        var ggmlType = type.MatrixType();
        Assert.Equal((uint)ggmlType, file.Tensor("blk.0.ffn_up.weight").Type);
        Assert.Equal((uint)GgmlType.F16, file.Tensor("blk.0.proj.weight").Type);
        Assert.Equal((uint)GgmlType.F32, file.Tensor("blk.0.attn_norm.weight").Type);
        Assert.Contains(result.Warnings, w => w.Contains("blk.0.proj.weight", StringComparison.Ordinal) && w.Contains("F16", StringComparison.Ordinal));

        var matrix = model.Weights.Layers[5].DownProj;
        var bytes = file.TensorBytes("blk.5.ffn_down.weight", ggmlType.RowBytes(matrix.Columns) * matrix.Rows);
        var decoded = new float[matrix.Columns];
        var source = new float[matrix.Columns];
        int rowBytes = (int)ggmlType.RowBytes(matrix.Columns);
        for (int r = 0; r < matrix.Rows; r++)
        {
            matrix.ReadRow(r, source);
            GgmlQuantization.Dequantize(ggmlType, bytes.Slice(r * rowBytes, rowBytes), decoded);
            float scale = source.Max(MathF.Abs);
            for (int c = 0; c < source.Length; c++)
            {
                Assert.True(Math.Abs(source[c] - decoded[c]) <= relativeTolerance * scale, $"row {r} column {c}: {source[c]} vs {decoded[c]}");
            }
        }
    }

    [Fact]
    public void MlxQuantizedModel_ExportsDequantizedRows()
    {
        using var model = Gemma4Model.Load(TestData.Path("tiny-gemma4", "uniform-q4-g64"));
        var file = GgufReader.Read(Export(model, GgufExportType.F16));

        var matrix = model.Weights.Layers[2].GateProj;
        var row = new float[matrix.Columns];
        var decoded = new float[matrix.Columns];
        var bytes = file.TensorBytes("blk.2.ffn_gate.weight", matrix.Rows * matrix.Columns * 2L);
        for (int r = 0; r < matrix.Rows; r++)
        {
            matrix.ReadRow(r, row);
            GgmlQuantization.Dequantize(GgmlType.F16, bytes.Slice(r * matrix.Columns * 2, matrix.Columns * 2), decoded);
            Assert.Equal(row.Select(v => (float)(Half)v), decoded);
        }
    }

    [Theory]
    [InlineData("uniform-q4-g64", GgufExportType.Q4_1, "blk.0.attn_q.weight")]
    [InlineData("uniform-q4-g64", GgufExportType.Q5_1, "blk.0.attn_q.weight")]
    [InlineData("uniform-q3-g32", GgufExportType.Q4_1, "blk.3.ffn_down.weight")]
    [InlineData("winzling-like", GgufExportType.Q4_1, "blk.0.ffn_gate.weight")]
    [InlineData("winzling-like", GgufExportType.Q5_1, "blk.0.attn_q.weight")]
    public void MlxCodes_KeptInBlocksWithMinimum(string variant, GgufExportType type, string tensorName)
    {
        using var model = Gemma4Model.Load(TestData.Path("tiny-gemma4", variant));
        var file = GgufReader.Read(Export(model, type, out var result));
        var ggmlType = type.MatrixType();
        int blockBytes = ggmlType.BlockBytes();
        int nibbleOffset = ggmlType == GgmlType.Q5_1 ? 8 : 4;

        Assert.Contains(tensorName, result.TensorsWithKeptCodes);
        Assert.All(result.TensorsWithKeptCodes, name => Assert.Equal((uint)ggmlType, file.Tensor(name).Type));

        var matrix = (QuantizedMatrix)FindMatrix(model, tensorName);
        var codes = new byte[matrix.Columns];
        var scales = new float[matrix.GroupsPerRow];
        var biases = new float[matrix.GroupsPerRow];
        long rowBytes = ggmlType.RowBytes(matrix.Columns);
        var bytes = file.TensorBytes(tensorName, rowBytes * matrix.Rows).ToArray();
        for (int r = 0; r < matrix.Rows; r++)
        {
            matrix.ReadRowCodes(r, codes, scales, biases);
            for (int b = 0; b < matrix.Columns / 32; b++)
            {
                var block = bytes.AsSpan((int)(r * rowBytes) + (b * blockBytes), blockBytes);
                int group = b * 32 / matrix.GroupSize;
                Assert.Equal((Half)scales[group], BinaryPrimitives.ReadHalfLittleEndian(block));
                Assert.Equal((Half)biases[group], BinaryPrimitives.ReadHalfLittleEndian(block[2..]));
                uint high = ggmlType == GgmlType.Q5_1 ? BinaryPrimitives.ReadUInt32LittleEndian(block[4..]) : 0;
                for (int j = 0; j < 16; j++)
                {
                    int first = (block[nibbleOffset + j] & 0x0F) | (int)(((high >> j) & 1) << 4);
                    int second = (block[nibbleOffset + j] >> 4) | (int)(((high >> (j + 16)) & 1) << 4);
                    Assert.Equal(codes[(b * 32) + j], first);
                    Assert.Equal(codes[(b * 32) + j + 16], second);
                }
            }
        }
    }

    [Fact]
    public void MlxCodes_WiderCodesAreQuantizedAgain()
    {
        // The attention matrices of this model have 5-bit codes, which a Q4_1 block cannot hold.
        using var model = Gemma4Model.Load(TestData.Path("tiny-gemma4", "winzling-like"));
        Export(model, GgufExportType.Q4_1, out var result);

        Assert.DoesNotContain("blk.0.attn_q.weight", result.TensorsWithKeptCodes);
        Assert.Contains("blk.0.ffn_gate.weight", result.TensorsWithKeptCodes);
    }

    [Theory]
    [InlineData(true, true, "from jinja")]
    [InlineData(false, true, "default from config")]
    [InlineData(false, false, null)]
    public void ChatTemplate_SameSourceAsChatEngine(bool withJinja, bool withConfigList, string? expected)
    {
        // chat_template.jinja wins over tokenizer_config.json, whose list form gives its "default" entry.
        string folder = Directory.CreateDirectory(Path.Combine(_folder, "model")).FullName;
        foreach (string source in Directory.GetFiles(TestData.Path("tiny-gemma4")))
        {
            File.Copy(source, Path.Combine(folder, Path.GetFileName(source)));
        }

        if (withJinja)
        {
            File.WriteAllText(Path.Combine(folder, "chat_template.jinja"), "from jinja");
        }

        if (withConfigList)
        {
            var config = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(Path.Combine(folder, "tokenizer_config.json")))!.AsObject();
            config["chat_template"] = System.Text.Json.Nodes.JsonNode.Parse(
                """[{"name":"tool_use","template":"tools"},{"name":"default","template":"default from config"}]""");
            File.WriteAllText(Path.Combine(folder, "tokenizer_config.json"), config.ToJsonString());
        }

        using var model = Gemma4Model.Load(folder);
        var file = GgufReader.Read(Export(model, GgufExportType.F16));

        if (expected == null)
        {
            Assert.DoesNotContain("tokenizer.chat_template", file.MetadataOrder);
        }
        else
        {
            Assert.Equal(expected, file.Get<string>("tokenizer.chat_template"));
        }
    }

    [Fact]
    public void TinyModel_WarnsAboutFixedKvSources()
    {
        using var model = Gemma4Model.Load(TestData.Path("tiny-gemma4"));
        Export(model, GgufExportType.F16, out var result);

        Assert.Contains(result.Warnings, w => w.Contains("KV-shared layer(s) 6, 7, 8, 9", StringComparison.Ordinal));
    }

    [Fact]
    public void ExistingOutput_NeedsForce()
    {
        using var model = Gemma4Model.Load(TestData.Path("tiny-gemma4"));
        string path = Path.Combine(_folder, "existing.gguf");
        File.WriteAllText(path, "keep");

        var error = Assert.Throws<IOException>(() => Gemma4GgufExporter.Export(model, path, new GgufExportOptions { Type = GgufExportType.F16 }));
        Assert.Contains("--force", error.Message);
        Assert.Equal("keep", File.ReadAllText(path));

        Gemma4GgufExporter.Export(model, path, new GgufExportOptions { Type = GgufExportType.F16, Force = true });
        Assert.Equal("gemma4", GgufReader.Read(path).Get<string>("general.architecture"));
        Assert.Single(Directory.GetFiles(_folder));
    }

    [Fact]
    public void MissingFolder_IsRejected()
    {
        using var model = Gemma4Model.Load(TestData.Path("tiny-gemma4"));
        string path = Path.Combine(_folder, "missing", "model.gguf");

        Assert.Throws<DirectoryNotFoundException>(() => Gemma4GgufExporter.Export(model, path, new GgufExportOptions()));
    }

    [Fact]
    public void OutputInsideFile_IsRejected()
    {
        using var model = Gemma4Model.Load(TestData.Path("tiny-gemma4"));
        string file = Path.Combine(_folder, "plain.gguf");
        File.WriteAllText(file, "keep");

        var error = Assert.Throws<IOException>(
            () => Gemma4GgufExporter.Export(model, Path.Combine(file, "model.gguf"), new GgufExportOptions()));
        Assert.Contains("is a file", error.Message);
        Assert.Single(Directory.GetFileSystemEntries(_folder));
    }

    [Fact]
    public void Cancellation_LeavesNothingBehind()
    {
        using var model = Gemma4Model.Load(TestData.Path("tiny-gemma4"));
        string path = Path.Combine(_folder, "cancelled.gguf");
        using var cancellation = new CancellationTokenSource();
        var progress = new CancelAfter(cancellation, reports: 3);

        Assert.ThrowsAny<OperationCanceledException>(
            () => Gemma4GgufExporter.Export(model, path, new GgufExportOptions { Type = GgufExportType.Q8_0 }, progress, cancellation.Token));
        Assert.Empty(Directory.GetFiles(_folder));
    }

    [Fact]
    public void Progress_ReachesTotal()
    {
        using var model = Gemma4Model.Load(TestData.Path("tiny-gemma4"));
        var reports = new List<GgufExportProgress>();
        string path = Path.Combine(_folder, "progress.gguf");

        var result = Gemma4GgufExporter.Export(model, path, new GgufExportOptions { Type = GgufExportType.Q4_0 }, new Collect(reports));

        var last = reports[^1];
        Assert.Equal(last.BytesTotal, last.BytesDone);
        Assert.Equal(result.Tensors.Count, last.TensorCount);
        Assert.Equal(new FileInfo(path).Length, result.FileBytes);
    }

    private string Export(Gemma4Model model, GgufExportType type) => Export(model, type, out _);

    private string Export(Gemma4Model model, GgufExportType type, out GgufExportResult result)
    {
        string path = Path.Combine(_folder, $"tiny-{type}.gguf");
        result = Gemma4GgufExporter.Export(model, path, new GgufExportOptions { Type = type, Force = true });
        return path;
    }

    private static WeightMatrix FindMatrix(Gemma4Model model, string tensorName)
    {
        var parts = tensorName.Split('.');
        var layer = model.Weights.Layers[int.Parse(parts[1], System.Globalization.CultureInfo.InvariantCulture)];
        return parts[2] switch
        {
            "attn_q" => layer.QProj,
            "ffn_gate" => layer.GateProj,
            "ffn_down" => layer.DownProj,
            _ => throw new ArgumentException($"This test maps only attn_q, ffn_gate and ffn_down; got {tensorName}.", nameof(tensorName)),
        };
    }

    private static float[] Floats(GgufReader file, string name, int count)
    {
        var values = new float[count];
        GgmlQuantization.Dequantize(GgmlType.F32, file.TensorBytes(name, count * 4L), values);
        return values;
    }

    private sealed class Collect(List<GgufExportProgress> reports) : IProgress<GgufExportProgress>
    {
        public void Report(GgufExportProgress value) => reports.Add(value);
    }

    private sealed class CancelAfter(CancellationTokenSource source, int reports) : IProgress<GgufExportProgress>
    {
        private int _count;

        public void Report(GgufExportProgress value)
        {
            if (++_count == reports)
            {
                source.Cancel();
            }
        }
    }
}
