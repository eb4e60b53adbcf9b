using System.Text.Json;
using Waldwicht.Runtime.ChatClient;
using Waldwicht.Runtime.ChatClient.Constraints;
using Waldwicht.Runtime.Generation;
using Waldwicht.Runtime.Sampling;
using Waldwicht.Server.Tests.Infrastructure;

namespace Waldwicht.Server.Tests.Engine;

/// <summary>The JSON constraint on the tiny model: whatever the random weights prefer, the output parses.</summary>
public sealed class JsonConstraintTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    public void SampledOutputIsValidJsonObject(int seed)
    {
        var model = TinyModel.Instance;
        var table = TokenByteTable.For(model.Tokenizer);
        var markers = ThoughtChannelTokens.From(model.Tokenizer);
        var constraint = new JsonConstraintProcessor(JsonSchemaCompiler.AnyObject(), table, model.GenerationConfig.StopTokenIds.ToArray(), markers, false, false);
        var generator = new Generator(model.Model.CreateSession());
        var options = new GenerationOptions
        {
            MaxTokens = 600,
            Sampling = new SamplingOptions { Temperature = 1, Seed = seed },
            StopTokenIds = model.GenerationConfig.StopTokenIds,
            // Nudges the random model towards closing strings and containers so that documents stay short.
            LogitsProcessors = [new BiasProcessor(Script.TextTokens(model.Tokenizer, "\"}]").ToArray(), 6f), constraint],
        };

        var result = generator.Generate(model.EncodePrompt("json:"), options);

        Assert.Equal(FinishReason.Stop, result.FinishReason);
        Assert.True(constraint.IsComplete);
        string text = model.Tokenizer.Decode(result.TokenIds.ToArray());
        using var document = JsonDocument.Parse(text);
        Assert.Equal(JsonValueKind.Object, document.RootElement.ValueKind);
    }

    [Fact]
    public void TableSplitsPlainAndOtherTokens()
    {
        var table = TokenByteTable.For(TinyModel.Instance.Tokenizer);
        int quote = TinyModel.Instance.Tokenizer.TokenToId("<0x22>")!.Value;
        int letter = TinyModel.Instance.Tokenizer.TokenToId("<0x61>")!.Value;
        int turnEnd = TinyModel.Instance.Tokenizer.TokenToId("<turn|>")!.Value;

        Assert.Contains(quote, table.OtherTextTokens);
        Assert.Contains(letter, table.PlainStringTokens);
        Assert.Null(table.Bytes[turnEnd]);
        Assert.Equal(new byte[] { 0x22 }, table.Bytes[quote]);
    }

    [Fact]
    public void ThinkingAllowsLeadingChannel()
    {
        var model = TinyModel.Instance;
        var markers = ThoughtChannelTokens.From(model.Tokenizer);
        var constraint = new JsonConstraintProcessor(
            JsonSchemaCompiler.AnyObject(), TokenByteTable.For(model.Tokenizer), [106], markers, thinkingAllowed: true, startInsideChannel: false);
        var logits = new float[model.Model.Config.VocabSize];

        constraint.Process([], logits);
        var allowedFirst = Enumerable.Range(0, logits.Length).Where(i => float.IsFinite(logits[i])).ToHashSet();
        Array.Clear(logits);
        constraint.Process([markers.ChannelStart, 300], logits);
        bool freeInChannel = logits.All(float.IsFinite);

        Assert.Contains(markers.ChannelStart, allowedFirst);
        Assert.Contains(model.Tokenizer.TokenToId("<0x7B>")!.Value, allowedFirst);
        Assert.DoesNotContain(model.Tokenizer.TokenToId("<0x61>")!.Value, allowedFirst);
        Assert.True(freeInChannel);
    }

    private sealed class BiasProcessor(int[] tokens, float bias) : ILogitsProcessor
    {
        public void Process(ReadOnlySpan<int> generated, Span<float> logits)
        {
            foreach (int token in tokens)
            {
                logits[token] += bias;
            }
        }
    }
}
