using System.Numerics.Tensors;
using Waldwicht.Model.Cache;
using Waldwicht.Numerics.Ops;
using Waldwicht.Numerics.Threading;

namespace Waldwicht.Model.Gemma4;

public sealed partial class Gemma4Session
{
    /// <summary>
    /// Attention of a chunk's queries over a cache plus the chunk's own keys and values. Work item
    /// k is query row k / Heads, head k mod Heads, so the worker pool can split rows and heads.
    /// </summary>
    private ref struct AttentionJob : IRangeJob
    {
        [ThreadStatic]
        private static float[]? t_scores;

        /// <summary>Cache of the layer that owns the keys and values (positions before the chunk).</summary>
        public LayerKvCache Cache;

        /// <summary>Rotated queries [rows, heads · head dim].</summary>
        public ReadOnlySpan<float> Queries;

        /// <summary>The chunk's keys and values [rows, KV heads · head dim].</summary>
        public ReadOnlySpan<float> ChunkKeys;

        public ReadOnlySpan<float> ChunkValues;

        /// <summary>Output [rows, heads · head dim].</summary>
        public Span<float> Context;

        public int Heads;

        public int HeadsPerKv;

        public int HeadDim;

        /// <summary>Floats per position in the key and value rows: KV heads · head dim.</summary>
        public int KvWidth;

        /// <summary>Position of the chunk's first token.</summary>
        public int Start;

        /// <summary>Sliding window size, or 0 for full (causal only) attention.</summary>
        public int Window;

        public readonly void Execute(int start, int end)
        {
            int d = HeadDim;
            for (int item = start; item < end; item++)
            {
                int i = item / Heads;
                int head = item % Heads;
                int position = Start + i;

                // Visible keys: cached positions [firstPast, Start) and chunk rows [firstChunk, i].
                int firstPast = Window > 0 ? Math.Max(Cache.FirstStoredPosition, position - Window + 1) : 0;
                int firstChunk = Window > 0 ? Math.Max(0, i - Window + 1) : 0;
                int pastCount = Math.Max(0, Start - firstPast);
                int total = pastCount + (i - firstChunk + 1);
                var scores = Scores(total);

                int kvOffset = head / HeadsPerKv * d;
                var q = Queries.Slice((i * Heads + head) * d, d);
                int n = 0;
                for (int s = firstPast; s < Start; s++)
                {
                    scores[n++] = TensorPrimitives.Dot(q, Cache.Key(s).Slice(kvOffset, d));
                }

                for (int j = firstChunk; j <= i; j++)
                {
                    scores[n++] = TensorPrimitives.Dot(q, ChunkKeys.Slice(j * KvWidth + kvOffset, d));
                }

                VectorOps.Softmax(scores, scores);
                var output = Context.Slice((i * Heads + head) * d, d);
                output.Clear();
                n = 0;
                for (int s = firstPast; s < Start; s++)
                {
                    TensorPrimitives.MultiplyAdd(Cache.Value(s).Slice(kvOffset, d), scores[n++], output, output);
                }

                for (int j = firstChunk; j <= i; j++)
                {
                    TensorPrimitives.MultiplyAdd(ChunkValues.Slice(j * KvWidth + kvOffset, d), scores[n++], output, output);
                }
            }
        }

        /// <summary>The calling thread's score buffer, grown by doubling (so allocation stops once warm).</summary>
        private static Span<float> Scores(int length)
        {
            var buffer = t_scores;
            if (buffer == null || buffer.Length < length)
            {
                buffer = new float[Math.Max(length, Math.Max(1024, (buffer?.Length ?? 0) * 2))];
                t_scores = buffer;
            }

            return buffer.AsSpan(0, length);
        }
    }
}
