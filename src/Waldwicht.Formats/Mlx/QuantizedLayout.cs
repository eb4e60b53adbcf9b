namespace Waldwicht.Formats.Mlx;

/// <summary>
/// Derives the bits and group size of an affine-quantized tensor from the shapes of its packed
/// weight (uint32, [rows, columns·bits/32]) and its scales and biases ([rows, columns/group_size]),
/// and checks them against the configured values.
/// </summary>
public static class QuantizedLayout
{
    /// <summary>
    /// Infers and cross-checks the quantization of module <paramref name="module"/>.
    /// </summary>
    /// <param name="module">Module name used in error messages, such as "model.language_model.layers.3.mlp.down_proj".</param>
    /// <param name="weightShape">Shape of the packed .weight tensor.</param>
    /// <param name="scalesShape">Shape of the .scales tensor.</param>
    /// <param name="biasesShape">Shape of the .biases tensor.</param>
    /// <param name="rows">Expected rows (output features).</param>
    /// <param name="columns">Expected columns (input features) of the unpacked matrix.</param>
    /// <param name="configured">Parameters resolved from config.json, or null if the config has no quantization block.</param>
    /// <exception cref="FormatException">The shapes are inconsistent with each other, with the expected matrix shape, or with the configuration.</exception>
    public static QuantizationParameters Infer(
        string module, long[] weightShape, long[] scalesShape, long[] biasesShape, int rows, int columns, QuantizationParameters? configured)
    {
        if (weightShape.Length != 2 || scalesShape.Length != 2 || biasesShape.Length != 2)
        {
            throw new FormatException(
                $"{module}: quantized tensors must be 2-D, found weight [{string.Join(", ", weightShape)}], scales [{string.Join(", ", scalesShape)}], biases [{string.Join(", ", biasesShape)}].");
        }

        if (weightShape[0] != rows || scalesShape[0] != rows || biasesShape[0] != rows)
        {
            throw new FormatException(
                $"{module}: expected {rows} rows, found weight {weightShape[0]}, scales {scalesShape[0]}, biases {biasesShape[0]}.");
        }

        if (scalesShape[1] != biasesShape[1])
        {
            throw new FormatException($"{module}: scales have {scalesShape[1]} columns but biases have {biasesShape[1]}.");
        }

        long packedBits = weightShape[1] * 32;
        if (packedBits % columns != 0 || !QuantizationParameters.SupportedBits.Contains((int)(packedBits / columns)))
        {
            throw new FormatException(
                $"{module}: packed weight has {weightShape[1]} uint32 columns, which is no supported bit width (2, 3, 4, 5, 6, 8) for {columns} input features.");
        }

        if (scalesShape[1] == 0 || columns % scalesShape[1] != 0
            || !QuantizationParameters.SupportedGroupSizes.Contains((int)(columns / scalesShape[1])))
        {
            throw new FormatException(
                $"{module}: scales have {scalesShape[1]} columns, which is no supported group size (32, 64, 128) for {columns} input features.");
        }

        var inferred = new QuantizationParameters((int)(packedBits / columns), (int)(columns / scalesShape[1]));
        if (configured is { } expected && expected != inferred)
        {
            throw new FormatException(
                $"{module}: config.json says {expected.Bits}-bit group size {expected.GroupSize}, but the tensor shapes give {inferred.Bits}-bit group size {inferred.GroupSize} (weight [{weightShape[0]}, {weightShape[1]}], scales [{scalesShape[0]}, {scalesShape[1]}]).");
        }

        return inferred;
    }
}
