using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;
using System.Numerics;
using Waldwicht.Runtime.Sampling;

namespace Waldwicht.Cli.Infrastructure;

/// <summary>The sampling options shared by generate and chat.</summary>
internal sealed class SamplingArguments
{
    private readonly Option<float?> _temperature = new("--temperature", "--temp")
    {
        Description = "Sampling temperature; 0 picks the most likely token (greedy).",
        CustomParser = ParseSingle,
    };

    private readonly Option<float?> _topP = new("--top-p") { Description = "Nucleus sampling: keep the most likely tokens up to this probability mass (0 < p <= 1; 1 = off).", CustomParser = ParseSingle };

    private readonly Option<int?> _topK = new("--top-k") { Description = "Keep only the K most likely tokens (0 = off).", CustomParser = ParseInt32 };

    private readonly Option<float?> _minP = new("--min-p") { Description = "Drop tokens less likely than this fraction of the most likely one (0 = off).", CustomParser = ParseSingle };

    private readonly Option<float?> _repetitionPenalty = new("--repetition-penalty") { Description = "Penalty for tokens of the last 64 (1 = off).", CustomParser = ParseSingle };

    private readonly Option<int?> _seed = new("--seed") { Description = "Random seed, for reproducible sampling.", CustomParser = ParseInt32 };

    /// <summary>Adds the options to a command.</summary>
    public void AddTo(Command command)
    {
        command.Options.Add(_temperature);
        command.Options.Add(_topP);
        command.Options.Add(_topK);
        command.Options.Add(_minP);
        command.Options.Add(_repetitionPenalty);
        command.Options.Add(_seed);
    }

    /// <summary>Builds sampling options: explicit values win over <paramref name="defaults"/>.</summary>
    public SamplingOptions Read(ParseResult parse, SamplingOptions defaults)
    {
        var options = defaults with
        {
            Temperature = parse.GetValue(_temperature) ?? defaults.Temperature,
            TopP = parse.GetValue(_topP) ?? defaults.TopP,
            TopK = parse.GetValue(_topK) ?? defaults.TopK,
            MinP = parse.GetValue(_minP) ?? defaults.MinP,
            RepetitionPenalty = parse.GetValue(_repetitionPenalty) ?? defaults.RepetitionPenalty,
            Seed = parse.GetValue(_seed) ?? defaults.Seed,
        };
        try
        {
            options.Validate(int.MaxValue);
        }
        catch (ArgumentOutOfRangeException ex)
        {
            throw new CliException($"--{ex.ParamName!.Replace('_', '-')}: {ex.Message.Split(" (Parameter", 2)[0]}");
        }

        return options;
    }

    private static float? ParseSingle(ArgumentResult result) =>
        ParseNumber<float>(result, NumberStyles.Float, "is not a number; use a decimal such as 0.7");

    private static int? ParseInt32(ArgumentResult result) =>
        ParseNumber<int>(result, NumberStyles.Integer, "is not a whole number");

    // Parses the option's single token in the invariant culture, or records an error that names the option and value.
    private static T? ParseNumber<T>(ArgumentResult result, NumberStyles styles, string problem)
        where T : struct, INumberBase<T>
    {
        string text = result.Tokens.Count == 1 ? result.Tokens[0].Value : "";
        if (T.TryParse(text, styles, CultureInfo.InvariantCulture, out T value))
        {
            return value;
        }

        result.AddError($"{OptionName(result)}: '{text}' {problem}.");
        return null;
    }

    private static string OptionName(ArgumentResult result) =>
        result.Parent is OptionResult option ? option.Option.Name : "option";
}
