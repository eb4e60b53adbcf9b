using Waldwicht.Model.Gemma4;
using Waldwicht.Numerics.Kernels;
using Waldwicht.Numerics.Matrices;
using Waldwicht.Tests;

namespace Waldwicht.Model.Tests;

/// <summary>
/// Collection of tests that change the default kernel path and activation precision. They run alone, because matrices
/// that other tests create meanwhile would take those settings.
/// </summary>
[CollectionDefinition(nameof(KernelSettingsCollection), DisableParallelization = true)]
public sealed class KernelSettingsCollection;

/// <summary>
/// The whole engine on the path that processors with AVX-512 take by default: 512-bit kernels with float
/// activations. Where the processor lacks AVX-512, those kernels run in software with the same results.
/// </summary>
[Collection(nameof(KernelSettingsCollection))]
public sealed class EmulatedPathTests
{
    public static TheoryData<string> ModelFolders => new(TestData.TinyModelFolders);

    [Theory]
    [MemberData(nameof(ModelFolders))]
    public void Vector512Float32_MatchesReference(string variant)
    {
        var path = KernelPaths.Best;
        var precision = QuantizedMatrix.DefaultActivationPrecision;
        try
        {
            KernelPaths.Best = KernelPath.Vector512;
            QuantizedMatrix.DefaultActivationPrecision = ActivationPrecision.Float32;
            using var model = Gemma4Model.Load(TestData.Path("tiny-gemma4", variant));
            var (prompt, continuation) = FixtureLogitsTests.ReadGreedy(variant);
            int vocab = model.Config.VocabSize;

            var prefill = new float[prompt.Length * vocab];
            model.CreateSession().Forward(prompt, prefill, allPositions: true);
            FixtureLogitsTests.AssertClose(FixtureLogitsTests.ReadTensor(variant, "logits"), prefill, $"{variant} prefill");

            // Decoding one token at a time takes the matrix-vector kernels.
            var expectedSteps = FixtureLogitsTests.ReadTensor(variant, "greedy_step_logits");
            var session = model.CreateSession();
            var logits = new float[vocab];
            session.Forward(prompt, logits);
            for (int step = 0; step < continuation.Length; step++)
            {
                FixtureLogitsTests.AssertClose(expectedSteps.AsSpan(step * vocab, vocab).ToArray(), logits, $"{variant} step {step}");
                session.Forward([continuation[step]], logits);
            }
        }
        finally
        {
            KernelPaths.Best = path;
            QuantizedMatrix.DefaultActivationPrecision = precision;
        }
    }
}
