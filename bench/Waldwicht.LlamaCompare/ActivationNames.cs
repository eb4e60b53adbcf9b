using Waldwicht.Numerics.Matrices;

namespace Waldwicht.LlamaCompare;

/// <summary>The --activations names, as the waldwicht CLI spells them.</summary>
internal static class ActivationNames
{
    private static readonly (string Name, ActivationPrecision Precision)[] s_names =
    [
        ("f32", ActivationPrecision.Float32),
        ("int32", ActivationPrecision.Int32),
        ("int16", ActivationPrecision.Int16),
        ("int8", ActivationPrecision.Int8),
    ];

    public static string Format(ActivationPrecision precision) =>
        Array.Find(s_names, entry => entry.Precision == precision).Name ?? precision.ToString();

    /// <summary>Parses a comma-separated list of names into distinct precisions, in the order given.</summary>
    public static bool TryParseList(string text, out List<ActivationPrecision> precisions, out string? error)
    {
        precisions = [];
        error = null;
        foreach (string part in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            int index = Array.FindIndex(s_names, entry => entry.Name == part);
            if (index < 0)
            {
                error = $"--activations takes f32, int32, int16 or int8 (comma-separated); got '{part}'.";
                return false;
            }

            if (!precisions.Contains(s_names[index].Precision))
            {
                precisions.Add(s_names[index].Precision);
            }
        }

        if (precisions.Count == 0)
        {
            error = "--activations needs at least one of f32, int32, int16, int8.";
            return false;
        }

        return true;
    }
}
