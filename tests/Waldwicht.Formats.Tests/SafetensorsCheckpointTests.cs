using Waldwicht.Formats.Safetensors;
using Waldwicht.Tests;

namespace Waldwicht.Formats.Tests;

public sealed class SafetensorsCheckpointTests : IDisposable
{
    private const string FirstShard = "model-00001-of-00002.safetensors";
    private const string SecondShard = "model-00002-of-00002.safetensors";

    private readonly TemporaryFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    [Fact]
    public void ShardsWithoutIndex()
    {
        WriteTwoShards();

        using var checkpoint = SafetensorsCheckpoint.Open(_folder.Path);

        AssertTwoShards(checkpoint);
    }

    [Fact]
    public void ShardsWithIndex()
    {
        WriteTwoShards();
        WriteIndex($$$"""{"metadata":{"total_size":12},"weight_map":{"a.weight":"{{{FirstShard}}}","b.weight":"{{{SecondShard}}}","c.weight":"{{{SecondShard}}}"}}""");

        // A stray file that the index does not name is not opened.
        _folder.WriteSafetensors("model-stale.safetensors", """{"a.weight":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}""", [0]);

        using var checkpoint = SafetensorsCheckpoint.Open(_folder.Path);

        AssertTwoShards(checkpoint);
    }

    [Fact]
    public void SingleFilePath()
    {
        WriteTwoShards();

        using var checkpoint = SafetensorsCheckpoint.Open(_folder.File(SecondShard));

        Assert.Equal(["b.weight", "c.weight"], checkpoint.Names);
        Assert.False(checkpoint.Contains("a.weight"));
    }

    [Fact]
    public void DuplicateAcrossShards()
    {
        WriteTwoShards();
        _folder.WriteSafetensors("model-extra.safetensors", """{"b.weight":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}""", [0]);

        var error = Assert.Throws<SafetensorsFormatException>(() => SafetensorsCheckpoint.Open(_folder.Path));

        Assert.Equal(
            $"Tensor 'b.weight' appears in both {SecondShard} and model-extra.safetensors in {_folder.Path}; remove the stale shard.",
            error.Message);
    }

    [Fact]
    public void MissingShardNamedInIndex()
    {
        WriteTwoShards();
        File.Delete(_folder.File(SecondShard));
        WriteIndex($$$"""{"weight_map":{"a.weight":"{{{FirstShard}}}","b.weight":"{{{SecondShard}}}"}}""");

        var error = Assert.Throws<SafetensorsFormatException>(() => SafetensorsCheckpoint.Open(_folder.Path));

        Assert.Equal(
            $"{IndexPath}: shard '{SecondShard}' is listed in the index but missing from {_folder.Path}; download or copy the missing shard.",
            error.Message);
    }

    [Fact]
    public void IndexPlacesTensorInWrongShard()
    {
        WriteTwoShards();
        WriteIndex($$$"""{"weight_map":{"a.weight":"{{{SecondShard}}}","b.weight":"{{{SecondShard}}}","c.weight":"{{{FirstShard}}}"}}""");

        var error = Assert.Throws<SafetensorsFormatException>(() => SafetensorsCheckpoint.Open(_folder.Path));

        Assert.Equal(
            $"{IndexPath}: weight_map places tensor 'a.weight' in {SecondShard}, but it is in {FirstShard}; the index does not match the shards, so re-download or regenerate it.",
            error.Message);
    }

    [Fact]
    public void IndexNamesAbsentTensor()
    {
        WriteTwoShards();
        WriteIndex($$$"""{"weight_map":{"a.weight":"{{{FirstShard}}}","z.weight":"{{{SecondShard}}}"}}""");

        var error = Assert.Throws<SafetensorsFormatException>(() => SafetensorsCheckpoint.Open(_folder.Path));

        Assert.Equal(
            $"{IndexPath}: weight_map places tensor 'z.weight' in {SecondShard}, but no shard contains it; the index does not match the shards, so re-download or regenerate it.",
            error.Message);
    }

    [Theory]
    [InlineData("""{"weight_map":""", "invalid JSON: ")]
    [InlineData("""[]""", "missing 'weight_map' object; a shard index maps each tensor name to its shard file.")]
    [InlineData("""{"metadata":{}}""", "missing 'weight_map' object; a shard index maps each tensor name to its shard file.")]
    [InlineData("""{"weight_map":["a"]}""", "missing 'weight_map' object; a shard index maps each tensor name to its shard file.")]
    [InlineData("""{"weight_map":{}}""", "weight_map is empty; the index lists no tensors.")]
    [InlineData("""{"weight_map":{"a.weight":1}}""", "weight_map entry 'a.weight' must be a file name string, found Number.")]
    [InlineData("""{"weight_map":{"a.weight":"../model.safetensors"}}""", "weight_map entry 'a.weight' names '../model.safetensors', which is not a file name in the model folder.")]
    [InlineData("""{"weight_map":{"a.weight":""}}""", "weight_map entry 'a.weight' names '', which is not a file name in the model folder.")]
    [InlineData("""{"weight_map":{"a.weight":"x.safetensors","a.weight":"y.safetensors"}}""", "weight_map lists tensor 'a.weight' twice.")]
    public void MalformedIndex(string index, string message)
    {
        WriteTwoShards();
        WriteIndex(index);

        var error = Assert.Throws<SafetensorsFormatException>(() => SafetensorsCheckpoint.Open(_folder.Path));

        Assert.StartsWith($"{IndexPath}: {message}", error.Message);
    }

    [Fact]
    public void FolderWithoutShards()
    {
        var error = Assert.Throws<FileNotFoundException>(() => SafetensorsCheckpoint.Open(_folder.Path));

        Assert.Equal(
            $"No model*.safetensors files and no {SafetensorsCheckpoint.IndexFileName} in {_folder.Path}; point to a folder that contains the model weights.",
            error.Message);
    }

    [Fact]
    public void MissingFolder()
    {
        string path = _folder.File("absent");

        var error = Assert.Throws<FileNotFoundException>(() => SafetensorsCheckpoint.Open(path));

        Assert.Equal($"Model folder or safetensors file not found: {path}", error.Message);
    }

    [Fact]
    public void UnknownTensorNamesFolder()
    {
        WriteTwoShards();
        using var checkpoint = SafetensorsCheckpoint.Open(_folder.Path);

        var error = Assert.Throws<KeyNotFoundException>(() => checkpoint.GetInfo("z"));

        Assert.Equal($"Tensor 'z' not found in the checkpoint at {_folder.Path}.", error.Message);
        Assert.Null(checkpoint.FindFile("z"));
    }

    [Theory]
    [MemberData(nameof(ModelFolders))]
    public void FixtureFoldersOpen(string folder)
    {
        string path = TestData.Path("tiny-gemma4", folder);

        using var checkpoint = SafetensorsCheckpoint.Open(path);

        Assert.Single(checkpoint.Files);
        Assert.NotEmpty(checkpoint.Names);
        Assert.Equal(File.Exists(Path.Combine(path, SafetensorsCheckpoint.IndexFileName)), folder is "winzling-like" or "uniform-q4-g64" or "uniform-q3-g32");
        foreach (var info in checkpoint.Tensors)
        {
            Assert.Equal(info.ByteLength, checkpoint.GetSpan<byte>(info.Name).Length);
        }
    }

    [Fact]
    public void FixtureIndexMatchesShard()
    {
        string path = TestData.Path("tiny-gemma4", "winzling-like");
        var weightMap = SafetensorsCheckpoint.ReadWeightMap(Path.Combine(path, SafetensorsCheckpoint.IndexFileName));
        using var checkpoint = SafetensorsCheckpoint.Open(path);

        Assert.Equal(checkpoint.Names.Order(StringComparer.Ordinal), weightMap.Select(e => e.Name).Order(StringComparer.Ordinal));
        Assert.All(weightMap, e => Assert.Equal("model.safetensors", e.File));
    }

    public static TheoryData<string> ModelFolders() => new(TestData.TinyModelFolders);

    private string IndexPath => _folder.File(SafetensorsCheckpoint.IndexFileName);

    private void WriteIndex(string json) => _folder.WriteText(SafetensorsCheckpoint.IndexFileName, json);

    private void WriteTwoShards()
    {
        _folder.WriteSafetensors(FirstShard, """{"a.weight":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}""", [0, 0, 128, 63, 0, 0, 0, 64]);
        _folder.WriteSafetensors(
            SecondShard,
            """{"b.weight":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},"c.weight":{"dtype":"U16","shape":[1],"data_offsets":[2,4]}}""",
            [7, 8, 1, 2]);
    }

    private void AssertTwoShards(SafetensorsCheckpoint checkpoint)
    {
        Assert.Equal(_folder.Path, checkpoint.Directory);
        Assert.Equal([FirstShard, SecondShard], checkpoint.Files.Select(f => Path.GetFileName(f.Path)));
        Assert.Equal(["a.weight", "b.weight", "c.weight"], checkpoint.Names);
        Assert.True(checkpoint.Contains("c.weight"));
        Assert.Equal([1f, 2f], checkpoint.GetSpan<float>("a.weight").ToArray());
        Assert.Equal([7, 8], checkpoint.GetSpan<byte>("b.weight").ToArray());
        Assert.Equal([(ushort)0x0201], checkpoint.GetSpan<ushort>("c.weight").ToArray());
        Assert.Equal(SafetensorsDType.U16, checkpoint.GetInfo("c.weight").DType);
        Assert.NotEqual(0, checkpoint.GetPointer("b.weight"));
        Assert.Equal(12, checkpoint.TotalTensorBytes);
        Assert.Equal([0, 0, 0, 64], checkpoint.GetBytes("a.weight", 4, 4).ToArray());
    }
}
