namespace Waldwicht.Formats.Mlx;

/// <summary>Bits and group size of one affine-quantized module.</summary>
public readonly record struct QuantizationParameters(int Bits, int GroupSize)
{
    /// <summary>Bit widths MLX affine quantization supports.</summary>
    public static readonly IReadOnlyList<int> SupportedBits = [2, 3, 4, 5, 6, 8];

    /// <summary>Group sizes MLX affine quantization supports.</summary>
    public static readonly IReadOnlyList<int> SupportedGroupSizes = [32, 64, 128];

    /// <summary>Defaults of MLX's affine mode when a field is absent: 4 bits, group size 64.</summary>
    public static QuantizationParameters MlxDefault => new(4, 64);

    /// <summary>True when both values are supported by MLX affine quantization.</summary>
    public bool IsSupported => SupportedBits.Contains(Bits) && SupportedGroupSizes.Contains(GroupSize);

    public override string ToString() => $"{Bits}-bit g{GroupSize}";
}
