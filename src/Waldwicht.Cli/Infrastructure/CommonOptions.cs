using System.CommandLine;

namespace Waldwicht.Cli.Infrastructure;

/// <summary>Options shared by several commands.</summary>
internal static class CommonOptions
{
    /// <summary>--model: a folder or a Hugging Face id; omitted means the built-in demo model.</summary>
    public static Option<string?> Model() => new("--model", "-m")
    {
        Description = "Model folder or Hugging Face id (org/name, optionally @revision). "
            + "Omit it to use the built-in demo model, whose random weights produce noise.",
    };

    /// <summary>--threads: worker threads for the kernels.</summary>
    public static Option<int?> Threads() => new("--threads")
    {
        Description = "Worker threads for matrix kernels (default: all processors).",
    };

    /// <summary>--activations: how quantized matrix products represent the activations.</summary>
    public static Option<string?> Activations() => new("--activations")
    {
        HelpName = "f32|int32|int16|int8",
        Description = "Activation precision of quantized matrix-vector products (decoding, and prompt steps of up "
            + "to 3 tokens; longer prompt steps always use float): f32 (exact to float rounding), int32 (integer "
            + "dot products on 16-bit codes plus low codes for the rest, as exact as f32), int16 (faster, logits off by about 1e-2) or "
            + "int8 (fastest, can change the generated tokens). Default: int32 on x64 with AVX2 but without "
            + "AVX-512, f32 elsewhere.",
    };
}
