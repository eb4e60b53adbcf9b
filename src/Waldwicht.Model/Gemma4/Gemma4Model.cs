using System.Text.Json;
using Waldwicht.Formats.Safetensors;
using Waldwicht.Numerics;
using Waldwicht.Numerics.Matrices;
using Waldwicht.Numerics.Threading;

namespace Waldwicht.Model.Gemma4;

/// <summary>
/// A loaded Gemma 4 text decoder: configuration plus weights bound to the memory-mapped
/// checkpoint. Immutable and safe to share between sessions; each session owns its KV cache.
/// </summary>
public sealed class Gemma4Model : IDisposable
{
    private readonly SafetensorsCheckpoint _checkpoint;

    private Gemma4Model(string directory, Gemma4Config config, SafetensorsCheckpoint checkpoint, Gemma4Weights weights)
    {
        Directory = directory;
        Config = config;
        _checkpoint = checkpoint;
        Weights = weights;
        EmbeddingScale = RoundToStorage((float)Math.Sqrt(config.HiddenSize), weights.EmbedTokens);
        SlidingRope = new RotaryEmbedding(config.SlidingRope, config.HeadDim);
        FullRope = new RotaryEmbedding(config.FullRope, config.GlobalHeadDim);
    }

    /// <summary>The model folder.</summary>
    public string Directory { get; }

    public Gemma4Config Config { get; }

    public Gemma4Weights Weights { get; }

    /// <summary>
    /// Multiplier of the token embedding: sqrt(hidden size) rounded to the embedding's storage
    /// type, as both reference implementations do (39.25 instead of 39.19 for E2B in bf16).
    /// </summary>
    public float EmbeddingScale { get; }

    internal RotaryEmbedding SlidingRope { get; }

    internal RotaryEmbedding FullRope { get; }

    /// <summary>Total bytes of tensor data in the checkpoint files.</summary>
    public long CheckpointBytes => _checkpoint.TotalTensorBytes;

    /// <summary>Bytes of weights read to decode one token: every matrix except the two embedding tables, plus one row of each.</summary>
    public long WeightBytesPerToken
    {
        get
        {
            long total = 0;
            foreach (var bound in Weights.Matrices)
            {
                var m = bound.Matrix;
                bool gathered = ReferenceEquals(m, Weights.EmbedTokensPerLayer)
                    || (ReferenceEquals(m, Weights.EmbedTokens) && Weights.LmHead != null);
                total += gathered ? m.StorageBytes / m.Rows : m.StorageBytes;
            }

            return total;
        }
    }

    /// <summary>Loads a model folder (config.json plus model*.safetensors).</summary>
    /// <exception cref="ModelFormatException">The folder does not hold a supported Gemma 4 model.</exception>
    public static Gemma4Model Load(string directory)
    {
        directory = Path.GetFullPath(directory);
        var config = Gemma4Config.Load(directory);
        using var document = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(directory, "config.json")));
        SafetensorsCheckpoint checkpoint;
        try
        {
            checkpoint = SafetensorsCheckpoint.Open(directory);
        }
        catch (Exception ex) when (ex is SafetensorsFormatException or FileNotFoundException)
        {
            throw new ModelFormatException(ex.Message, ex);
        }

        try
        {
            var weights = Gemma4Weights.Bind(config, checkpoint, document.RootElement);
            return new Gemma4Model(directory, config, checkpoint, weights);
        }
        catch
        {
            checkpoint.Dispose();
            throw;
        }
    }

    /// <summary>Creates an inference session with its own KV cache.</summary>
    /// <param name="maxChunk">Most tokens processed in one forward step; longer inputs are split.</param>
    /// <param name="pool">Worker pool for the session's kernels; null uses <see cref="WorkerPool.Shared"/>.</param>
    public Gemma4Session CreateSession(int maxChunk = 256, WorkerPool? pool = null) => new(this, maxChunk, pool);

    internal RotaryEmbedding Rope(int layer) =>
        Config.LayerType(layer) == AttentionKind.Full ? FullRope : SlidingRope;

    private static float RoundToStorage(float value, WeightMatrix matrix)
    {
        var type = matrix switch
        {
            DenseMatrix dense => dense.ElementType,
            QuantizedMatrix quantized => quantized.ScaleType,
            _ => ElementType.F32,
        };
        return type switch
        {
            ElementType.BF16 => BFloat16.Round(value),
            ElementType.F16 => (float)(Half)value,
            _ => value,
        };
    }

    public void Dispose() => _checkpoint.Dispose();
}
