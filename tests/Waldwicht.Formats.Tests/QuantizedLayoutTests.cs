using Waldwicht.Formats.Mlx;

namespace Waldwicht.Formats.Tests;

public sealed class QuantizedLayoutTests
{
    private const string Module = "model.language_model.layers.3.mlp.down_proj";

    [Theory]
    [InlineData(1536, 12288, 1536, 192, 4, 64)]
    [InlineData(262144, 8960, 840, 140, 3, 64)]
    [InlineData(64, 160, 15, 5, 3, 32)]
    [InlineData(16, 64, 16, 1, 8, 64)]
    public void InfersBitsAndGroupSize(int rows, int columns, long packedColumns, long groupColumns, int bits, int groupSize)
    {
        var inferred = QuantizedLayout.Infer(Module, [rows, packedColumns], [rows, groupColumns], [rows, groupColumns], rows, columns, null);

        Assert.Equal(new QuantizationParameters(bits, groupSize), inferred);
        Assert.Equal(inferred, QuantizedLayout.Infer(Module, [rows, packedColumns], [rows, groupColumns], [rows, groupColumns], rows, columns, inferred));
    }

    [Fact]
    public void ConfigMismatchNamesTensors()
    {
        var error = Assert.Throws<FormatException>(() =>
            QuantizedLayout.Infer(Module, [64, 64], [64, 4], [64, 4], 64, 256, new QuantizationParameters(5, 64)));

        Assert.Equal(
            $"{Module}: config.json gives 5 bits and group size 64, but the shapes of {Module}.weight [64, 64] and {Module}.scales [64, 4] give 8 bits and group size 64; fix the quantization block of config.json.",
            error.Message);
    }

    [Fact]
    public void UnsupportedBitWidth()
    {
        var error = Assert.Throws<FormatException>(() => QuantizedLayout.Infer(Module, [64, 56], [64, 4], [64, 4], 64, 256, null));

        Assert.Equal(
            $"{Module}.weight has 56 uint32 columns, which gives no supported bit width (2, 3, 4, 5, 6, 8) for 256 input features; the tensor does not match the model configuration.",
            error.Message);
    }

    [Theory]
    [InlineData(16L)]
    [InlineData(3L)]
    [InlineData(0L)]
    public void UnsupportedGroupSize(long groupColumns)
    {
        var error = Assert.Throws<FormatException>(() => QuantizedLayout.Infer(Module, [64, 32], [64, groupColumns], [64, groupColumns], 64, 256, null));

        Assert.Equal(
            $"{Module}.scales has {groupColumns} columns, which gives no supported group size (32, 64, 128) for 256 input features; the tensor does not match the model configuration.",
            error.Message);
    }

    [Fact]
    public void RowMismatchNamesTensor()
    {
        var error = Assert.Throws<FormatException>(() => QuantizedLayout.Infer(Module, [64, 32], [64, 4], [32, 4], 64, 256, null));

        Assert.Equal($"{Module}.biases has 32 rows (shape [32, 4]), but the model expects 64.", error.Message);
    }

    [Fact]
    public void RankMismatchNamesTensor()
    {
        var error = Assert.Throws<FormatException>(() => QuantizedLayout.Infer(Module, [64, 32], [64, 4, 1], [64, 4], 64, 256, null));

        Assert.Equal($"{Module}.scales has shape [64, 4, 1], but quantized tensors are 2-D.", error.Message);
    }

    [Fact]
    public void ScalesAndBiasesDiffer()
    {
        var error = Assert.Throws<FormatException>(() => QuantizedLayout.Infer(Module, [64, 32], [64, 4], [64, 2], 64, 256, null));

        Assert.Equal(
            $"{Module}.scales has shape [64, 4] but {Module}.biases has [64, 2]; both must be [rows, input features / group size].",
            error.Message);
    }
}
