using System.Text.Json;
using Waldwicht.Formats.Safetensors;
using Waldwicht.Model.Gemma4;
using Waldwicht.Tests;

namespace Waldwicht.Model.Tests;

public sealed class FixtureLogitsTests
{
    private const float Tolerance = 1e-3f;

    public static TheoryData<string> ModelFolders => new(TestData.TinyModelFolders);

    [Theory]
    [MemberData(nameof(ModelFolders))]
    public void PrefillLogitsMatchReference(string variant)
    {
        using var model = Gemma4Model.Load(TestData.Path("tiny-gemma4", variant));
        var (prompt, _) = ReadGreedy(variant);
        var expected = ReadTensor(variant, "logits");
        var session = model.CreateSession();
        var logits = new float[prompt.Length * model.Config.VocabSize];

        session.Forward(prompt, logits, allPositions: true);

        AssertClose(expected, logits, $"{variant} prefill");
    }

    [Theory]
    [MemberData(nameof(ModelFolders))]
    public void GreedyDecodeMatchesReference(string variant)
    {
        using var model = Gemma4Model.Load(TestData.Path("tiny-gemma4", variant));
        var (prompt, continuation) = ReadGreedy(variant);
        var expectedSteps = ReadTensor(variant, "greedy_step_logits");
        int vocab = model.Config.VocabSize;
        var session = model.CreateSession();
        var logits = new float[vocab];
        var generated = new List<int>();

        // Reference call order: all prompt tokens but the last, then the last, then one call per token.
        session.Forward(prompt.AsSpan(0, prompt.Length - 1), Span<float>.Empty);
        session.Forward(prompt.AsSpan(prompt.Length - 1), logits);
        for (int step = 0; step < continuation.Length; step++)
        {
            AssertClose(expectedSteps.AsSpan(step * vocab, vocab).ToArray(), logits, $"{variant} step {step}");
            int next = ArgMax(logits);
            generated.Add(next);
            session.Forward([next], logits);
        }

        Assert.Equal(continuation, generated);
    }

    [Theory]
    [InlineData("", 1)]
    [InlineData("", 3)]
    [InlineData("", 7)]
    [InlineData("winzling-export", 3)]
    [InlineData("uniform-q3-g32", 7)]
    public void ChunkedPrefillEqualsSinglePass(string variant, int chunk)
    {
        using var model = Gemma4Model.Load(TestData.Path("tiny-gemma4", variant));
        var (prompt, _) = ReadGreedy(variant);
        var expected = ReadTensor(variant, "logits");
        var session = model.CreateSession(maxChunk: chunk);
        var logits = new float[prompt.Length * model.Config.VocabSize];

        session.Forward(prompt, logits, allPositions: true);

        AssertClose(expected, logits, $"{variant} chunk {chunk}");
    }

    internal static (int[] Prompt, int[] Continuation) ReadGreedy(string variant)
    {
        using var document = JsonDocument.Parse(File.ReadAllText(TestData.Path("tiny-gemma4", variant, "expected_greedy.json")));
        var root = document.RootElement;
        return (
            root.GetProperty("prompt_token_ids").EnumerateArray().Select(e => e.GetInt32()).ToArray(),
            root.GetProperty("greedy_continuation").EnumerateArray().Select(e => e.GetInt32()).ToArray());
    }

    internal static float[] ReadTensor(string variant, string name)
    {
        using var file = SafetensorsFile.Open(TestData.Path("tiny-gemma4", variant, "expected_logits.safetensors"));
        return file.GetSpan<float>(name).ToArray();
    }

    internal static void AssertClose(float[] expected, ReadOnlySpan<float> actual, string label)
    {
        Assert.True(actual.Length >= expected.Length, $"{label}: {actual.Length} values, expected {expected.Length}");
        float worst = 0;
        int worstIndex = -1;
        for (int i = 0; i < expected.Length; i++)
        {
            float diff = MathF.Abs(expected[i] - actual[i]);
            if (!(diff <= worst))
            {
                worst = diff;
                worstIndex = i;
            }
        }

        Assert.True(worst <= Tolerance, $"{label}: max |diff| {worst} at index {worstIndex} (expected {expected[Math.Max(0, worstIndex)]}, actual {actual[Math.Max(0, worstIndex)]})");
    }

    private static int ArgMax(ReadOnlySpan<float> values)
    {
        int best = 0;
        for (int i = 1; i < values.Length; i++)
        {
            if (values[i] > values[best])
            {
                best = i;
            }
        }

        return best;
    }
}
