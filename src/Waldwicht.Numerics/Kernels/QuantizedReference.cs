namespace Waldwicht.Numerics.Kernels;

/// <summary>
/// Scalar reference kernels for MLX affine-quantized rows: one code at a time, in natural order. The vector
/// kernels are tested against these, and <see cref="KernelPath.Scalar"/> runs them.
/// </summary>
internal static unsafe class QuantizedReference
{
    /// <summary>
    /// Computes Σ_g (scale_g·Σ_{c∈g} x[c]·code[c] + bias_g·Σ_{c∈g} x[c]) for one row, which equals the dot
    /// product of x with the dequantized row.
    /// </summary>
    public static float DotRow(in QuantizedLayout matrix, int row, float* x)
    {
        uint* words = matrix.RowWords(row);
        long groupBase = (long)row * matrix.GroupsPerRow;
        int groupSize = matrix.GroupSize;
        float sum = 0;
        for (int g = 0; g < matrix.GroupsPerRow; g++)
        {
            float codeDot = 0;
            float xSum = 0;
            for (int c = g * groupSize; c < (g + 1) * groupSize; c++)
            {
                codeDot += QuantizedLayout.ExtractCode(words, c, matrix.Bits) * x[c];
                xSum += x[c];
            }

            float scale = matrix.LoadParameter(matrix.Scales, groupBase + g);
            float bias = matrix.LoadParameter(matrix.Biases, groupBase + g);
            sum += scale * codeDot + bias * xSum;
        }

        return sum;
    }

    /// <summary>
    /// Computes Σ_g (scale_g·d_g)·Σ_{c∈g} code[c]·q[c] + Σ_g bias_g·Σx_g for one row and one quantized activation
    /// row: the integer path's reference. With low codes (not null), each group adds
    /// (scale_g·d_g)·2^−15·Σ code[c]·q_low[c]. The integer sums are exact, so the vector kernels differ from this only
    /// in the float summation order.
    /// </summary>
    public static float DotRowQuantized(
        in QuantizedLayout matrix, int row, short* codes, short* lowCodes, float* activationScales, float* sums)
    {
        uint* words = matrix.RowWords(row);
        long groupBase = (long)row * matrix.GroupsPerRow;
        int groupSize = matrix.GroupSize;
        float dot = 0;
        float bias = 0;
        for (int g = 0; g < matrix.GroupsPerRow; g++)
        {
            int integer = 0;
            int lowInteger = 0;
            for (int c = g * groupSize; c < (g + 1) * groupSize; c++)
            {
                int code = (int)QuantizedLayout.ExtractCode(words, c, matrix.Bits);
                integer += code * codes[c];
                lowInteger += lowCodes == null ? 0 : code * lowCodes[c];
            }

            float scale = matrix.LoadParameter(matrix.Scales, groupBase + g) * activationScales[g];
            dot += scale * integer;
            if (lowCodes != null)
            {
                dot += scale * QuantizedActivations.LowCodeWeight * lowInteger;
            }

            bias += matrix.LoadParameter(matrix.Biases, groupBase + g) * sums[g];
        }

        return dot + bias;
    }

    /// <summary>
    /// Writes the dequantized row: each element is code·scale rounded to float, plus bias rounded to float
    /// (two roundings, as MLX dequantizes, never a fused multiply-add).
    /// </summary>
    public static void DequantizeRow(in QuantizedLayout matrix, int row, float* destination)
    {
        uint* words = matrix.RowWords(row);
        long groupBase = (long)row * matrix.GroupsPerRow;
        int groupSize = matrix.GroupSize;
        for (int g = 0; g < matrix.GroupsPerRow; g++)
        {
            float scale = matrix.LoadParameter(matrix.Scales, groupBase + g);
            float bias = matrix.LoadParameter(matrix.Biases, groupBase + g);
            for (int c = g * groupSize; c < (g + 1) * groupSize; c++)
            {
                float product = QuantizedLayout.ExtractCode(words, c, matrix.Bits) * scale;
                destination[c] = product + bias;
            }
        }
    }
}
