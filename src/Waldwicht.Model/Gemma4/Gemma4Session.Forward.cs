using System.Numerics.Tensors;
using Waldwicht.Model.Cache;
using Waldwicht.Numerics.Ops;
using Waldwicht.Numerics.Threading;

namespace Waldwicht.Model.Gemma4;

public sealed partial class Gemma4Session
{
    /// <summary>Runs the decoder over one chunk of at most <see cref="MaxChunk"/> tokens.</summary>
    private void ForwardChunk(ReadOnlySpan<int> tokens, Span<float> logits, int logitRows, IForwardObserver? observer)
    {
        var w = _model.Weights;
        int rows = tokens.Length;
        int h = _config.HiddenSize;
        int start = Position;
        var x = _work.Hidden.AsSpan(0, rows * h);

        // 1. Token embedding, scaled by sqrt(H) rounded to the embedding's storage type.
        for (int i = 0; i < rows; i++)
        {
            var row = x.Slice(i * h, h);
            w.EmbedTokens.ReadRow(tokens[i], row);
            TensorPrimitives.Multiply(row, _model.EmbeddingScale, row);
        }

        observer?.OnEmbeddings(start, rows, x);

        // 2. Per-layer inputs: token rows of the PLE table mixed with a projection of the embedding.
        if (_config.HiddenSizePerLayerInput > 0)
        {
            ComputePerLayerInputs(tokens, x);
            observer?.OnPerLayerInputs(start, rows, _work.PerLayerInputs.AsSpan(0, rows * _config.PerLayerInputWidth));
        }

        // 3. Rotary tables for the chunk's positions.
        FillRopeTables(start, rows);

        // 4. Decoder layers.
        for (int layer = 0; layer < _config.NumHiddenLayers; layer++)
        {
            DecoderLayer(layer, rows, start, x);
            observer?.OnLayerOutput(layer, start, rows, x);
        }

        // 5. The chunk's keys and values join the caches only after every layer that reads them ran.
        for (int layer = 0; layer < _caches.Length; layer++)
        {
            _caches[layer]?.Append(_work.ChunkKeys[layer]!, _work.ChunkValues[layer]!, rows);
        }

        Position += rows;

        // 6. Final norm and the (tied) output head for the requested rows, then soft-capping.
        if (logitRows > 0)
        {
            int first = rows - logitRows;
            var normed = _work.Normed.AsSpan(0, logitRows * h);
            for (int i = 0; i < logitRows; i++)
            {
                RmsNorm(x.Slice((first + i) * h, h), w.Norm, normed.Slice(i * h, h));
            }

            observer?.OnFinalNorm(start + first, logitRows, normed);
            w.OutputHead.MatMul(normed, logitRows, logits[..(logitRows * _config.VocabSize)], Pool);
            if (_config.FinalLogitSoftcapping is double cap)
            {
                var capped = logits[..(logitRows * _config.VocabSize)];
                VectorOps.Softcap(capped, (float)cap, capped);
            }
        }
    }

    private void ComputePerLayerInputs(ReadOnlySpan<int> tokens, ReadOnlySpan<float> embeddings)
    {
        var w = _model.Weights;
        int rows = tokens.Length;
        int p = _config.HiddenSizePerLayerInput;
        int width = _config.PerLayerInputWidth;
        var combined = _work.PerLayerInputs.AsSpan(0, rows * width);
        var tokenPart = _work.PerLayerScratch.AsSpan(0, width);

        w.PerLayerModelProjection!.MatMul(embeddings, rows, combined, Pool);
        TensorPrimitives.Multiply(combined, (float)(1.0 / Math.Sqrt(_config.HiddenSize)), combined);
        float tokenScale = (float)Math.Sqrt(p);
        float mix = (float)(1.0 / Math.Sqrt(2.0));
        for (int i = 0; i < rows; i++)
        {
            if (tokens[i] >= _config.VocabSizePerLayerInput)
            {
                throw new ArgumentOutOfRangeException(nameof(tokens), tokens[i],
                    $"Token id exceeds the per-layer embedding table ({_config.VocabSizePerLayerInput} rows).");
            }

            w.EmbedTokensPerLayer!.ReadRow(tokens[i], tokenPart);
            var row = combined.Slice(i * width, width);
            for (int layer = 0; layer < _config.NumHiddenLayers; layer++)
            {
                var slice = row.Slice(layer * p, p);
                RmsNorm(slice, w.PerLayerProjectionNorm!, slice);
                var tokenSlice = tokenPart.Slice(layer * p, p);
                for (int k = 0; k < p; k++)
                {
                    slice[k] = (slice[k] + tokenSlice[k] * tokenScale) * mix;
                }
            }
        }
    }

    private void DecoderLayer(int layer, int rows, int start, Span<float> x)
    {
        var lw = _model.Weights.Layers[layer];
        int h = _config.HiddenSize;
        var normed = _work.Normed.AsSpan(0, rows * h);
        var branch = _work.Branch.AsSpan(0, rows * h);

        // Attention block: x1 = x + post_attention_norm(attention(input_norm(x))).
        for (int i = 0; i < rows; i++)
        {
            RmsNorm(x.Slice(i * h, h), lw.InputLayerNorm, normed.Slice(i * h, h));
        }

        Attention(layer, rows, start, normed, branch);
        AddNormalized(x, branch, lw.PostAttentionLayerNorm, rows);

        // Feed-forward block: x2 = x1 + post_ffw_norm(down(gelu(gate(m)) · up(m))), m = pre_ffw_norm(x1).
        for (int i = 0; i < rows; i++)
        {
            RmsNorm(x.Slice(i * h, h), lw.PreFeedforwardLayerNorm, normed.Slice(i * h, h));
        }

        int width = _config.LayerIntermediateSize(layer);
        var gate = _work.Gate.AsSpan(0, rows * width);
        var up = _work.Up.AsSpan(0, rows * width);
        lw.GateProj.MatMul(normed, rows, gate, Pool);
        lw.UpProj.MatMul(normed, rows, up, Pool);
        VectorOps.GeluTanhMultiply(gate, up, gate);
        lw.DownProj.MatMul(gate, rows, branch, Pool);
        AddNormalized(x, branch, lw.PostFeedforwardLayerNorm, rows);

        // Per-layer input: x3 = x2 + post_per_layer_input_norm(projection(gelu(gate(x2)) · Π[layer])).
        if (_config.HiddenSizePerLayerInput > 0)
        {
            int p = _config.HiddenSizePerLayerInput;
            int pleWidth = _config.PerLayerInputWidth;
            var gated = _work.PerLayerGate.AsSpan(0, rows * p);
            lw.PerLayerInputGate!.MatMul(x, rows, gated, Pool);
            VectorOps.GeluTanh(gated, gated);
            for (int i = 0; i < rows; i++)
            {
                var input = _work.PerLayerInputs.AsSpan(i * pleWidth + layer * p, p);
                TensorPrimitives.Multiply(gated.Slice(i * p, p), input, gated.Slice(i * p, p));
            }

            lw.PerLayerProjection!.MatMul(gated, rows, branch, Pool);
            AddNormalized(x, branch, lw.PostPerLayerInputNorm!, rows);
        }

        // The learned layer scalar multiplies the whole residual stream.
        TensorPrimitives.Multiply(x, lw.LayerScalar, x);
    }

    private void Attention(int layer, int rows, int start, ReadOnlySpan<float> normed, Span<float> output)
    {
        var lw = _model.Weights.Layers[layer];
        int d = _config.LayerHeadDim(layer);
        int heads = _config.NumAttentionHeads;
        int kvHeads = _config.NumKeyValueHeads;
        int headsPerKv = heads / kvHeads;
        var rope = _model.Rope(layer);
        bool full = _config.LayerType(layer) == AttentionKind.Full;
        var cos = full ? _work.FullCos : _work.SlidingCos;
        var sin = full ? _work.FullSin : _work.SlidingSin;
        int pairs = rope.RotatedPairs;
        float eps = (float)_config.RmsNormEps;

        // Queries: project, RMS-normalise each head with q_norm, rotate.
        var queries = _work.Queries.AsSpan(0, rows * heads * d);
        lw.QProj.MatMul(normed, rows, queries, Pool);
        for (int i = 0; i < rows; i++)
        {
            var q = queries.Slice(i * heads * d, heads * d);
            for (int head = 0; head < heads; head++)
            {
                RmsNorm(q.Slice(head * d, d), lw.QNorm, q.Slice(head * d, d), eps);
            }

            rope.Apply(q, heads, cos.AsSpan(i * pairs, pairs), sin.AsSpan(i * pairs, pairs));
        }

        // Keys and values of layers that own a cache: k_norm and RoPE on keys, a weightless norm on values.
        int source = _config.KvSourceLayer(layer);
        if (source == layer)
        {
            var keys = _work.ChunkKeys[layer].AsSpan(0, rows * kvHeads * d);
            var values = _work.ChunkValues[layer].AsSpan(0, rows * kvHeads * d);
            lw.KProj!.MatMul(normed, rows, keys, Pool);
            lw.VProj!.MatMul(normed, rows, values, Pool);
            for (int i = 0; i < rows; i++)
            {
                var k = keys.Slice(i * kvHeads * d, kvHeads * d);
                var v = values.Slice(i * kvHeads * d, kvHeads * d);
                for (int head = 0; head < kvHeads; head++)
                {
                    RmsNorm(k.Slice(head * d, d), lw.KNorm!, k.Slice(head * d, d), eps);
                    RmsNorm(v.Slice(head * d, d), v.Slice(head * d, d), eps);
                }

                rope.Apply(k, kvHeads, cos.AsSpan(i * pairs, pairs), sin.AsSpan(i * pairs, pairs));
            }
        }

        // Scaled dot-product attention (scale 1) over the source layer's cache plus this chunk,
        // one (query, head) pair per work item.
        var context = _work.AttentionOutput.AsSpan(0, rows * heads * d);
        var job = new AttentionJob
        {
            Cache = _caches[source]!,
            Queries = queries,
            ChunkKeys = _work.ChunkKeys[source],
            ChunkValues = _work.ChunkValues[source],
            Context = context,
            Heads = heads,
            HeadsPerKv = headsPerKv,
            HeadDim = d,
            KvWidth = kvHeads * d,
            Start = start,
            Window = full ? 0 : _config.SlidingWindow,
        };
        Pool.Run(ref job, rows * heads);

        lw.OProj.MatMul(context, rows, output, Pool);
    }

    private void FillRopeTables(int start, int rows)
    {
        var sliding = _model.SlidingRope;
        var full = _model.FullRope;
        for (int i = 0; i < rows; i++)
        {
            sliding.Angles(start + i, _work.SlidingCos.AsSpan(i * sliding.RotatedPairs, sliding.RotatedPairs), _work.SlidingSin.AsSpan(i * sliding.RotatedPairs, sliding.RotatedPairs));
            full.Angles(start + i, _work.FullCos.AsSpan(i * full.RotatedPairs, full.RotatedPairs), _work.FullSin.AsSpan(i * full.RotatedPairs, full.RotatedPairs));
        }
    }

    /// <summary>x += rms_norm(branch, weight), row by row.</summary>
    private void AddNormalized(Span<float> x, Span<float> branch, float[] weight, int rows)
    {
        int h = _config.HiddenSize;
        for (int i = 0; i < rows; i++)
        {
            var b = branch.Slice(i * h, h);
            RmsNorm(b, weight, b);
            TensorPrimitives.Add(x.Slice(i * h, h), b, x.Slice(i * h, h));
        }
    }

    private void RmsNorm(ReadOnlySpan<float> input, ReadOnlySpan<float> weight, Span<float> output) =>
        VectorOps.RmsNorm(input, weight, (float)_config.RmsNormEps, output);

    private static void RmsNorm(ReadOnlySpan<float> input, ReadOnlySpan<float> weight, Span<float> output, float eps) =>
        VectorOps.RmsNorm(input, weight, eps, output);

    private static void RmsNorm(ReadOnlySpan<float> input, Span<float> output, float eps) =>
        VectorOps.RmsNorm(input, eps, output);
}
