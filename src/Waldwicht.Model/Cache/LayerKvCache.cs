namespace Waldwicht.Model.Cache;

/// <summary>
/// Keys and values of one attention layer for the positions processed so far, stored after
/// normalisation and RoPE as rows of [KV heads · head dim] floats. Full-attention layers keep every
/// position; sliding-window layers keep a ring of the last <see cref="Window"/> positions
/// (position p lives in slot p mod Window). Not thread-safe.
/// </summary>
public sealed class LayerKvCache
{
    private const int GrowthStep = 256;

    private float[] _keys;
    private float[] _values;

    /// <summary>Creates a cache; <paramref name="window"/> is null for full attention.</summary>
    public LayerKvCache(int rowWidth, int? window, int initialCapacity = GrowthStep)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(rowWidth);
        if (window is <= 0)
        {
            throw new ArgumentOutOfRangeException(nameof(window), window, "Sliding window must be positive.");
        }

        RowWidth = rowWidth;
        Window = window;
        int capacity = window ?? Math.Max(1, initialCapacity);
        _keys = new float[(long)capacity * rowWidth];
        _values = new float[(long)capacity * rowWidth];
    }

    /// <summary>Floats per position: KV heads times head dimension.</summary>
    public int RowWidth { get; }

    /// <summary>Sliding window size, or null for a full-attention layer.</summary>
    public int? Window { get; }

    /// <summary>Number of positions processed (the next position to append).</summary>
    public int Length { get; private set; }

    /// <summary>First position whose keys and values are still stored.</summary>
    public int FirstStoredPosition => Window is int w ? Math.Max(0, Length - w) : 0;

    /// <summary>Bytes held by the key and value buffers.</summary>
    public long AllocatedBytes => ((long)_keys.Length + _values.Length) * sizeof(float);

    /// <summary>Bytes used by stored positions.</summary>
    public long UsedBytes => (long)(Length - FirstStoredPosition) * RowWidth * 2 * sizeof(float);

    /// <summary>The key row of a stored position.</summary>
    public ReadOnlySpan<float> Key(int position) => _keys.AsSpan(Slot(position) * RowWidth, RowWidth);

    /// <summary>The value row of a stored position.</summary>
    public ReadOnlySpan<float> Value(int position) => _values.AsSpan(Slot(position) * RowWidth, RowWidth);

    /// <summary>Appends <paramref name="count"/> positions (rows of <see cref="RowWidth"/> floats).</summary>
    public void Append(ReadOnlySpan<float> keys, ReadOnlySpan<float> values, int count)
    {
        if (keys.Length < count * RowWidth || values.Length < count * RowWidth)
        {
            throw new ArgumentException($"Expected {count} rows of {RowWidth} keys and values.");
        }

        if (Window is int w)
        {
            // Only the last w rows of a long chunk survive in the ring.
            int skip = Math.Max(0, count - w);
            for (int i = skip; i < count; i++)
            {
                int slot = (Length + i) % w;
                keys.Slice(i * RowWidth, RowWidth).CopyTo(_keys.AsSpan(slot * RowWidth));
                values.Slice(i * RowWidth, RowWidth).CopyTo(_values.AsSpan(slot * RowWidth));
            }
        }
        else
        {
            EnsureCapacity(Length + count);
            keys[..(count * RowWidth)].CopyTo(_keys.AsSpan(Length * RowWidth));
            values[..(count * RowWidth)].CopyTo(_values.AsSpan(Length * RowWidth));
        }

        Length += count;
    }

    /// <summary>True if the cache can be cut back to <paramref name="length"/> positions without losing needed entries.</summary>
    public bool CanTruncate(int length) =>
        length >= 0 && length <= Length && (Window is not int w || length == Length || Length <= w);

    /// <summary>Forgets every position from <paramref name="length"/> on.</summary>
    /// <exception cref="InvalidOperationException">A sliding cache has already overwritten positions the shorter prefix needs.</exception>
    public void Truncate(int length)
    {
        if (!CanTruncate(length))
        {
            throw new InvalidOperationException(
                $"Cannot truncate a sliding-window cache of {Length} positions (window {Window}) to {length}.");
        }

        Length = length;
    }

    /// <summary>Copies the state of another cache of the same shape into this one.</summary>
    public void CopyFrom(LayerKvCache other)
    {
        if (other.RowWidth != RowWidth || other.Window != Window)
        {
            throw new ArgumentException("Caches differ in shape.", nameof(other));
        }

        if (_keys.Length < other._keys.Length)
        {
            _keys = new float[other._keys.Length];
            _values = new float[other._values.Length];
        }

        int rows = Window ?? other.Length;
        other._keys.AsSpan(0, rows * RowWidth).CopyTo(_keys);
        other._values.AsSpan(0, rows * RowWidth).CopyTo(_values);
        Length = other.Length;
    }

    /// <summary>Forgets every position.</summary>
    public void Clear() => Length = 0;

    private int Slot(int position)
    {
        if (position < FirstStoredPosition || position >= Length)
        {
            throw new ArgumentOutOfRangeException(nameof(position), position,
                $"Position is not stored (stored: {FirstStoredPosition} to {Length - 1}).");
        }

        return Window is int w ? position % w : position;
    }

    private void EnsureCapacity(int positions)
    {
        long needed = (long)positions * RowWidth;
        if (needed <= _keys.Length)
        {
            return;
        }

        long capacity = Math.Max(needed, (long)_keys.Length * 2);
        capacity = (capacity / RowWidth + GrowthStep - 1) / GrowthStep * GrowthStep * RowWidth;
        Array.Resize(ref _keys, checked((int)capacity));
        Array.Resize(ref _values, checked((int)capacity));
    }
}
