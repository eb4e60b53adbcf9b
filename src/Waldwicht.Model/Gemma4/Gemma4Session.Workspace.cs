namespace Waldwicht.Model.Gemma4;

public sealed partial class Gemma4Session
{
    /// <summary>Scratch buffers of the forward pass, sized for the largest chunk.</summary>
    private sealed class Workspace
    {
        public Workspace(Gemma4Config config, int maxChunk)
        {
            int h = config.HiddenSize;
            int maxHeadDim = Math.Max(config.HeadDim, config.GlobalHeadDim);
            int maxWidth = Enumerable.Range(0, config.NumHiddenLayers).Max(config.LayerIntermediateSize);
            var sliding = new RotaryEmbedding(config.SlidingRope, config.HeadDim);
            var full = new RotaryEmbedding(config.FullRope, config.GlobalHeadDim);

            Hidden = new float[maxChunk * h];
            Normed = new float[maxChunk * h];
            Branch = new float[maxChunk * h];
            Queries = new float[maxChunk * config.NumAttentionHeads * maxHeadDim];
            AttentionOutput = new float[maxChunk * config.NumAttentionHeads * maxHeadDim];
            Gate = new float[maxChunk * maxWidth];
            Up = new float[maxChunk * maxWidth];
            PerLayerInputs = new float[maxChunk * config.PerLayerInputWidth];
            PerLayerScratch = new float[config.PerLayerInputWidth];
            PerLayerGate = new float[maxChunk * config.HiddenSizePerLayerInput];
            SlidingCos = new float[maxChunk * sliding.RotatedPairs];
            SlidingSin = new float[maxChunk * sliding.RotatedPairs];
            FullCos = new float[maxChunk * full.RotatedPairs];
            FullSin = new float[maxChunk * full.RotatedPairs];
            ChunkKeys = new float[config.NumHiddenLayers][];
            ChunkValues = new float[config.NumHiddenLayers][];
            for (int layer = 0; layer < config.NumHiddenLayers; layer++)
            {
                if (!config.IsKvShared(layer))
                {
                    int width = config.NumKeyValueHeads * config.LayerHeadDim(layer);
                    ChunkKeys[layer] = new float[maxChunk * width];
                    ChunkValues[layer] = new float[maxChunk * width];
                }
            }
        }

        public float[] Hidden { get; }

        public float[] Normed { get; }

        public float[] Branch { get; }

        public float[] Queries { get; }

        public float[] AttentionOutput { get; }

        public float[] Gate { get; }

        public float[] Up { get; }

        public float[] PerLayerInputs { get; }

        public float[] PerLayerScratch { get; }

        public float[] PerLayerGate { get; }

        public float[] SlidingCos { get; }

        public float[] SlidingSin { get; }

        public float[] FullCos { get; }

        public float[] FullSin { get; }

        /// <summary>Keys of the current chunk per cache-owning layer (null for KV-shared layers).</summary>
        public float[]?[] ChunkKeys { get; }

        /// <summary>Values of the current chunk per cache-owning layer (null for KV-shared layers).</summary>
        public float[]?[] ChunkValues { get; }
    }
}
