using System.Buffers.Binary;
using Waldwicht.Formats.Gguf;

namespace Waldwicht.Gguf.Tests;

public sealed class GgufWriterTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("gguf-writer-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    [Fact]
    public void RoundTrip_MetadataOfEveryType()
    {
        var metadata = new List<KeyValuePair<string, GgufValue>>
        {
            new("general.architecture", GgufValue.String("gemma4")),
            new("test.u32", GgufValue.UInt32(4_000_000_000)),
            new("test.i32", GgufValue.Int32(-7)),
            new("test.u64", GgufValue.UInt64(1UL << 40)),
            new("test.f32", GgufValue.Float32(1e-6f)),
            new("test.bool", GgufValue.Bool(true)),
            new("test.unicode", GgufValue.String("▁Grüße 🌲")),
            new("test.strings", GgufValue.StringArray(["a", "", "<0x0A>"])),
            new("test.u32s", GgufValue.UInt32Array([1, 2, 3])),
            new("test.i32s", GgufValue.Int32Array([-1, 0, 6])),
            new("test.f32s", GgufValue.Float32Array([0.5f, -1000f])),
            new("test.bools", GgufValue.BoolArray([true, false, true])),
        };
        string path = Write(metadata, []);

        var file = GgufReader.Read(path);

        Assert.Equal(3u, file.Version);
        Assert.Equal(metadata.Select(m => m.Key), file.MetadataOrder);
        Assert.Equal("gemma4", file.Get<string>("general.architecture"));
        Assert.Equal(4_000_000_000u, file.Get<uint>("test.u32"));
        Assert.Equal(-7, file.Get<int>("test.i32"));
        Assert.Equal(1UL << 40, file.Get<ulong>("test.u64"));
        Assert.Equal(1e-6f, file.Get<float>("test.f32"));
        Assert.True(file.Get<bool>("test.bool"));
        Assert.Equal("▁Grüße 🌲", file.Get<string>("test.unicode"));
        Assert.Equal(["a", "", "<0x0A>"], file.Get<object[]>("test.strings").Cast<string>());
        Assert.Equal([1u, 2u, 3u], file.Get<object[]>("test.u32s").Cast<uint>());
        Assert.Equal([-1, 0, 6], file.Get<object[]>("test.i32s").Cast<int>());
        Assert.Equal([0.5f, -1000f], file.Get<object[]>("test.f32s").Cast<float>());
        Assert.Equal([true, false, true], file.Get<object[]>("test.bools").Cast<bool>());
        Assert.Equal(GgufValueType.Array, file.MetadataTypes["test.bools"]);
        Assert.Equal(file.DataStart, file.FileLength);
    }

    [Fact]
    public void RoundTrip_TensorInfosOffsetsAndData()
    {
        var tensors = new[]
        {
            new GgufTensorDeclaration("vector", GgmlType.F32, [3]),
            new GgufTensorDeclaration("matrix", GgmlType.F16, [5, 2]),
            new GgufTensorDeclaration("blocks", GgmlType.Q4_0, [64, 3]),
        };
        var vector = new byte[12];
        BinaryPrimitives.WriteSingleLittleEndian(vector, 1.5f);
        BinaryPrimitives.WriteSingleLittleEndian(vector.AsSpan(4), -2f);
        BinaryPrimitives.WriteSingleLittleEndian(vector.AsSpan(8), 3.25f);
        var matrix = Enumerable.Range(1, 20).Select(i => (byte)i).ToArray();
        var blocks = Enumerable.Range(0, 3 * 2 * 18).Select(i => (byte)(i * 7)).ToArray();

        string path = Path.Combine(_folder, "tensors.gguf");
        using (var writer = GgufWriter.Create(path, [new("general.architecture", GgufValue.String("test"))], tensors))
        {
            writer.Write("vector", vector);
            writer.Write("matrix", matrix.AsSpan(0, 7));
            writer.Write("matrix", matrix.AsSpan(7));
            writer.Write("blocks", blocks);
            writer.Complete();
        }

        var file = GgufReader.Read(path);
        Assert.Equal(32, file.Alignment);
        Assert.Equal(0, file.DataStart % 32);
        Assert.Equal(["vector", "matrix", "blocks"], file.Tensors.Select(t => t.Name));
        Assert.Equal([0L, 32L, 64L], file.Tensors.Select(t => t.Offset));
        Assert.Equal([5L, 2L], file.Tensor("matrix").Dimensions);
        Assert.Equal([(uint)GgmlType.F32, (uint)GgmlType.F16, (uint)GgmlType.Q4_0], file.Tensors.Select(t => t.Type));
        Assert.Equal(vector, file.TensorBytes("vector", 12).ToArray());
        Assert.Equal(matrix, file.TensorBytes("matrix", 20).ToArray());
        Assert.Equal(blocks, file.TensorBytes("blocks", blocks.Length).ToArray());
        Assert.Equal(file.DataStart + 64 + blocks.Length, file.FileLength);
        Assert.Equal(new byte[20], file.TensorBytes("vector", 32).ToArray()[12..]);
    }

    [Fact]
    public void Alignment_FromMetadata()
    {
        string path = Path.Combine(_folder, "aligned.gguf");
        var metadata = new List<KeyValuePair<string, GgufValue>> { new(GgufWriter.AlignmentKey, GgufValue.UInt32(64)) };
        using (var writer = GgufWriter.Create(path, metadata, [new("a", GgmlType.F32, [1]), new("b", GgmlType.F32, [1])]))
        {
            writer.Write("a", new byte[4]);
            writer.Write("b", new byte[4]);
            writer.Complete();
        }

        var file = GgufReader.Read(path);
        Assert.Equal(64, file.Alignment);
        Assert.Equal(0, file.DataStart % 64);
        Assert.Equal(64, file.Tensor("b").Offset);
    }

    [Fact]
    public void Create_RejectsInvalidDeclarations()
    {
        string path = Path.Combine(_folder, "bad.gguf");
        Assert.Throws<ArgumentException>(() => GgufWriter.Create(path, [new("k", GgufValue.Bool(true)), new("k", GgufValue.Bool(false))], []));
        Assert.Throws<ArgumentException>(() => GgufWriter.Create(path, [], [new("t", GgmlType.F32, [1]), new("t", GgmlType.F32, [1])]));
        Assert.Throws<ArgumentException>(() => GgufWriter.Create(path, [], [new(new string('x', 64), GgmlType.F32, [1])]));
        Assert.Throws<ArgumentException>(() => GgufWriter.Create(path, [], [new("t", GgmlType.F32, [0])]));
        Assert.Throws<ArgumentException>(() => GgufWriter.Create(path, [], [new("t", GgmlType.F32, [1, 1, 1, 1, 1])]));
        var error = Assert.Throws<ArgumentException>(() => GgufWriter.Create(path, [], [new("t", GgmlType.Q8_0, [48, 2])]));
        Assert.Contains("48", error.Message);
        Assert.Throws<ArgumentException>(() => GgufWriter.Create(path, [new(GgufWriter.AlignmentKey, GgufValue.UInt32(12))], []));
        Assert.Throws<ArgumentException>(() => GgufValue.String("\ud800"));
        Assert.Empty(Directory.GetFiles(_folder));
    }

    [Fact]
    public void Write_EnforcesOrderAndSizes()
    {
        string path = Path.Combine(_folder, "order.gguf");
        using var writer = GgufWriter.Create(path, [], [new("a", GgmlType.F32, [2]), new("b", GgmlType.F32, [1])]);

        Assert.Throws<InvalidOperationException>(() => writer.Write("b", new byte[4]));
        Assert.Throws<ArgumentException>(() => writer.Write("c", new byte[4]));
        Assert.Throws<InvalidOperationException>(() => writer.Write("a", new byte[12]));
        writer.Write("a", new byte[8]);
        Assert.Equal("b", writer.CurrentTensor?.Name);
        Assert.Throws<InvalidOperationException>(() => writer.Write("a", new byte[1]));
        var incomplete = Assert.Throws<InvalidOperationException>(writer.Complete);
        Assert.Contains("'b'", incomplete.Message);
    }

    [Fact]
    public void Dispose_WithoutComplete_LeavesNoFile()
    {
        string path = Path.Combine(_folder, "partial.gguf");
        using (var writer = GgufWriter.Create(path, [], [new("a", GgmlType.F32, [4])]))
        {
            writer.Write("a", new byte[8]);
        }

        Assert.Empty(Directory.GetFiles(_folder));
    }

    [Fact]
    public void Complete_ReplacesExistingFile()
    {
        string path = Path.Combine(_folder, "existing.gguf");
        File.WriteAllText(path, "old");
        using (var writer = GgufWriter.Create(path, [new("general.name", GgufValue.String("new"))], []))
        {
            Assert.Equal("old", File.ReadAllText(path));
            writer.Complete();
        }

        Assert.Equal("new", GgufReader.Read(path).Get<string>("general.name"));
        Assert.Single(Directory.GetFiles(_folder));
    }

    private string Write(List<KeyValuePair<string, GgufValue>> metadata, GgufTensorDeclaration[] tensors)
    {
        string path = Path.Combine(_folder, "file.gguf");
        using var writer = GgufWriter.Create(path, metadata, tensors);
        writer.Complete();
        return path;
    }
}
