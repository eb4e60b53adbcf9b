using System.Globalization;
using System.Text.Json;

namespace Waldwicht.Server.Api;

/// <summary>
/// Typed reads of request fields. Every failure is a 400 <see cref="ApiException"/> that names the field, the
/// expected type or range, and the value received.
/// </summary>
internal static class JsonFields
{
    public static bool IsPresent(JsonElement parent, string name, out JsonElement value) =>
        parent.TryGetProperty(name, out value) && value.ValueKind != JsonValueKind.Null;

    public static string? String(JsonElement parent, string name, string path)
    {
        if (!IsPresent(parent, name, out var value))
        {
            return null;
        }

        return value.ValueKind == JsonValueKind.String ? value.GetString() : throw WrongType(path, "a string", value);
    }

    public static bool? Bool(JsonElement parent, string name, string path)
    {
        if (!IsPresent(parent, name, out var value))
        {
            return null;
        }

        return value.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            _ => throw WrongType(path, "a boolean", value),
        };
    }

    /// <summary>Reads a number in [min, max] (the lower bound is excluded when minExclusive is set).</summary>
    public static float? Number(JsonElement parent, string name, string path, double min, double max, bool minExclusive = false, string? note = null)
    {
        if (!IsPresent(parent, name, out var value))
        {
            return null;
        }

        if (value.ValueKind != JsonValueKind.Number || !value.TryGetDouble(out double number) || !double.IsFinite(number))
        {
            throw WrongType(path, "a number", value);
        }

        bool inRange = (minExclusive ? number > min : number >= min) && number <= max;
        if (!inRange)
        {
            string lower = minExclusive ? $"greater than {Format(min)}" : $"at least {Format(min)}";
            throw ApiException.Invalid(
                $"{path} must be {lower} and at most {Format(max)}{(note is null ? "" : $" ({note})")}; got {value.GetRawText()}.", path);
        }

        return (float)number;
    }

    /// <summary>Reads an integer in [min, max].</summary>
    public static int? Integer(JsonElement parent, string name, string path, long min, long max)
    {
        if (!IsPresent(parent, name, out var value))
        {
            return null;
        }

        long number = ReadLong(value, path);
        if (number < min || number > max)
        {
            throw ApiException.Invalid($"{path} must be between {min} and {max}; got {number}.", path);
        }

        return (int)number;
    }

    /// <summary>Reads any 64-bit integer.</summary>
    public static long? Long(JsonElement parent, string name, string path) =>
        IsPresent(parent, name, out var value) ? ReadLong(value, path) : null;

    public static JsonElement? Object(JsonElement parent, string name, string path)
    {
        if (!IsPresent(parent, name, out var value))
        {
            return null;
        }

        return value.ValueKind == JsonValueKind.Object ? value : throw WrongType(path, "an object", value);
    }

    public static JsonElement? Array(JsonElement parent, string name, string path)
    {
        if (!IsPresent(parent, name, out var value))
        {
            return null;
        }

        return value.ValueKind == JsonValueKind.Array ? value : throw WrongType(path, "an array", value);
    }

    public static ApiException WrongType(string path, string expected, JsonElement value) =>
        ApiException.Invalid($"{path} must be {expected}; got {Describe(value)}.", path);

    public static string Describe(JsonElement value) => value.ValueKind switch
    {
        JsonValueKind.String => "a string",
        JsonValueKind.Number => $"the number {value.GetRawText()}",
        JsonValueKind.True or JsonValueKind.False => $"the boolean {value.GetRawText()}",
        JsonValueKind.Array => "an array",
        JsonValueKind.Object => "an object",
        JsonValueKind.Null => "null",
        _ => value.ValueKind.ToString(),
    };

    private static long ReadLong(JsonElement value, string path)
    {
        if (value.ValueKind != JsonValueKind.Number)
        {
            throw WrongType(path, "an integer", value);
        }

        if (value.TryGetInt64(out long number))
        {
            return number;
        }

        throw ApiException.Invalid($"{path} must be an integer; got {value.GetRawText()}.", path);
    }

    private static string Format(double value) => value.ToString(CultureInfo.InvariantCulture);
}
