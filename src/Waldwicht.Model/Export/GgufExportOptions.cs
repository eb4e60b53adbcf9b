using Waldwicht.Formats.Gguf;

namespace Waldwicht.Model.Export;

/// <summary>Storage type requested for the weight matrices of a GGUF export, named as llama.cpp's file types.</summary>
public enum GgufExportType
{
    F32,
    F16,
    Q8_0,
    Q5_1,
    Q5_0,
    Q4_1,
    Q4_0,
}

/// <summary>Settings of a GGUF export.</summary>
public sealed record GgufExportOptions
{
    /// <summary>Storage type of the weight matrices; norms and other 1-D tensors are always F32.</summary>
    public GgufExportType Type { get; init; } = GgufExportType.F16;

    /// <summary>Replace an existing output file (only after the new one is complete).</summary>
    public bool Force { get; init; }

    /// <summary>Value of general.name; null uses the model folder's name.</summary>
    public string? Name { get; init; }

    /// <summary>Threads that convert rows in parallel; null uses every processor.</summary>
    public int? Threads { get; init; }
}

/// <summary>Progress of an export, reported after each chunk of rows.</summary>
/// <param name="TensorNumber">1-based number of the tensor being written.</param>
/// <param name="TensorCount">Tensors in the file.</param>
/// <param name="Tensor">GGUF name of the tensor being written.</param>
/// <param name="BytesDone">Tensor data bytes written so far, over all tensors.</param>
/// <param name="BytesTotal">Tensor data bytes of the whole file.</param>
public sealed record GgufExportProgress(int TensorNumber, int TensorCount, string Tensor, long BytesDone, long BytesTotal);

/// <summary>Outcome of a finished export.</summary>
/// <param name="Path">Full path of the written file.</param>
/// <param name="FileBytes">Size of the file.</param>
/// <param name="Tensors">The tensors in file order.</param>
/// <param name="Warnings">Facts about the output that a user of llama.cpp should know.</param>
/// <param name="TensorsWithKeptCodes">
/// Names of the quantized tensors whose MLX codes were copied unchanged (up to 4 bits into Q4_1, up to 5 bits into Q5_1).
/// </param>
public sealed record GgufExportResult(
    string Path,
    long FileBytes,
    IReadOnlyList<GgufTensorDeclaration> Tensors,
    IReadOnlyList<string> Warnings,
    IReadOnlyList<string> TensorsWithKeptCodes);

/// <summary>Mapping between <see cref="GgufExportType"/> and GGML's type ids and llama.cpp's file types.</summary>
public static class GgufExportTypeExtensions
{
    /// <summary>The type names that <see cref="Parse"/> accepts, in the order of <see cref="GgufExportType"/>.</summary>
    public static IReadOnlyList<string> Names { get; } = Enum.GetValues<GgufExportType>().Select(t => t.DisplayName()).ToArray();

    /// <summary>The names joined for messages: "f32, f16, …, q4_1 or q4_0".</summary>
    public static string Choices { get; } = string.Join(", ", Names.SkipLast(1)) + " or " + Names[^1];

    /// <summary>Parses "f32", "f16", "q8_0", "q5_1", "q5_0", "q4_1" or "q4_0" (case-insensitive).</summary>
    /// <exception cref="ArgumentException">The name is not one of those.</exception>
    public static GgufExportType Parse(string name) => name.ToLowerInvariant() switch
    {
        "f32" => GgufExportType.F32,
        "f16" => GgufExportType.F16,
        "q8_0" => GgufExportType.Q8_0,
        "q5_1" => GgufExportType.Q5_1,
        "q5_0" => GgufExportType.Q5_0,
        "q4_1" => GgufExportType.Q4_1,
        "q4_0" => GgufExportType.Q4_0,
        _ => throw new ArgumentException($"GGUF type '{name}' is not supported; use {Choices}.", nameof(name)),
    };

    /// <summary>The GGML element type of the weight matrices.</summary>
    public static GgmlType MatrixType(this GgufExportType type) => type switch
    {
        GgufExportType.F32 => GgmlType.F32,
        GgufExportType.F16 => GgmlType.F16,
        GgufExportType.Q8_0 => GgmlType.Q8_0,
        GgufExportType.Q5_1 => GgmlType.Q5_1,
        GgufExportType.Q5_0 => GgmlType.Q5_0,
        GgufExportType.Q4_1 => GgmlType.Q4_1,
        GgufExportType.Q4_0 => GgmlType.Q4_0,
        _ => throw new ArgumentOutOfRangeException(nameof(type), type, null),
    };

    /// <summary>The general.file_type value (enum llama_ftype in include/llama.h).</summary>
    public static uint FileType(this GgufExportType type) => type switch
    {
        GgufExportType.F32 => 0,
        GgufExportType.F16 => 1,
        GgufExportType.Q4_0 => 2,
        GgufExportType.Q4_1 => 3,
        GgufExportType.Q8_0 => 7,
        GgufExportType.Q5_0 => 8,
        GgufExportType.Q5_1 => 9,
        _ => throw new ArgumentOutOfRangeException(nameof(type), type, null),
    };

    /// <summary>The lower-case name used on the command line and in llama.cpp file names.</summary>
    public static string DisplayName(this GgufExportType type) => type.ToString().ToLowerInvariant();
}
