namespace Waldwicht.Runtime.ChatClient.Constraints;

/// <summary>
/// Position of a byte-level JSON recognizer for one schema: an immutable stack of frames plus the length of
/// the current whitespace run. Advancing returns a new state, so one state can be tried against many
/// continuations (every token of a vocabulary) without copying.
/// </summary>
/// <remarks>
/// Bytes of 0x80 and above are accepted inside strings without checking UTF-8 sequences. Whitespace between
/// tokens is limited to <see cref="MaxWhitespaceRun"/> bytes in a row, so a model cannot pad forever. Numbers
/// are limited to <see cref="NumberFrame.MaxLength"/> bytes.
/// </remarks>
public readonly struct JsonGrammarState
{
    /// <summary>Most whitespace bytes in a row between JSON tokens.</summary>
    public const int MaxWhitespaceRun = 32;

    private readonly JsonFrame _top;
    private readonly int _whitespace;

    private JsonGrammarState(JsonFrame top, int whitespace)
    {
        _top = top;
        _whitespace = whitespace;
    }

    /// <summary>The state before the first byte of a value of <paramref name="schema"/>.</summary>
    public static JsonGrammarState Start(JsonSchemaNode schema)
    {
        ArgumentNullException.ThrowIfNull(schema);
        return new JsonGrammarState(new ValueFrame(schema, DoneFrame.Instance), 0);
    }

    /// <summary>True when the bytes so far form one complete value (a trailing number or literal may still grow).</summary>
    public bool IsComplete =>
        _top is DoneFrame || (_top.CanEndImplicitly && _top.Parent is DoneFrame);

    /// <summary>True when no further byte is accepted.</summary>
    public bool IsClosed => _top is DoneFrame;

    /// <summary>True inside a string whose content is unconstrained (no key list and no literal), where any plain text may follow.</summary>
    public bool IsInFreeString => _top is StringFrame { Mode: StringMode.Normal };

    /// <summary>Advances by one byte; false when the byte is not allowed here.</summary>
    public bool TryAdvance(byte value, out JsonGrammarState next)
    {
        int whitespace = _whitespace;
        var frame = _top.Advance(value, ref whitespace);
        next = frame is null ? default : new JsonGrammarState(frame, whitespace);
        return frame is not null;
    }

    /// <summary>Advances by several bytes; false when one of them is not allowed.</summary>
    public bool TryAdvance(ReadOnlySpan<byte> bytes, out JsonGrammarState next)
    {
        var state = this;
        foreach (byte value in bytes)
        {
            if (!state.TryAdvance(value, out state))
            {
                next = default;
                return false;
            }
        }

        next = state;
        return true;
    }

    public override string ToString() => _top?.ToString() ?? "(default)";
}

/// <summary>One level of the recognizer stack. Frames are immutable; a finished frame returns its parent.</summary>
internal abstract class JsonFrame(JsonFrame? parent)
{
    public JsonFrame? Parent { get; } = parent;

    /// <summary>True for a number or literal that is complete but could still grow; the next byte that does not fit goes to the parent.</summary>
    public virtual bool CanEndImplicitly => false;

    /// <summary>Returns the frame after <paramref name="value"/>, or null when the byte is not allowed.</summary>
    public abstract JsonFrame? Advance(byte value, ref int whitespace);

    protected static bool IsWhitespace(byte value) => value is (byte)' ' or (byte)'\n' or (byte)'\r' or (byte)'\t';

    /// <summary>Counts a whitespace byte between tokens; false when the run is too long.</summary>
    protected static bool TakeWhitespace(ref int whitespace)
    {
        if (whitespace >= JsonGrammarState.MaxWhitespaceRun)
        {
            return false;
        }

        whitespace++;
        return true;
    }

    /// <summary>Starts a value of <paramref name="schema"/> with its first byte; the value returns to <paramref name="parent"/>.</summary>
    protected static JsonFrame? StartValue(JsonSchemaNode schema, byte value, JsonFrame parent, ref int whitespace)
    {
        whitespace = 0;
        if (schema.Literals is { } literals)
        {
            return new LiteralFrame(literals, 0, parent).Advance(value, ref whitespace);
        }

        var kinds = schema.Kinds;
        switch (value)
        {
            case (byte)'{' when (kinds & JsonValueKinds.Object) != 0:
                return new ObjectFrame(schema.ObjectBranch ?? schema, ObjectPhase.Start, 0, null, parent);
            case (byte)'[' when (kinds & JsonValueKinds.Array) != 0:
                return new ArrayFrame(schema.ArrayBranch ?? schema, ArrayPhase.Start, 0, parent);
            case (byte)'"' when (kinds & JsonValueKinds.String) != 0:
                return new StringFrame(StringMode.Normal, 0, parent);
            case (byte)'-' or (>= (byte)'0' and <= (byte)'9') when (kinds & (JsonValueKinds.Number | JsonValueKinds.Integer)) != 0:
                bool integerOnly = (kinds & JsonValueKinds.Number) == 0;
                return new NumberFrame(integerOnly, NumberPhase.Start, 0, parent).Advance(value, ref whitespace);
            case (byte)'t' or (byte)'f' when (kinds & JsonValueKinds.Boolean) != 0:
                return new LiteralFrame(LiteralFrame.Booleans, 0, parent).Advance(value, ref whitespace);
            case (byte)'n' when (kinds & JsonValueKinds.Null) != 0:
                return new LiteralFrame(LiteralFrame.NullLiteral, 0, parent).Advance(value, ref whitespace);
            default:
                return null;
        }
    }
}

/// <summary>The bottom of the stack: the value is complete and nothing may follow.</summary>
internal sealed class DoneFrame : JsonFrame
{
    public static readonly DoneFrame Instance = new();

    private DoneFrame()
        : base(null)
    {
    }

    public override JsonFrame? Advance(byte value, ref int whitespace) => null;

    public override string ToString() => "done";
}

/// <summary>Before a value: whitespace, then the value's first byte.</summary>
internal sealed class ValueFrame(JsonSchemaNode schema, JsonFrame parent) : JsonFrame(parent)
{
    public override JsonFrame? Advance(byte value, ref int whitespace)
    {
        if (IsWhitespace(value))
        {
            return TakeWhitespace(ref whitespace) ? this : null;
        }

        return StartValue(schema, value, Parent!, ref whitespace);
    }

    public override string ToString() => $"value {schema}";
}

/// <summary>A fixed set of possible literal texts (true/false/null, enum or const values), matched byte by byte.</summary>
internal sealed class LiteralFrame(IReadOnlyList<byte[]> candidates, int position, JsonFrame parent) : JsonFrame(parent)
{
    public static readonly IReadOnlyList<byte[]> Booleans = ["true"u8.ToArray(), "false"u8.ToArray()];
    public static readonly IReadOnlyList<byte[]> NullLiteral = ["null"u8.ToArray()];

    public override bool CanEndImplicitly => candidates.Any(c => c.Length == position);

    public override JsonFrame? Advance(byte value, ref int whitespace)
    {
        List<byte[]>? next = null;
        foreach (var candidate in candidates)
        {
            if (candidate.Length > position && candidate[position] == value)
            {
                (next ??= []).Add(candidate);
            }
        }

        if (next is not null)
        {
            whitespace = 0;
            return new LiteralFrame(next, position + 1, Parent!);
        }

        return CanEndImplicitly ? Parent!.Advance(value, ref whitespace) : null;
    }

    public override string ToString() => $"literal at {position} of {candidates.Count}";
}

internal enum StringMode
{
    Normal,
    Escape,
    Unicode,
}

/// <summary>Inside a string after the opening quote; the closing quote returns to the parent.</summary>
internal sealed class StringFrame(StringMode mode, int hexDigits, JsonFrame parent) : JsonFrame(parent)
{
    public StringMode Mode { get; } = mode;

    public override JsonFrame? Advance(byte value, ref int whitespace)
    {
        whitespace = 0;
        switch (Mode)
        {
            case StringMode.Normal:
                return value switch
                {
                    (byte)'"' => Parent,
                    (byte)'\\' => new StringFrame(StringMode.Escape, 0, Parent!),
                    < 0x20 => null,
                    _ => this,
                };
            case StringMode.Escape:
                return value switch
                {
                    (byte)'"' or (byte)'\\' or (byte)'/' or (byte)'b' or (byte)'f' or (byte)'n' or (byte)'r' or (byte)'t' =>
                        new StringFrame(StringMode.Normal, 0, Parent!),
                    (byte)'u' => new StringFrame(StringMode.Unicode, 0, Parent!),
                    _ => null,
                };
            default:
                if (!char.IsAsciiHexDigit((char)value))
                {
                    return null;
                }

                return hexDigits == 3
                    ? new StringFrame(StringMode.Normal, 0, Parent!)
                    : new StringFrame(StringMode.Unicode, hexDigits + 1, Parent!);
        }
    }

    public override string ToString() => $"string ({Mode})";
}

internal enum ObjectPhase
{
    /// <summary>After '{': a key or '}'.</summary>
    Start,

    /// <summary>After a key: ':'.</summary>
    AfterKey,

    /// <summary>After ':': the value.</summary>
    AfterColon,

    /// <summary>After a value: ',' or '}'.</summary>
    AfterValue,

    /// <summary>After ',': a key.</summary>
    AfterComma,
}

/// <summary>Inside an object; tracks which listed properties were used.</summary>
internal sealed class ObjectFrame(JsonSchemaNode schema, ObjectPhase phase, ulong used, JsonSchemaNode? valueSchema, JsonFrame parent)
    : JsonFrame(parent)
{
    public override JsonFrame? Advance(byte value, ref int whitespace)
    {
        if (IsWhitespace(value))
        {
            return TakeWhitespace(ref whitespace) ? this : null;
        }

        whitespace = 0;
        switch (phase)
        {
            case ObjectPhase.Start when value == '}':
            case ObjectPhase.AfterValue when value == '}':
                return (schema.RequiredMask & ~used) == 0 ? Parent : null;
            case ObjectPhase.Start or ObjectPhase.AfterComma when value == '"':
                return StartKey();
            case ObjectPhase.AfterKey when value == ':':
                return new ObjectFrame(schema, ObjectPhase.AfterColon, used, valueSchema, Parent!);
            case ObjectPhase.AfterColon:
                return StartValue(valueSchema!, value, new ObjectFrame(schema, ObjectPhase.AfterValue, used, null, Parent!), ref whitespace);
            case ObjectPhase.AfterValue when value == ',':
                return HasKeysLeft() ? new ObjectFrame(schema, ObjectPhase.AfterComma, used, null, Parent!) : null;
            default:
                return null;
        }
    }

    /// <summary>The object after its key: property <paramref name="index"/> of the schema, or a free key when -1.</summary>
    public ObjectFrame AfterKey(int index) =>
        index < 0
            ? new ObjectFrame(schema, ObjectPhase.AfterKey, used, schema.AdditionalProperties, Parent!)
            : new ObjectFrame(schema, ObjectPhase.AfterKey, used | (1UL << index), schema.Properties![index].Schema, Parent!);

    private JsonFrame? StartKey()
    {
        if (schema.Properties is { } properties)
        {
            var candidates = new List<int>();
            for (int i = 0; i < properties.Count; i++)
            {
                if ((used & (1UL << i)) == 0)
                {
                    candidates.Add(i);
                }
            }

            return candidates.Count == 0 ? null : new KeyFrame(this, properties, candidates, 0);
        }

        // A free key is an ordinary string; the object continues after it.
        return schema.AdditionalProperties is null ? null : new StringFrame(StringMode.Normal, 0, AfterKey(-1));
    }

    private bool HasKeysLeft()
    {
        if (schema.Properties is not { } properties)
        {
            return schema.AdditionalProperties is not null;
        }

        ulong all = properties.Count == 64 ? ulong.MaxValue : (1UL << properties.Count) - 1;
        return (used & all) != all;
    }

    public override string ToString() => $"object {phase}";
}

/// <summary>Inside the key of an object with listed properties: the key must be one of the unused names.</summary>
internal sealed class KeyFrame(ObjectFrame owner, IReadOnlyList<JsonSchemaProperty> properties, List<int> candidates, int position)
    : JsonFrame(owner.Parent)
{
    public override JsonFrame? Advance(byte value, ref int whitespace)
    {
        whitespace = 0;
        if (value == '"')
        {
            foreach (int index in candidates)
            {
                if (properties[index].EncodedName.Length == position)
                {
                    return owner.AfterKey(index);
                }
            }

            return null;
        }

        List<int>? next = null;
        foreach (int index in candidates)
        {
            var name = properties[index].EncodedName;
            if (name.Length > position && name[position] == value)
            {
                (next ??= []).Add(index);
            }
        }

        return next is null ? null : new KeyFrame(owner, properties, next, position + 1);
    }

    public override string ToString() => $"key at {position} of {candidates.Count} names";
}

internal enum ArrayPhase
{
    Start,
    AfterValue,
    AfterComma,
}

/// <summary>Inside an array; counts its items against minItems and maxItems.</summary>
internal sealed class ArrayFrame(JsonSchemaNode schema, ArrayPhase phase, int count, JsonFrame parent) : JsonFrame(parent)
{
    public override JsonFrame? Advance(byte value, ref int whitespace)
    {
        if (IsWhitespace(value))
        {
            return TakeWhitespace(ref whitespace) ? this : null;
        }

        whitespace = 0;
        if (value == ']' && phase != ArrayPhase.AfterComma)
        {
            return count >= schema.MinItems ? Parent : null;
        }

        if (phase == ArrayPhase.AfterValue)
        {
            return value == ',' && (schema.MaxItems is not int max || count < max)
                ? new ArrayFrame(schema, ArrayPhase.AfterComma, count, Parent!)
                : null;
        }

        if (schema.MaxItems is int limit && count >= limit)
        {
            return null;
        }

        return StartValue(schema.Items ?? JsonSchemaNode.Any, value, new ArrayFrame(schema, ArrayPhase.AfterValue, count + 1, Parent!), ref whitespace);
    }

    public override string ToString() => $"array {phase} ({count} items)";
}

internal enum NumberPhase
{
    Start,
    Minus,
    Zero,
    Integer,
    Dot,
    Fraction,
    Exponent,
    ExponentSign,
    ExponentDigits,
}

/// <summary>Inside a number (RFC 8259 grammar); integers take no fraction and no exponent.</summary>
internal sealed class NumberFrame(bool integerOnly, NumberPhase phase, int length, JsonFrame parent) : JsonFrame(parent)
{
    /// <summary>Most bytes of one number.</summary>
    public const int MaxLength = 32;

    public override bool CanEndImplicitly =>
        phase is NumberPhase.Zero or NumberPhase.Integer or NumberPhase.Fraction or NumberPhase.ExponentDigits;

    public override JsonFrame? Advance(byte value, ref int whitespace)
    {
        whitespace = 0;
        bool digit = value is >= (byte)'0' and <= (byte)'9';
        NumberPhase? next = phase switch
        {
            NumberPhase.Start when value == '-' => NumberPhase.Minus,
            NumberPhase.Start or NumberPhase.Minus when value == '0' => NumberPhase.Zero,
            NumberPhase.Start or NumberPhase.Minus when digit => NumberPhase.Integer,
            NumberPhase.Integer when digit => NumberPhase.Integer,
            NumberPhase.Zero or NumberPhase.Integer when value == '.' && !integerOnly => NumberPhase.Dot,
            NumberPhase.Zero or NumberPhase.Integer or NumberPhase.Fraction when (value == 'e' || value == 'E') && !integerOnly => NumberPhase.Exponent,
            NumberPhase.Dot or NumberPhase.Fraction when digit => NumberPhase.Fraction,
            NumberPhase.Exponent when value == '+' || value == '-' => NumberPhase.ExponentSign,
            NumberPhase.Exponent or NumberPhase.ExponentSign or NumberPhase.ExponentDigits when digit => NumberPhase.ExponentDigits,
            _ => null,
        };

        if (next is NumberPhase continued && length < MaxLength)
        {
            return new NumberFrame(integerOnly, continued, length + 1, Parent!);
        }

        return CanEndImplicitly ? Parent!.Advance(value, ref whitespace) : null;
    }

    public override string ToString() => $"number {phase}";
}
