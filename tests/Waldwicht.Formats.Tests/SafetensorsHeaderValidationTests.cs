using System.Buffers.Binary;
using Waldwicht.Formats.Safetensors;

namespace Waldwicht.Formats.Tests;

public sealed class SafetensorsHeaderValidationTests : IDisposable
{
    private readonly TemporaryFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    [Fact]
    public void FileShorterThanEightBytes()
    {
        string path = _folder.File("short.safetensors");
        File.WriteAllBytes(path, [1, 2, 3, 4, 5]);

        var error = Assert.Throws<SafetensorsFormatException>(() => SafetensorsFile.Open(path));

        Assert.Equal($"{path}: file is 5 bytes, too short for the 8-byte header length; the file is truncated or not safetensors.", error.Message);
    }

    [Fact]
    public void HeaderLengthBeyondFile()
    {
        string path = _folder.WriteSafetensors("long.safetensors", "{}", headerLength: 1000);

        var error = Assert.Throws<SafetensorsFormatException>(() => SafetensorsFile.Open(path));

        Assert.Equal($"{path}: header length 1000 is beyond the end of the file (10 bytes); the file is truncated or not safetensors.", error.Message);
    }

    [Fact]
    public void HeaderLengthHugeValue()
    {
        string path = _folder.WriteSafetensors("huge.safetensors", "{}", headerLength: ulong.MaxValue);

        var error = Assert.Throws<SafetensorsFormatException>(() => SafetensorsFile.Open(path));

        Assert.Equal($"{path}: header length {ulong.MaxValue} is beyond the end of the file (10 bytes); the file is truncated or not safetensors.", error.Message);
    }

    [Theory]
    [InlineData("", 0UL)]
    [InlineData("{", 1UL)]
    public void HeaderTooShort(string header, ulong length)
    {
        string path = _folder.WriteSafetensors("empty.safetensors", header, headerLength: length);

        var error = Assert.Throws<SafetensorsFormatException>(() => SafetensorsFile.Open(path));

        Assert.Equal($"{path}: header length is {length} bytes, too short for a JSON object; the file is not safetensors.", error.Message);
    }

    [Fact]
    public void HeaderLengthOverLimit()
    {
        using var stream = new PrefixOnlyStream(SafetensorsHeader.MaxHeaderBytes + 1, length: 200_000_000);

        var error = Assert.Throws<SafetensorsFormatException>(() => SafetensorsHeader.Read(stream, "big.safetensors"));

        Assert.Equal("big.safetensors: header length 100000001 exceeds the limit of 100000000 bytes.", error.Message);
    }

    [Fact]
    public void InvalidJson()
    {
        string path = _folder.WriteSafetensors("bad.safetensors", "{\"a\": ");

        var error = Assert.Throws<SafetensorsFormatException>(() => SafetensorsFile.Open(path));

        Assert.StartsWith($"{path}: header is not valid JSON: ", error.Message);
    }

    [Theory]
    [InlineData("[1, 2]", "Array")]
    [InlineData("\"text\"", "String")]
    [InlineData("null", "Null")]
    public void HeaderNotAnObject(string header, string kind)
    {
        string path = _folder.WriteSafetensors("array.safetensors", header);

        var error = Assert.Throws<SafetensorsFormatException>(() => SafetensorsFile.Open(path));

        Assert.Equal($"{path}: header must be a JSON object, found {kind}.", error.Message);
    }

    [Fact]
    public void OverlappingOffsets()
    {
        string path = _folder.WriteSafetensors(
            "overlap.safetensors",
            """{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}""",
            new byte[12]);

        var error = Assert.Throws<SafetensorsFormatException>(() => SafetensorsFile.Open(path));

        Assert.Equal($"{path}: data of tensors 'a' [0, 8) and 'b' [4, 12) overlap.", error.Message);
    }

    [Fact]
    public void OverlapWithEarlierLongerTensor()
    {
        string path = _folder.WriteSafetensors(
            "nested.safetensors",
            """{"outer":{"dtype":"U8","shape":[16],"data_offsets":[0,16]},"x":{"dtype":"U8","shape":[2],"data_offsets":[2,4]},"y":{"dtype":"U8","shape":[2],"data_offsets":[8,10]}}""",
            new byte[16]);

        var error = Assert.Throws<SafetensorsFormatException>(() => SafetensorsFile.Open(path));

        Assert.Equal($"{path}: data of tensors 'outer' [0, 16) and 'x' [2, 4) overlap.", error.Message);
    }

    [Fact]
    public void OffsetsOutOfRange()
    {
        string path = _folder.WriteSafetensors(
            "range.safetensors",
            """{"a":{"dtype":"U8","shape":[400],"data_offsets":[0,400]}}""",
            new byte[4]);

        var error = Assert.Throws<SafetensorsFormatException>(() => SafetensorsFile.Open(path));

        Assert.Equal(
            $"{path}: tensor 'a' has data_offsets [0, 400), but the data section holds only 4 bytes; the file is truncated or its header is corrupt.",
            error.Message);
    }

    [Fact]
    public void DataSectionTruncated()
    {
        string path = _folder.WriteSafetensors(
            "truncated.safetensors",
            """{"first":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"second":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}}""",
            new byte[12]);

        var error = Assert.Throws<SafetensorsFormatException>(() => SafetensorsFile.Open(path));

        Assert.Equal(
            $"{path}: tensor 'second' has data_offsets [8, 16), but the data section holds only 12 bytes; the file is truncated or its header is corrupt.",
            error.Message);
    }

    [Theory]
    [InlineData("[8,4]", "[8, 4]")]
    [InlineData("[-1,3]", "[-1, 3]")]
    [InlineData("[0,1.5]", "[0, 1.5]")]
    [InlineData("[0,\"8\"]", "[0, \"8\"]")]
    [InlineData("[0,99999999999999999999]", "[0, 99999999999999999999]")]
    public void InvalidOffsetPair(string offsets, string offsetsText)
    {
        string path = _folder.WriteSafetensors(
            "offsets.safetensors", $$$"""{"a":{"dtype":"U8","shape":[4],"data_offsets":{{{offsets}}}}}""", new byte[16]);

        var error = Assert.Throws<SafetensorsFormatException>(() => SafetensorsFile.Open(path));

        Assert.Equal(
            $"{path}: tensor 'a': invalid data_offsets {offsetsText}; begin and end must be integers with 0 <= begin <= end.", error.Message);
    }

    [Theory]
    [InlineData("\"data_offsets\":[0]")]
    [InlineData("\"data_offsets\":5")]
    [InlineData("\"other\":1")]
    public void MissingOffsetPair(string field)
    {
        string path = _folder.WriteSafetensors("offsets.safetensors", $$$"""{"a":{"dtype":"U8","shape":[4],{{{field}}}}}""", new byte[4]);

        var error = Assert.Throws<SafetensorsFormatException>(() => SafetensorsFile.Open(path));

        Assert.Equal($"{path}: tensor 'a': missing or invalid 'data_offsets' (expected [begin, end]).", error.Message);
    }

    [Fact]
    public void ByteSizeMismatch()
    {
        string path = _folder.WriteSafetensors(
            "size.safetensors", """{"w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,8]}}""", new byte[16]);

        var error = Assert.Throws<SafetensorsFormatException>(() => SafetensorsFile.Open(path));

        Assert.Equal($"{path}: tensor 'w': dtype F32 with shape [2, 2] needs 16 bytes, but data_offsets [0, 8) cover 8.", error.Message);
    }

    [Fact]
    public void ShapeTooLarge()
    {
        string path = _folder.WriteSafetensors(
            "overflow.safetensors", """{"w":{"dtype":"F64","shape":[4294967296,4294967296],"data_offsets":[0,8]}}""", new byte[8]);

        var error = Assert.Throws<SafetensorsFormatException>(() => SafetensorsFile.Open(path));

        Assert.Equal($"{path}: tensor 'w': shape [4294967296, 4294967296] has more bytes than a file can hold.", error.Message);
    }

    [Theory]
    [InlineData("Q4")]
    [InlineData("f32")]
    [InlineData("5")]
    [InlineData(" F32")]
    [InlineData("F4")]
    public void UnknownDType(string dtype)
    {
        string path = _folder.WriteSafetensors(
            "dtype.safetensors", $$$"""{"w":{"dtype":"{{{dtype}}}","shape":[1],"data_offsets":[0,1]}}""", new byte[1]);

        var error = Assert.Throws<SafetensorsFormatException>(() => SafetensorsFile.Open(path));

        Assert.Equal(
            $"{path}: tensor 'w': unknown dtype '{dtype}'; supported are BOOL, U8, I8, U16, I16, F16, BF16, U32, I32, F32, U64, I64, F64, F8_E4M3, F8_E5M2, F8_E8M0, C64.",
            error.Message);
    }

    [Theory]
    [InlineData("\"shape\":[1],\"data_offsets\":[0,1]", "missing or invalid 'dtype' (expected a string such as \"BF16\").")]
    [InlineData("\"dtype\":4,\"shape\":[1],\"data_offsets\":[0,1]", "missing or invalid 'dtype' (expected a string such as \"BF16\").")]
    [InlineData("\"dtype\":\"U8\",\"data_offsets\":[0,1]", "missing or invalid 'shape' (expected an array of integers).")]
    [InlineData("\"dtype\":\"U8\",\"shape\":{},\"data_offsets\":[0,1]", "missing or invalid 'shape' (expected an array of integers).")]
    [InlineData("\"dtype\":\"U8\",\"shape\":[1,-1],\"data_offsets\":[0,1]", "shape entry 1 is -1, but must be a non-negative integer.")]
    [InlineData("\"dtype\":\"U8\",\"shape\":[1.5],\"data_offsets\":[0,1]", "shape entry 0 is 1.5, but must be a non-negative integer.")]
    [InlineData("\"dtype\":\"U8\",\"shape\":[\"1\"],\"data_offsets\":[0,1]", "shape entry 0 is \"1\", but must be a non-negative integer.")]
    public void InvalidTensorEntry(string fields, string message)
    {
        string path = _folder.WriteSafetensors("entry.safetensors", $$$$"""{"w":{{{{{fields}}}}}}""", new byte[1]);

        var error = Assert.Throws<SafetensorsFormatException>(() => SafetensorsFile.Open(path));

        Assert.Equal($"{path}: tensor 'w': {message}", error.Message);
    }

    [Fact]
    public void TensorEntryNotAnObject()
    {
        string path = _folder.WriteSafetensors("entry.safetensors", """{"w":[1,2]}""");

        var error = Assert.Throws<SafetensorsFormatException>(() => SafetensorsFile.Open(path));

        Assert.Equal($"{path}: tensor 'w': entry must be an object with dtype, shape and data_offsets, found Array.", error.Message);
    }

    [Fact]
    public void DuplicateTensorName()
    {
        string path = _folder.WriteSafetensors(
            "duplicate.safetensors",
            """{"w":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"w":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}}""",
            new byte[2]);

        var error = Assert.Throws<SafetensorsFormatException>(() => SafetensorsFile.Open(path));

        Assert.Equal($"{path}: duplicate entry 'w' in the header.", error.Message);
    }

    [Fact]
    public void DuplicateMetadata()
    {
        string path = _folder.WriteSafetensors("duplicate.safetensors", """{"__metadata__":{},"__metadata__":null}""");

        var error = Assert.Throws<SafetensorsFormatException>(() => SafetensorsFile.Open(path));

        Assert.Equal($"{path}: duplicate entry '__metadata__' in the header.", error.Message);
    }

    [Theory]
    [InlineData("5", "__metadata__ must be an object of strings, found Number.")]
    [InlineData("[]", "__metadata__ must be an object of strings, found Array.")]
    [InlineData("{\"format\":1}", "__metadata__ value 'format' must be a string, found Number.")]
    [InlineData("{\"format\":null}", "__metadata__ value 'format' must be a string, found Null.")]
    public void InvalidMetadata(string metadata, string message)
    {
        string path = _folder.WriteSafetensors("metadata.safetensors", $$$"""{"__metadata__":{{{metadata}}}}""");

        var error = Assert.Throws<SafetensorsFormatException>(() => SafetensorsFile.Open(path));

        Assert.Equal($"{path}: {message}", error.Message);
    }

    [Fact]
    public void MissingFileNamed()
    {
        string path = _folder.File("absent.safetensors");

        var error = Assert.Throws<FileNotFoundException>(() => SafetensorsFile.Open(path));

        Assert.Equal($"Safetensors file not found: {path}", error.Message);
    }

    // Reports a large length and yields only an 8-byte header-length prefix.
    private sealed class PrefixOnlyStream(long headerLength, long length) : Stream
    {
        private readonly byte[] _prefix = BitConverterPrefix(headerLength);
        private int _position;

        public override bool CanRead => true;

        public override bool CanSeek => true;

        public override bool CanWrite => false;

        public override long Length => length;

        public override long Position { get => _position; set => throw new NotSupportedException(); }

        public override int Read(byte[] buffer, int offset, int count)
        {
            int n = Math.Min(count, _prefix.Length - _position);
            Array.Copy(_prefix, _position, buffer, offset, n);
            _position += n;
            return n;
        }

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        private static byte[] BitConverterPrefix(long value)
        {
            var bytes = new byte[8];
            BinaryPrimitives.WriteInt64LittleEndian(bytes, value);
            return bytes;
        }
    }
}
