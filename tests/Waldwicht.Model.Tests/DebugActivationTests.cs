using Waldwicht.Formats.Safetensors;
using Waldwicht.Model.Gemma4;
using Waldwicht.Tests;

namespace Waldwicht.Model.Tests;

public sealed class DebugActivationTests
{
    [Fact]
    public void ActivationsMatchReferenceDump()
    {
        using var model = Gemma4Model.Load(TestData.Path("tiny-gemma4"));
        using var dump = SafetensorsFile.Open(TestData.Path("tiny-gemma4", "debug_activations.safetensors"));
        var (prompt, _) = FixtureLogitsTests.ReadGreedy("");
        var recorder = new Recorder(model.Config, prompt.Length);
        var logits = new float[prompt.Length * model.Config.VocabSize];

        model.CreateSession().Forward(prompt, logits, allPositions: true, recorder);

        FixtureLogitsTests.AssertClose(dump.GetSpan<float>("embeddings_scaled").ToArray(), recorder.Embeddings, "embeddings_scaled");
        FixtureLogitsTests.AssertClose(dump.GetSpan<float>("per_layer_inputs").ToArray(), recorder.PerLayerInputs, "per_layer_inputs");
        FixtureLogitsTests.AssertClose(dump.GetSpan<float>("layer_outputs").ToArray(), recorder.LayerOutputs, "layer_outputs");
        FixtureLogitsTests.AssertClose(dump.GetSpan<float>("final_normed").ToArray(), recorder.FinalNormed, "final_normed");
    }

    private sealed class Recorder(Gemma4Config config, int tokens) : IForwardObserver
    {
        private readonly int _h = config.HiddenSize;

        public float[] Embeddings { get; } = new float[tokens * config.HiddenSize];

        public float[] PerLayerInputs { get; } = new float[tokens * config.PerLayerInputWidth];

        /// <summary>[layers, tokens, H], the layout of the reference dump.</summary>
        public float[] LayerOutputs { get; } = new float[config.NumHiddenLayers * tokens * config.HiddenSize];

        public float[] FinalNormed { get; } = new float[tokens * config.HiddenSize];

        public void OnEmbeddings(int start, int rows, ReadOnlySpan<float> values) =>
            values.CopyTo(Embeddings.AsSpan(start * _h));

        public void OnPerLayerInputs(int start, int rows, ReadOnlySpan<float> values) =>
            values.CopyTo(PerLayerInputs.AsSpan(start * config.PerLayerInputWidth));

        public void OnLayerOutput(int layer, int start, int rows, ReadOnlySpan<float> values) =>
            values.CopyTo(LayerOutputs.AsSpan((layer * tokens + start) * _h));

        public void OnFinalNorm(int start, int rows, ReadOnlySpan<float> values) =>
            values.CopyTo(FinalNormed.AsSpan(start * _h));
    }
}
