using System.Buffers.Binary;
using System.Numerics;
using System.Text;
using Waldwicht.Formats.Safetensors;
using Waldwicht.Tests;

namespace Waldwicht.Formats.Tests;

public sealed class SafetensorsFileTests : IDisposable
{
    private readonly TemporaryFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    [Fact]
    public void AllDTypesReadBack()
    {
        var data = new List<byte>();
        var entries = new List<string>();

        void Add(string name, string dtype, string shape, byte[] bytes)
        {
            entries.Add($$"""{{JsonName(name)}}:{"dtype":"{{dtype}}","shape":{{shape}},"data_offsets":[{{data.Count}},{{data.Count + bytes.Length}}]}""");
            data.AddRange(bytes);
        }

        Add("bf16", "BF16", "[2]", [0x80, 0x3F, 0x00, 0xC0]); // 1.0, -2.0
        Add("f16", "F16", "[2]", [0x00, 0x3C, 0x00, 0xC4]); // 1.0, -4.0
        Add("f32", "F32", "[2]", Bytes<float>(1.5f, -0.25f));
        Add("f64", "F64", "[1]", Bytes<double>(Math.PI));
        Add("u32", "U32", "[2]", Bytes<uint>(0xDEADBEEF, 7));
        Add("i32", "I32", "[2]", Bytes<int>(-5, int.MaxValue));
        Add("u8", "U8", "[3]", [0, 128, 255]);
        Add("i8", "I8", "[2]", [0xFF, 0x7F]);
        Add("u16", "U16", "[1]", Bytes<ushort>(65535));
        Add("i16", "I16", "[1]", Bytes<short>(-300));
        Add("u64", "U64", "[1]", Bytes<ulong>(ulong.MaxValue));
        Add("i64", "I64", "[1]", Bytes<long>(long.MinValue));
        Add("bool", "BOOL", "[2]", [1, 0]);
        Add("f8_e4m3", "F8_E4M3", "[1]", [0x38]);
        Add("f8_e5m2", "F8_E5M2", "[1]", [0x3C]);
        Add("f8_e8m0", "F8_E8M0", "[1]", [0x7F]);
        Add("c64", "C64", "[1]", Bytes<float>(1f, -1f));
        string path = _folder.WriteSafetensors("all.safetensors", "{" + string.Join(",", entries) + "}", data.ToArray());

        using var file = SafetensorsFile.Open(path);

        Assert.Equal([1.0f, -2.0f], file.GetSpan<ushort>("bf16").ToArray().Select(Numerics.BFloat16.ToSingle));
        Assert.Equal([(Half)1, (Half)(-4)], file.GetSpan<Half>("f16").ToArray());
        Assert.Equal([1.5f, -0.25f], file.GetSpan<float>("f32").ToArray());
        Assert.Equal([Math.PI], file.GetSpan<double>("f64").ToArray());
        Assert.Equal([0xDEADBEEF, 7u], file.GetSpan<uint>("u32").ToArray());
        Assert.Equal([-5, int.MaxValue], file.GetSpan<int>("i32").ToArray());
        Assert.Equal([0, 128, 255], file.GetSpan<byte>("u8").ToArray());
        Assert.Equal([-1, 127], file.GetSpan<sbyte>("i8").ToArray());
        Assert.Equal([(ushort)65535], file.GetSpan<ushort>("u16").ToArray());
        Assert.Equal([(short)-300], file.GetSpan<short>("i16").ToArray());
        Assert.Equal([ulong.MaxValue], file.GetSpan<ulong>("u64").ToArray());
        Assert.Equal([long.MinValue], file.GetSpan<long>("i64").ToArray());
        Assert.Equal([true, false], file.GetSpan<bool>("bool").ToArray());
        Assert.Equal([(byte)0x38], file.GetSpan<byte>("f8_e4m3").ToArray());
        Assert.Equal([(byte)0x3C], file.GetSpan<byte>("f8_e5m2").ToArray());
        Assert.Equal([(byte)0x7F], file.GetSpan<byte>("f8_e8m0").ToArray());
        Assert.Equal([new Complex(1, -1)], file.GetSpan<(float Re, float Im)>("c64").ToArray().Select(c => new Complex(c.Re, c.Im)));
        Assert.Equal(
            Enum.GetValues<SafetensorsDType>().Order(),
            file.Tensors.Select(t => t.DType).Order());
    }

    [Fact]
    public void DTypeNamesRoundTrip()
    {
        foreach (var dtype in Enum.GetValues<SafetensorsDType>())
        {
            Assert.True(SafetensorsDTypes.TryParse(dtype.HeaderName(), out var parsed));
            Assert.Equal(dtype, parsed);
        }
    }

    [Fact]
    public void ScalarAndZeroSizeTensors()
    {
        string path = _folder.WriteSafetensors(
            "shapes.safetensors",
            """{"scalar":{"dtype":"F32","shape":[],"data_offsets":[0,4]},"empty":{"dtype":"BF16","shape":[0,64],"data_offsets":[4,4]},"after":{"dtype":"U8","shape":[1],"data_offsets":[4,5]}}""",
            [.. Bytes<float>(2.5f), 9]);

        using var file = SafetensorsFile.Open(path);

        var scalar = file.GetInfo("scalar");
        Assert.Equal(0, scalar.Rank);
        Assert.Equal(1, scalar.ElementCount);
        Assert.Equal([2.5f], file.GetSpan<float>("scalar").ToArray());
        var empty = file.GetInfo("empty");
        Assert.Equal(0, empty.ElementCount);
        Assert.Equal("[0, 64]", empty.ShapeText);
        Assert.True(file.GetBytes("empty").IsEmpty);
        Assert.Equal(0, file.GetPointer("empty"));
        Assert.Equal([(byte)9], file.GetSpan<byte>("after").ToArray());
    }

    [Fact]
    public void OnlyZeroSizeTensors()
    {
        string path = _folder.WriteSafetensors("zero.safetensors", """{"e":{"dtype":"F32","shape":[0],"data_offsets":[0,0]}}""");

        using var file = SafetensorsFile.Open(path);

        Assert.Equal(0, file.Header.DataLength);
        Assert.True(file.GetSpan<float>("e").IsEmpty);
    }

    [Theory]
    [InlineData("""{"__metadata__":{"format":"mlx","note":"x"}}""", "format=mlx;note=x")]
    [InlineData("""{"__metadata__":{}}""", "")]
    [InlineData("""{"__metadata__":null}""", null)]
    [InlineData("""{}""", null)]
    public void MetadataForms(string header, string? expected)
    {
        string path = _folder.WriteSafetensors("metadata.safetensors", header);

        using var file = SafetensorsFile.Open(path);

        Assert.Equal(expected, file.Metadata == null ? null : string.Join(";", file.Metadata.Select(p => $"{p.Key}={p.Value}")));
        Assert.Empty(file.Tensors);
    }

    [Fact]
    public void UnalignedDataAndPaddedHeader()
    {
        // The unaligned file starts its data at an odd offset; the padded one fills its header
        // with spaces up to a multiple of 8 bytes.
        const string header = """{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}""";
        string odd = header.Length % 2 == 1 ? header : header + " ";
        string unaligned = _folder.WriteSafetensors("unaligned.safetensors", odd, Bytes<float>(1f, 2f));
        string padded = _folder.WriteSafetensors(
            "padded.safetensors", header.PadRight((header.Length + 7) / 8 * 8 + 8), Bytes<float>(1f, 2f));

        using var first = SafetensorsFile.Open(unaligned);
        using var second = SafetensorsFile.Open(padded);

        Assert.NotEqual(0, first.Header.DataOffset % 4);
        Assert.Equal([1f, 2f], first.GetSpan<float>("w").ToArray());
        Assert.Equal(0, second.Header.DataOffset % 8);
        Assert.Equal([1f, 2f], second.GetSpan<float>("w").ToArray());
    }

    [Fact]
    public void TensorsSortedByOffset()
    {
        string path = _folder.WriteSafetensors(
            "order.safetensors",
            """{"a":{"dtype":"U8","shape":[2],"data_offsets":[6,8]},"b":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},"c":{"dtype":"U8","shape":[2],"data_offsets":[3,5]}}""",
            [1, 2, 0, 3, 4, 0, 5, 6]);

        using var file = SafetensorsFile.Open(path);

        Assert.Equal(["b", "c", "a"], file.Tensors.Select(t => t.Name));
        Assert.Equal([5, 6], file.GetSpan<byte>("a").ToArray());
        Assert.Equal([3, 4], file.GetSpan<byte>("c").ToArray());
    }

    [Fact]
    public void NonAsciiNames()
    {
        string path = _folder.WriteSafetensors("utf8.safetensors", """{"gewicht.ä\"\\":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}""", [42]);

        using var file = SafetensorsFile.Open(path);

        Assert.Equal([(byte)42], file.GetSpan<byte>("gewicht.ä\"\\").ToArray());
    }

    [Fact]
    public void SpanElementSizeChecked()
    {
        string path = _folder.WriteSafetensors("bf16.safetensors", """{"w":{"dtype":"BF16","shape":[2],"data_offsets":[0,4]}}""", new byte[4]);
        using var file = SafetensorsFile.Open(path);

        var error = Assert.Throws<InvalidOperationException>(() => file.GetSpan<float>("w").Length);

        Assert.Equal($"Tensor 'w' in {path} is BF16 with 2-byte elements and cannot be read as Single (4 bytes).", error.Message);
        Assert.Equal(4, file.GetSpan<byte>("w").Length);
        Assert.Equal(2, file.GetSpan<ushort>("w").Length);
    }

    [Fact]
    public void ByteRangesOfTensor()
    {
        string path = _folder.WriteSafetensors(
            "range.safetensors", """{"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},"w":{"dtype":"U8","shape":[6],"data_offsets":[2,8]}}""", [9, 9, 1, 2, 3, 4, 5, 6]);
        using var file = SafetensorsFile.Open(path);
        var info = file.GetInfo("w");

        Assert.Equal([3, 4, 5], file.GetBytes(info, 2, 3).ToArray());
        Assert.Equal([6], file.GetBytes(info, 5, 1).ToArray());
        Assert.True(file.GetBytes(info, 6, 0).IsEmpty);
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => file.GetBytes(info, 4, 3).Length);
        Assert.StartsWith("Bytes [4, 7) do not lie inside tensor 'w' of 6 bytes.", error.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => file.GetBytes(info, -1, 1).Length);
    }

    [Fact]
    public void UnknownTensorName()
    {
        string path = _folder.WriteSafetensors("one.safetensors", """{"w":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}""", [1]);
        using var file = SafetensorsFile.Open(path);

        var error = Assert.Throws<KeyNotFoundException>(() => file.GetInfo("v"));

        Assert.Equal($"Tensor 'v' not found in {path}.", error.Message);
        Assert.False(file.Contains("v"));
    }

    [Fact]
    public void ForeignTensorInfoRejected()
    {
        string path = _folder.WriteSafetensors("one.safetensors", """{"w":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}""", [1]);
        using var file = SafetensorsFile.Open(path);
        var foreign = new TensorInfo("w", SafetensorsDType.U8, [1], 0, 1);

        var error = Assert.Throws<ArgumentException>(() => file.GetPointer(foreign));

        Assert.StartsWith($"Tensor entry 'w' does not belong to {path}.", error.Message);
    }

    [Fact]
    public void DisposedFileRejectsReads()
    {
        string path = _folder.WriteSafetensors("one.safetensors", """{"w":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}""", [1]);
        var file = SafetensorsFile.Open(path);
        file.Dispose();
        file.Dispose();

        Assert.Throws<ObjectDisposedException>(() => file.GetPointer("w"));
    }

    [Fact]
    public void TinyModelHeader()
    {
        using var file = SafetensorsFile.Open(TestData.Path("tiny-gemma4", "model.safetensors"));

        Assert.Equal(175, file.Tensors.Count);
        Assert.Equal(739290, file.Tensors.Sum(t => t.ElementCount));
        Assert.All(file.Tensors, t => Assert.Equal(SafetensorsDType.BF16, t.DType));
        Assert.Equal("pt", file.Metadata!["format"]);
        var embed = file.GetInfo("model.language_model.embed_tokens.weight");
        Assert.Equal([512L, 64L], embed.Shape);
        Assert.Equal(512 * 64, file.GetSpan<ushort>("model.language_model.embed_tokens.weight").Length);
    }

    [Theory]
    [InlineData("winzling-like", "mlx", SafetensorsDType.BF16, "language_model.model.")]
    [InlineData("winzling-like-release-layout", null, SafetensorsDType.BF16, "model.language_model.")]
    [InlineData("winzling-export", null, SafetensorsDType.F32, "model.language_model.")]
    [InlineData("uniform-q4-g64", "mlx", SafetensorsDType.BF16, "language_model.model.")]
    [InlineData("uniform-q3-g32", "mlx", SafetensorsDType.BF16, "language_model.model.")]
    public void QuantizedFixtureHeaders(string folder, string? format, SafetensorsDType scaleType, string prefix)
    {
        using var file = SafetensorsFile.Open(TestData.Path("tiny-gemma4", folder, "model.safetensors"));

        Assert.Equal(format, file.Metadata?["format"]);
        Assert.All(file.Tensors, t => Assert.StartsWith(prefix, t.Name));
        var scales = file.Tensors.Where(t => t.Name.EndsWith(".scales", StringComparison.Ordinal)).ToList();
        Assert.NotEmpty(scales);
        Assert.All(scales, t => Assert.Equal(scaleType, t.DType));
        Assert.All(scales, t => Assert.Equal(SafetensorsDType.U32, file.GetInfo(t.Name[..^".scales".Length] + ".weight").DType));
    }

    [Fact]
    public void EveryFixtureFileOpens()
    {
        var paths = Directory.GetFiles(TestData.Path(), "*.safetensors", SearchOption.AllDirectories);

        Assert.True(paths.Length >= 14, $"Expected the committed safetensors fixtures, found {paths.Length}.");
        foreach (var path in paths)
        {
            using var file = SafetensorsFile.Open(path);
            Assert.Equal(new FileInfo(path).Length, file.Header.DataOffset + file.Header.DataLength);
        }
    }

    private static string JsonName(string name) => "\"" + name + "\"";

    private static byte[] Bytes<T>(params T[] values)
        where T : unmanaged => System.Runtime.InteropServices.MemoryMarshal.AsBytes(values.AsSpan()).ToArray();
}
