namespace Waldwicht.Quantization.Conversion;

/// <summary>
/// Progress of a quantization run, in source bytes processed. A quantized tensor is read twice
/// (once for its scales and biases, once for its packed codes), so its work is twice its size.
/// </summary>
/// <param name="Tensor">Name of the source tensor being processed.</param>
/// <param name="TensorNumber">1-based position of that tensor in processing order.</param>
/// <param name="TensorCount">Tensors to process (dropped tensors excluded).</param>
/// <param name="TensorDone">Work done on the current tensor.</param>
/// <param name="TensorTotal">Work of the current tensor.</param>
/// <param name="Done">Work done in total.</param>
/// <param name="Total">Work of the whole run.</param>
public readonly record struct QuantizationProgress(
    string Tensor, int TensorNumber, int TensorCount, long TensorDone, long TensorTotal, long Done, long Total);

/// <summary>The outcome of a finished quantization run.</summary>
/// <param name="Plan">The executed plan.</param>
/// <param name="OutputDirectory">Full path of the written folder.</param>
/// <param name="Files">Names of the files in the folder, sorted.</param>
/// <param name="SafetensorsBytes">Total size of the safetensors files (equals <see cref="QuantizationPlan.FileBytes"/>).</param>
/// <param name="Warnings">The plan's warnings plus those of the run, such as a missing tokenizer.</param>
public sealed record QuantizationResult(
    QuantizationPlan Plan, string OutputDirectory, IReadOnlyList<string> Files, long SafetensorsBytes, IReadOnlyList<string> Warnings);
