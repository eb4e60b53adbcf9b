using System.Globalization;
using System.Text;
using Waldwicht.Formats.Mlx;

namespace Waldwicht.Quantization.Recipes;

/// <summary>Bits and group size of one component of a recipe.</summary>
public sealed record ComponentSetting(QuantizationComponent Component, QuantizationParameters Parameters);

/// <summary>A recipe string is malformed; the message names the entry and the fix.</summary>
public sealed class RecipeFormatException(string message) : FormatException(message);

/// <summary>
/// Bits and group size per component of a Gemma 4 checkpoint: a default for every tensor outside
/// the listed components plus per-component overrides. Immutable.
/// </summary>
/// <remarks>
/// Recipes are named (winzling, sproessling, juengling, uniform-N) or written as entries such as
/// <c>default=4,attn=4,mlp=3@32,ple=2,gate=3,embed=2</c>: a component name or alias, "=", the bits
/// and optionally "@" and the group size. Entries without a group size take the group size passed
/// to <see cref="Parse"/> (64 when none is given), named recipes included.
/// </remarks>
public sealed class QuantizationRecipe
{
    /// <summary>Group size of entries that set none, unless the caller gives another.</summary>
    public const int DefaultGroupSize = 64;

    /// <summary>Prefix of the uniform recipes, such as uniform-4.</summary>
    public const string UniformPrefix = "uniform-";

    private const string DefaultKey = "default";

    private static readonly Dictionary<string, string> NamedEntries = new(StringComparer.OrdinalIgnoreCase)
    {
        ["winzling"] = "default=5,mlp=4,ple=3,gate=4,embed=3",
        ["sproessling"] = "default=5,ple=3,gate=4,embed=3",
        ["juengling"] = "default=5",
    };

    private QuantizationRecipe(string name, QuantizationParameters defaultParameters, IReadOnlyList<ComponentSetting> components)
    {
        Name = name;
        Default = defaultParameters;
        Components = components;
    }

    /// <summary>The released named recipes, in order of size.</summary>
    public static IReadOnlyList<string> NamedRecipes { get; } = ["winzling", "sproessling", "juengling"];

    /// <summary>The recipe's name (such as "winzling" or "uniform-4"), or its entries for a custom recipe.</summary>
    public string Name { get; }

    /// <summary>Bits and group size of tensors outside the listed components.</summary>
    public QuantizationParameters Default { get; }

    /// <summary>The components the recipe lists, in recipe order.</summary>
    public IReadOnlyList<ComponentSetting> Components { get; }

    /// <summary>
    /// The recipe as entries, such as <c>default=5,mlp=4,ple=3@32</c>; a group size is written only
    /// where it differs from 64, so <see cref="Parse"/> reads the text back to the same recipe.
    /// </summary>
    public string Entries => FormatEntries(Default, Components);

    /// <summary>
    /// Parses a named recipe or a list of entries.
    /// </summary>
    /// <param name="text">winzling, sproessling, juengling, uniform-N or entries such as default=4,mlp=3@32.</param>
    /// <param name="groupSize">Group size of entries that set none (64 when null).</param>
    /// <exception cref="RecipeFormatException">The recipe is empty, unknown or has an invalid entry.</exception>
    public static QuantizationRecipe Parse(string text, int? groupSize = null)
    {
        ArgumentNullException.ThrowIfNull(text);
        int fallbackGroupSize = groupSize ?? DefaultGroupSize;
        if (!QuantizationParameters.SupportedGroupSizes.Contains(fallbackGroupSize))
        {
            throw new RecipeFormatException(
                $"Group size {fallbackGroupSize} is not supported; use 32, 64 or 128.");
        }

        string trimmed = text.Trim();
        if (trimmed.Length == 0)
        {
            throw new RecipeFormatException(
                "The recipe is empty; give a named recipe (winzling, sproessling, juengling, uniform-N) or entries such as default=4,mlp=3@32.");
        }

        if (NamedEntries.TryGetValue(trimmed, out var entries))
        {
            return ParseEntries(entries, fallbackGroupSize, trimmed.ToLowerInvariant());
        }

        if (trimmed.StartsWith(UniformPrefix, StringComparison.OrdinalIgnoreCase) && !trimmed.Contains('='))
        {
            string bitsText = trimmed[UniformPrefix.Length..];
            int bits = ParseBits(bitsText, trimmed);
            return new QuantizationRecipe(UniformPrefix + bits.ToString(CultureInfo.InvariantCulture), new QuantizationParameters(bits, fallbackGroupSize), []);
        }

        if (!trimmed.Contains('='))
        {
            throw new RecipeFormatException(
                $"Unknown recipe '{trimmed}'; use winzling, sproessling, juengling or uniform-N (N = 2, 3, 4, 5, 6, 8), or entries such as default=4,mlp=3@32.");
        }

        return ParseEntries(trimmed, fallbackGroupSize, null);
    }

    /// <summary>Bits and group size of a component, or of the default when the recipe does not list it.</summary>
    public QuantizationParameters ParametersFor(QuantizationComponent? component)
    {
        if (component is { } value)
        {
            foreach (var setting in Components)
            {
                if (setting.Component == value)
                {
                    return setting.Parameters;
                }
            }
        }

        return Default;
    }

    /// <summary>True when the recipe lists the component with its own entry.</summary>
    public bool Lists(QuantizationComponent component) => Components.Any(s => s.Component == component);

    /// <summary>
    /// The component a tensor belongs to, or null for none. Listed components are tried first, in
    /// recipe order, as the exporter does. The others only name the group in reports, because
    /// they quantize with the default anyway.
    /// </summary>
    public QuantizationComponent? Classify(string tensorName)
    {
        foreach (var setting in Components)
        {
            if (setting.Component.Matches(tensorName))
            {
                return setting.Component;
            }
        }

        foreach (var component in QuantizationComponents.All)
        {
            if (!Lists(component) && component.Matches(tensorName))
            {
                return component;
            }
        }

        return null;
    }

    public override string ToString() => Name == Entries ? Name : $"{Name} ({Entries})";

    private static QuantizationRecipe ParseEntries(string text, int fallbackGroupSize, string? name)
    {
        QuantizationParameters? defaultParameters = null;
        var components = new List<ComponentSetting>();
        var seen = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var rawEntry in text.Split(','))
        {
            string entry = rawEntry.Trim();
            if (entry.Length == 0)
            {
                throw new RecipeFormatException(
                    $"The recipe '{text}' has an empty entry; separate entries such as default=4,mlp=3 with single commas.");
            }

            int equals = entry.IndexOf('=');
            if (equals <= 0 || equals == entry.Length - 1)
            {
                throw new RecipeFormatException(
                    $"Recipe entry '{entry}' must have the form component=bits or component=bits@group_size, such as mlp=3@32.");
            }

            string key = entry[..equals].Trim();
            string value = entry[(equals + 1)..].Trim();
            string canonicalKey;
            QuantizationComponent? component = null;
            if (string.Equals(key, DefaultKey, StringComparison.OrdinalIgnoreCase))
            {
                canonicalKey = DefaultKey;
            }
            else if (QuantizationComponents.TryParse(key, out var parsed))
            {
                component = parsed;
                canonicalKey = parsed.Name();
            }
            else
            {
                throw new RecipeFormatException(
                    $"Unknown component '{key}' in recipe entry '{entry}'; use default, attention (attn), mlp, ple_embeddings (ple), ple_gate_proj (gate) or main_embed_lmhead (embed).");
            }

            if (seen.TryGetValue(canonicalKey, out var previous))
            {
                throw new RecipeFormatException(
                    $"The recipe sets {canonicalKey} twice ('{previous}' and '{entry}'); give each component once.");
            }

            seen[canonicalKey] = entry;
            var parameters = ParseParameters(value, entry, fallbackGroupSize);
            if (component is { } listed)
            {
                components.Add(new ComponentSetting(listed, parameters));
            }
            else
            {
                defaultParameters = parameters;
            }
        }

        if (defaultParameters is not { } defaults)
        {
            throw new RecipeFormatException(
                $"The recipe '{text}' sets no default; add default=<bits> for the tensors outside the listed components, such as default=4,{text}.");
        }

        return new QuantizationRecipe(name ?? FormatEntries(defaults, components), defaults, components);
    }

    private static QuantizationParameters ParseParameters(string value, string entry, int fallbackGroupSize)
    {
        int at = value.IndexOf('@');
        string bitsText = at < 0 ? value : value[..at].Trim();
        int bits = ParseBits(bitsText, entry);
        if (at < 0)
        {
            return new QuantizationParameters(bits, fallbackGroupSize);
        }

        string groupText = value[(at + 1)..].Trim();
        if (!int.TryParse(groupText, NumberStyles.None, CultureInfo.InvariantCulture, out int groupSize)
            || !QuantizationParameters.SupportedGroupSizes.Contains(groupSize))
        {
            throw new RecipeFormatException(
                $"Recipe entry '{entry}': group size '{groupText}' is not supported; use 32, 64 or 128.");
        }

        return new QuantizationParameters(bits, groupSize);
    }

    private static int ParseBits(string text, string entry)
    {
        if (!int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out int bits)
            || !QuantizationParameters.SupportedBits.Contains(bits))
        {
            throw new RecipeFormatException(
                $"Recipe entry '{entry}': bits '{text}' are not supported; use 2, 3, 4, 5, 6 or 8.");
        }

        return bits;
    }

    private static string FormatEntries(QuantizationParameters defaults, IReadOnlyList<ComponentSetting> components)
    {
        var text = new StringBuilder();
        Append(text, DefaultKey, defaults);
        foreach (var setting in components)
        {
            text.Append(',');
            Append(text, setting.Component.ShortName(), setting.Parameters);
        }

        return text.ToString();
    }

    private static void Append(StringBuilder text, string key, QuantizationParameters parameters)
    {
        text.Append(key).Append('=').Append(parameters.Bits.ToString(CultureInfo.InvariantCulture));
        if (parameters.GroupSize != DefaultGroupSize)
        {
            text.Append('@').Append(parameters.GroupSize.ToString(CultureInfo.InvariantCulture));
        }
    }
}
