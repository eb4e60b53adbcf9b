using System.Text;
using Waldwicht.Formats.Safetensors;
using Waldwicht.Tests;

namespace Waldwicht.Formats.Tests;

public sealed class SafetensorsWriterTests : IDisposable
{
    private readonly TemporaryFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    [Fact]
    public void RoundTripInChunks()
    {
        string path = _folder.File("out.safetensors");
        var matrix = Enumerable.Range(0, 6 * 10).Select(i => i * 0.5f).ToArray();
        var codes = Enumerable.Range(0, 7).Select(i => (uint)(i * 0x01010101)).ToArray();
        TensorDeclaration[] tensors =
        [
            new("m.weight", SafetensorsDType.F32, [6, 10]),
            new("empty", SafetensorsDType.BF16, [0, 3]),
            new("q.weight", SafetensorsDType.U32, [7]),
            new("s", SafetensorsDType.F16, []),
        ];

        using (var writer = SafetensorsWriter.Create(path, tensors, [new("format", "mlx")]))
        {
            // Block by block: two rows at a time, then single odd-sized byte chunks.
            for (int row = 0; row < 6; row += 2)
            {
                writer.Write<float>("m.weight", matrix.AsSpan(row * 10, 20));
            }

            var codeBytes = System.Runtime.InteropServices.MemoryMarshal.AsBytes(codes.AsSpan()).ToArray();
            writer.Write("q.weight", codeBytes.AsSpan(0, 5));
            writer.Write("q.weight", ReadOnlySpan<byte>.Empty);
            writer.Write("q.weight", codeBytes.AsSpan(5, 18));
            writer.Write("q.weight", codeBytes.AsSpan(23));
            writer.Write<Half>("s", [(Half)1.5]);
            Assert.Equal(writer.FileLength, 8 + writer.HeaderLength + 240 + 28 + 2);
            writer.Complete();
        }

        using var file = SafetensorsFile.Open(path);
        Assert.Equal(0, file.Header.DataOffset % 8);
        Assert.Equal(["m.weight", "empty", "q.weight", "s"], file.Tensors.Select(t => t.Name));
        Assert.Equal(matrix, file.GetSpan<float>("m.weight").ToArray());
        Assert.Equal(codes, file.GetSpan<uint>("q.weight").ToArray());
        Assert.Equal([(Half)1.5], file.GetSpan<Half>("s").ToArray());
        Assert.Equal([0L, 3L], file.GetInfo("empty").Shape);
        Assert.Equal("mlx", file.Metadata!["format"]);
        Assert.Equal(new FileInfo(path).Length, file.Header.DataOffset + file.Header.DataLength);
        Assert.Equal([Path.GetFileName(path)], Directory.GetFiles(_folder.Path).Select(Path.GetFileName));
    }

    [Fact]
    public void HeaderLayoutWithMetadata()
    {
        TensorDeclaration[] tensors = [new("a", SafetensorsDType.BF16, [2, 3]), new("b", SafetensorsDType.U32, [1])];

        string header = Encoding.UTF8.GetString(SafetensorsWriter.EncodeHeader(tensors, [new("format", "mlx")]));

        Assert.Equal(
            """{"a":{"dtype":"BF16","shape":[2,3],"data_offsets":[0,12]},"b":{"dtype":"U32","shape":[1],"data_offsets":[12,16]},"__metadata__":{"format":"mlx"}}""",
            header.TrimEnd(' '));
        Assert.Equal(0, header.Length % 8);
        Assert.InRange(header.Length - header.TrimEnd(' ').Length, 0, 7);
    }

    [Fact]
    public void HeaderLayoutWithoutMetadata()
    {
        string header = Encoding.UTF8.GetString(SafetensorsWriter.EncodeHeader([new("x", SafetensorsDType.F32, [])]));

        // 53 characters of JSON, padded with 3 spaces to 56.
        Assert.Equal("""{"x":{"dtype":"F32","shape":[],"data_offsets":[0,4]}}""" + "   ", header);
    }

    [Fact]
    public void HeaderEscapesNames()
    {
        string name = "a\"b\\c\nd\u0001é";

        byte[] header = SafetensorsWriter.EncodeHeader([new(name, SafetensorsDType.U8, [1])], [new("k\t", "v/\u001f")]);

        string text = Encoding.UTF8.GetString(header).TrimEnd(' ');
        Assert.Equal(
            """{"a\"b\\c\nd\u0001é":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"__metadata__":{"k\t":"v/\u001f"}}""",
            text);
        var parsed = SafetensorsHeader.Parse(header, "escaped");
        Assert.Equal(name, parsed.Tensors[0].Name);
        Assert.Equal("v/\u001f", parsed.Metadata!["k\t"]);
    }

    [Fact]
    public void EmptyFileWithMetadataOnly()
    {
        string path = _folder.File("empty.safetensors");
        using (var writer = SafetensorsWriter.Create(path, [], [new("format", "mlx")]))
        {
            writer.Complete();
        }

        using var file = SafetensorsFile.Open(path);
        Assert.Empty(file.Tensors);
        Assert.Equal("mlx", file.Metadata!["format"]);
        Assert.Equal("{\"__metadata__\":{\"format\":\"mlx\"}}       ", Encoding.UTF8.GetString(File.ReadAllBytes(path)[8..]));
    }

    [Theory]
    [MemberData(nameof(FixtureFiles))]
    public void FixtureRewrittenByteForByte(string relativePath)
    {
        string source = TestData.Path(relativePath.Split('/'));
        string target = _folder.File("copy.safetensors");
        using (var file = SafetensorsFile.Open(source))
        {
            using var writer = SafetensorsWriter.Create(target, file.Tensors.Select(TensorDeclaration.From), file.Metadata);
            foreach (var tensor in file.Tensors)
            {
                var bytes = file.GetBytes(tensor);
                for (int offset = 0; offset < bytes.Length; offset += 1000)
                {
                    writer.Write(tensor.Name, bytes.Slice(offset, Math.Min(1000, bytes.Length - offset)));
                }
            }

            writer.Complete();
        }

        byte[] expected = File.ReadAllBytes(source);
        byte[] actual = File.ReadAllBytes(target);
        Assert.Equal(expected.Length, actual.Length);
        int firstDifference = expected.AsSpan().CommonPrefixLength(actual);
        Assert.True(firstDifference == expected.Length, $"{relativePath}: first differing byte at {firstDifference}.");
    }

    [Fact]
    public void TooManyBytes()
    {
        using var writer = SafetensorsWriter.Create(_folder.File("x.safetensors"), [new("w", SafetensorsDType.BF16, [2, 2])]);
        writer.Write("w", new byte[6]);

        var error = Assert.Throws<InvalidOperationException>(() => writer.Write("w", new byte[4]));

        Assert.Equal("Tensor 'w' is 8 bytes (BF16 [2, 2]), but 10 bytes were written to it.", error.Message);
        writer.Write("w", new byte[2]);
        writer.Complete();
    }

    [Fact]
    public void TooFewBytes()
    {
        string path = _folder.File("x.safetensors");
        using var writer = SafetensorsWriter.Create(path, [new("w", SafetensorsDType.F32, [4]), new("v", SafetensorsDType.U8, [1])]);
        writer.Write("w", new byte[12]);

        var error = Assert.Throws<InvalidOperationException>(writer.Complete);

        Assert.Equal($"Tensor 'w' received 12 of 16 bytes; 2 tensor(s) of {path} are incomplete, so the file cannot be completed.", error.Message);
    }

    [Fact]
    public void WrongOrder()
    {
        using var writer = SafetensorsWriter.Create(
            _folder.File("x.safetensors"), [new("a", SafetensorsDType.U8, [4]), new("b", SafetensorsDType.U8, [4])]);
        writer.Write("a", new byte[1]);

        var error = Assert.Throws<InvalidOperationException>(() => writer.Write("b", new byte[4]));

        Assert.Equal("Tensor 'b' was written before 'a' was complete (1 of 4 bytes); write the tensors in declaration order.", error.Message);
    }

    [Fact]
    public void RewriteCompletedTensor()
    {
        using var writer = SafetensorsWriter.Create(
            _folder.File("x.safetensors"), [new("a", SafetensorsDType.U8, [2]), new("b", SafetensorsDType.U8, [2])]);
        writer.Write("a", new byte[2]);

        var error = Assert.Throws<InvalidOperationException>(() => writer.Write("a", new byte[1]));

        Assert.Equal("Tensor 'a' is already complete (2 bytes); each tensor's bytes are written once, in declaration order.", error.Message);
    }

    [Fact]
    public void UndeclaredTensor()
    {
        using var writer = SafetensorsWriter.Create(_folder.File("x.safetensors"), [new("a", SafetensorsDType.U8, [2])]);

        var error = Assert.Throws<ArgumentException>(() => writer.Write("z", new byte[1]));

        Assert.StartsWith($"Tensor 'z' was not declared for {_folder.File("x.safetensors")}.", error.Message);
    }

    [Fact]
    public void ElementSizeMismatch()
    {
        using var writer = SafetensorsWriter.Create(_folder.File("x.safetensors"), [new("a", SafetensorsDType.BF16, [2])]);

        var error = Assert.Throws<ArgumentException>(() => writer.Write<float>("a", [1f]));

        Assert.StartsWith("Tensor 'a' is BF16 with 2-byte elements and cannot be written from Single (4 bytes).", error.Message);
    }

    [Theory]
    [InlineData("dup", "Tensor 'dup' is declared twice.")]
    [InlineData("__metadata__", "'__metadata__' is reserved for metadata and cannot name a tensor.")]
    [InlineData("", "Tensor declaration 1 has an empty name.")]
    public void InvalidDeclarations(string name, string message)
    {
        string path = _folder.File("x.safetensors");

        var error = Assert.Throws<ArgumentException>(() => SafetensorsWriter.Create(
            path, [new("dup", SafetensorsDType.U8, [1]), new(name, SafetensorsDType.U8, [1])]));

        Assert.StartsWith(message, error.Message);
        Assert.Empty(Directory.GetFiles(_folder.Path));
    }

    [Fact]
    public void NegativeDimension()
    {
        var error = Assert.Throws<ArgumentException>(() => SafetensorsWriter.EncodeHeader([new("w", SafetensorsDType.U8, [2, -1])]));

        Assert.StartsWith("Tensor 'w' has shape [2, -1]; dimensions must be non-negative.", error.Message);
    }

    [Fact]
    public void OversizedShape()
    {
        var error = Assert.Throws<ArgumentException>(() => SafetensorsWriter.EncodeHeader([new("w", SafetensorsDType.F64, [1L << 40, 1L << 30])]));

        Assert.StartsWith("Tensor 'w' with shape [1099511627776, 1073741824] is too large for a file.", error.Message);
    }

    [Fact]
    public void LoneSurrogateRejected()
    {
        var error = Assert.Throws<ArgumentException>(() => SafetensorsWriter.EncodeHeader([new("w\ud800", SafetensorsDType.U8, [1])]));

        Assert.Equal("A tensor name or metadata entry contains invalid UTF-16 (a lone surrogate).", error.Message);
    }

    [Fact]
    public void AbandonedWriteLeavesNoFile()
    {
        string path = _folder.File("abandoned.safetensors");
        using (var writer = SafetensorsWriter.Create(path, [new("w", SafetensorsDType.F32, [1024])]))
        {
            writer.Write("w", new byte[1000]);
            Assert.Single(Directory.GetFiles(_folder.Path));
        }

        Assert.Empty(Directory.GetFiles(_folder.Path));
    }

    [Fact]
    public void AbandonedWriteKeepsExistingFile()
    {
        string path = _folder.WriteText("model.safetensors", "previous");
        using (var writer = SafetensorsWriter.Create(path, [new("w", SafetensorsDType.U8, [4])]))
        {
            writer.Write("w", new byte[4]);
        }

        Assert.Equal("previous", File.ReadAllText(path));
        Assert.Single(Directory.GetFiles(_folder.Path));
    }

    [Fact]
    public void FailedCompleteLeavesNoFile()
    {
        string path = _folder.File("failed.safetensors");
        using (var writer = SafetensorsWriter.Create(path, [new("w", SafetensorsDType.U8, [4])]))
        {
            writer.Write("w", new byte[3]);
            Assert.Throws<InvalidOperationException>(writer.Complete);
        }

        Assert.Empty(Directory.GetFiles(_folder.Path));
    }

    [Fact]
    public void CompleteReplacesExistingFile()
    {
        string path = _folder.WriteText("model.safetensors", "previous");
        using (var writer = SafetensorsWriter.Create(path, [new("w", SafetensorsDType.U8, [1])]))
        {
            writer.Write("w", new byte[] { 5 });
            writer.Complete();
        }

        using var file = SafetensorsFile.Open(path);
        Assert.Equal([(byte)5], file.GetSpan<byte>("w").ToArray());
    }

    [Fact]
    public void ClosedWriterRejectsWrites()
    {
        var writer = SafetensorsWriter.Create(_folder.File("x.safetensors"), [new("w", SafetensorsDType.U8, [1])]);
        writer.Write("w", new byte[] { 1 });
        writer.Complete();
        writer.Dispose();

        Assert.Throws<ObjectDisposedException>(() => writer.Write("w", new byte[] { 1 }));
        Assert.True(File.Exists(_folder.File("x.safetensors")));
    }

    public static TheoryData<string> FixtureFiles()
    {
        string root = TestData.Path();
        var data = new TheoryData<string>();
        foreach (var path in Directory.GetFiles(root, "*.safetensors", SearchOption.AllDirectories).Order(StringComparer.Ordinal))
        {
            data.Add(Path.GetRelativePath(root, path).Replace('\\', '/'));
        }

        return data;
    }
}
