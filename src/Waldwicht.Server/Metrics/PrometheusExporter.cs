using System.Diagnostics.Metrics;
using System.Globalization;
using System.Text;

namespace Waldwicht.Server.Metrics;

/// <summary>
/// Collects the instruments of one <see cref="Meter"/> with a <see cref="MeterListener"/> and renders them in
/// the Prometheus text exposition format (version 0.0.4). Names are the instrument names with dots as
/// underscores, a unit suffix (_seconds for "s", _bytes for "By") and _total for counters. Histograms use the
/// bucket boundaries advised by the instrument. Thread-safe.
/// </summary>
public sealed class PrometheusExporter : IDisposable
{
    public const string ContentType = "text/plain; version=0.0.4; charset=utf-8";

    private static readonly double[] DefaultBuckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

    private readonly MeterListener _listener = new();
    private readonly Meter _meter;
    private readonly object _lock = new();
    private readonly Dictionary<Instrument, Family> _families = [];

    public PrometheusExporter(Meter meter)
    {
        ArgumentNullException.ThrowIfNull(meter);
        _meter = meter;
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (ReferenceEquals(instrument.Meter, _meter))
            {
                lock (_lock)
                {
                    _families[instrument] = new Family(instrument);
                }

                listener.EnableMeasurementEvents(instrument);
            }
        };
        _listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) => Record(instrument, value, tags));
        _listener.SetMeasurementEventCallback<int>((instrument, value, tags, _) => Record(instrument, value, tags));
        _listener.SetMeasurementEventCallback<double>((instrument, value, tags, _) => Record(instrument, value, tags));
        _listener.Start();
    }

    /// <summary>Polls the observable gauges and renders every family.</summary>
    public string Render()
    {
        _listener.RecordObservableInstruments();
        var text = new StringBuilder();
        lock (_lock)
        {
            foreach (var family in _families.Values.OrderBy(f => f.Name, StringComparer.Ordinal))
            {
                family.Write(text);
            }
        }

        return text.ToString();
    }

    public void Dispose() => _listener.Dispose();

    private void Record(Instrument instrument, double value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        string labels = FormatLabels(tags);
        lock (_lock)
        {
            if (_families.TryGetValue(instrument, out var family))
            {
                family.Record(labels, value);
            }
        }
    }

    private static string FormatLabels(ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        if (tags.IsEmpty)
        {
            return string.Empty;
        }

        var pairs = new List<string>(tags.Length);
        foreach (var (key, value) in tags)
        {
            string text = Convert.ToString(value, CultureInfo.InvariantCulture) ?? string.Empty;
            pairs.Add($"{Sanitize(key)}=\"{text.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal).Replace("\n", "\\n", StringComparison.Ordinal)}\"");
        }

        pairs.Sort(StringComparer.Ordinal);
        return string.Join(',', pairs);
    }

    private static string Sanitize(string name)
    {
        var builder = new StringBuilder(name.Length);
        foreach (char c in name)
        {
            builder.Append(char.IsAsciiLetterOrDigit(c) || c == '_' ? c : '_');
        }

        return builder.ToString();
    }

    private static string Number(double value) =>
        double.IsPositiveInfinity(value) ? "+Inf" : value.ToString("R", CultureInfo.InvariantCulture);

    private enum Kind
    {
        Counter,
        Gauge,
        Histogram,
    }

    /// <summary>One metric family: an instrument and its series by label set.</summary>
    private sealed class Family
    {
        private readonly Kind _kind;
        private readonly double[] _bounds;
        private readonly SortedDictionary<string, Series> _series = new(StringComparer.Ordinal);
        private readonly string? _help;

        public Family(Instrument instrument)
        {
            _kind = instrument switch
            {
                Histogram<double> => Kind.Histogram,
                Counter<long> or Counter<int> or Counter<double> => Kind.Counter,
                _ => Kind.Gauge,
            };
            _bounds = instrument is Histogram<double> histogram ? histogram.Advice?.HistogramBucketBoundaries?.ToArray() ?? DefaultBuckets : [];
            string baseName = Sanitize(instrument.Name.Replace('.', '_'));
            string suffix = instrument.Unit switch
            {
                "s" => "_seconds",
                "By" => "_bytes",
                "1" => "_ratio",
                _ => string.Empty,
            };
            Name = baseName + suffix + (_kind == Kind.Counter ? "_total" : string.Empty);
            _help = instrument.Description;
        }

        public string Name { get; }

        public void Record(string labels, double value)
        {
            if (!_series.TryGetValue(labels, out var series))
            {
                series = new Series(_bounds.Length);
                _series[labels] = series;
            }

            switch (_kind)
            {
                case Kind.Counter:
                    series.Value += value;
                    break;
                case Kind.Gauge:
                    series.Value = value;
                    break;
                default:
                    int bucket = Array.FindIndex(_bounds, bound => value <= bound);
                    series.Buckets[bucket < 0 ? _bounds.Length : bucket]++;
                    series.Sum += value;
                    series.Count++;
                    break;
            }
        }

        public void Write(StringBuilder text)
        {
            if (_help is { Length: > 0 })
            {
                text.Append("# HELP ").Append(Name).Append(' ').Append(_help.Replace("\n", " ", StringComparison.Ordinal)).Append('\n');
            }

            text.Append("# TYPE ").Append(Name).Append(' ').Append(_kind.ToString().ToLowerInvariant()).Append('\n');
            if (_series.Count == 0 && _kind != Kind.Histogram)
            {
                text.Append(Name).Append(" 0\n");
                return;
            }

            foreach (var (labels, series) in _series)
            {
                if (_kind != Kind.Histogram)
                {
                    text.Append(Name).Append(Braces(labels)).Append(' ').Append(Number(series.Value)).Append('\n');
                    continue;
                }

                long cumulative = 0;
                for (int i = 0; i <= _bounds.Length; i++)
                {
                    cumulative += series.Buckets[i];
                    string le = $"le=\"{Number(i < _bounds.Length ? _bounds[i] : double.PositiveInfinity)}\"";
                    text.Append(Name).Append("_bucket{").Append(labels.Length > 0 ? labels + "," : string.Empty).Append(le).Append("} ")
                        .Append(cumulative.ToString(CultureInfo.InvariantCulture)).Append('\n');
                }

                text.Append(Name).Append("_sum").Append(Braces(labels)).Append(' ').Append(Number(series.Sum)).Append('\n');
                text.Append(Name).Append("_count").Append(Braces(labels)).Append(' ').Append(series.Count.ToString(CultureInfo.InvariantCulture)).Append('\n');
            }
        }

        private static string Braces(string labels) => labels.Length == 0 ? string.Empty : "{" + labels + "}";
    }

    private sealed class Series(int bounds)
    {
        public double Value { get; set; }

        public long[] Buckets { get; } = new long[bounds + 1];

        public double Sum { get; set; }

        public long Count { get; set; }
    }
}
