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
    /// <param name="module">Module path; error messages name its tensors as module.weight, module.scales and module.biases.</param>
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
        string weight = module + ".weight";
        string scales = module + ".scales";
        string biases = module + ".biases";
        CheckMatrix(weight, weightShape, rows);
        CheckMatrix(scales, scalesShape, rows);
        CheckMatrix(biases, biasesShape, rows);
        if (columns <= 0)
        {
            throw new ArgumentOutOfRangeException(nameof(columns), columns, $"{module}: the expected number of input features must be positive.");
        }

        if (!scalesShape.AsSpan().SequenceEqual(biasesShape))
        {
            throw new FormatException(
                $"{scales} has shape {Format(scalesShape)} but {biases} has {Format(biasesShape)}; both must be [rows, input features / group size].");
        }

        long packedBits = weightShape[1] * 32;
        if (packedBits % columns != 0 || !QuantizationParameters.SupportedBits.Contains((int)(packedBits / columns)))
        {
            throw new FormatException(
                $"{weight} has {weightShape[1]} uint32 columns, which gives no supported bit width (2, 3, 4, 5, 6, 8) for {columns} input features; the tensor does not match the model configuration.");
        }

        if (scalesShape[1] <= 0 || columns % scalesShape[1] != 0
            || !QuantizationParameters.SupportedGroupSizes.Contains((int)(columns / scalesShape[1])))
        {
            throw new FormatException(
                $"{scales} has {scalesShape[1]} columns, which gives no supported group size (32, 64, 128) for {columns} input features; the tensor does not match the model configuration.");
        }

        var inferred = new QuantizationParameters((int)(packedBits / columns), (int)(columns / scalesShape[1]));
        if (configured is { } expected && expected != inferred)
        {
            throw new FormatException(
                $"{module}: config.json gives {expected.Bits} bits and group size {expected.GroupSize}, but the shapes of {weight} {Format(weightShape)} and {scales} {Format(scalesShape)} give {inferred.Bits} bits and group size {inferred.GroupSize}; fix the quantization block of config.json.");
        }

        return inferred;
    }

    private static void CheckMatrix(string tensor, long[] shape, int rows)
    {
        if (shape.Length != 2)
        {
            throw new FormatException($"{tensor} has shape {Format(shape)}, but quantized tensors are 2-D.");
        }

        if (shape[0] != rows)
        {
            throw new FormatException($"{tensor} has {shape[0]} rows (shape {Format(shape)}), but the model expects {rows}.");
        }
    }

    private static string Format(long[] shape) => "[" + string.Join(", ", shape) + "]";
}
