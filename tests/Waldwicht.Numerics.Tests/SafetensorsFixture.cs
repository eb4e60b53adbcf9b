using System.Runtime.InteropServices;
using System.Text.Json;

namespace Waldwicht.Numerics.Tests;

/// <summary>
/// A minimal safetensors reader for the committed test vectors: the whole file in native memory and the header
/// parsed into names, shapes and data pointers. Kept here so that these tests do not depend on other layers.
/// </summary>
internal sealed unsafe class SafetensorsFixture : IDisposable
{
    private readonly NativeBuffer _file;
    private readonly Dictionary<string, (string DType, int[] Shape, long Offset, long Length)> _tensors = [];

    public SafetensorsFixture(string path)
    {
        byte[] bytes = File.ReadAllBytes(path);
        long headerLength = BitConverter.ToInt64(bytes, 0);
        using var header = JsonDocument.Parse(bytes.AsMemory(8, (int)headerLength));
        long dataStart = 8 + headerLength;

        // 64-byte aligned copy, so that the tensors are read through pointers as the product code reads mapped files.
        _file = new NativeBuffer(bytes.Length);
        Marshal.Copy(bytes, 0, _file.Pointer, bytes.Length);
        foreach (var entry in header.RootElement.EnumerateObject())
        {
            if (entry.Name == "__metadata__")
            {
                continue;
            }

            var offsets = entry.Value.GetProperty("data_offsets");
            long begin = offsets[0].GetInt64();
            long end = offsets[1].GetInt64();
            int[] shape = entry.Value.GetProperty("shape").EnumerateArray().Select(d => d.GetInt32()).ToArray();
            _tensors[entry.Name] = (entry.Value.GetProperty("dtype").GetString()!, shape, dataStart + begin, end - begin);
        }
    }

    public string DType(string name) => _tensors[name].DType;

    public int[] Shape(string name) => _tensors[name].Shape;

    public nint Pointer(string name) => _file.Pointer + (nint)_tensors[name].Offset;

    public ReadOnlySpan<T> Span<T>(string name)
        where T : unmanaged =>
        new((void*)Pointer(name), (int)(_tensors[name].Length / sizeof(T)));

    public void Dispose() => _file.Dispose();
}
