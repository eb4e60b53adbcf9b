using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;

namespace Waldwicht.Benchmarks;

/// <summary>
/// Throughput of a matrix benchmark, from the mean time and the benchmark's parameters: weight bytes streamed per
/// second, or multiply-adds per second (rows × columns × tokens).
/// </summary>
public sealed class ThroughputColumn(ThroughputColumn.Kind kind) : IColumn
{
    public enum Kind
    {
        WeightGigabytesPerSecond,
        GigaMultiplyAddsPerSecond,
    }

    public string Id => $"{nameof(ThroughputColumn)}.{kind}";

    public string ColumnName => kind == Kind.WeightGigabytesPerSecond ? "Weight GB/s" : "GMAC/s";

    public bool AlwaysShow => true;

    public ColumnCategory Category => ColumnCategory.Custom;

    public int PriorityInCategory => (int)kind;

    public bool IsNumeric => true;

    public UnitType UnitType => UnitType.Dimensionless;

    public string Legend => kind == Kind.WeightGigabytesPerSecond
        ? "Bytes of weights, scales and biases read per second, in 10^9"
        : "Multiply-adds (rows × columns × tokens) per second, in 10^9";

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase) =>
        GetValue(summary, benchmarkCase, SummaryStyle.Default);

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style)
    {
        double? nanoseconds = summary[benchmarkCase]?.ResultStatistics?.Mean;
        var size = MatrixSize.Of(benchmarkCase);
        if (nanoseconds is not > 0 || size is null)
        {
            return "-";
        }

        double amount = kind == Kind.WeightGigabytesPerSecond
            ? size.Value.StorageBytes
            : (double)size.Value.Rows * size.Value.Columns * size.Value.Tokens;
        return (amount / nanoseconds.Value).ToString("F2", style.CultureInfo);
    }

    public bool IsAvailable(Summary summary) => true;

    public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;
}

/// <summary>Shape and storage size of a benchmark's matrix, derived from its parameters.</summary>
internal readonly record struct MatrixSize(int Rows, int Columns, int Tokens, long StorageBytes)
{
    /// <summary>
    /// Reads the parameters Shape ("rows x columns"), Bits and GroupSize (quantized, F32 scales and biases) or
    /// Format (dense), and Count (tokens, default 1).
    /// </summary>
    public static MatrixSize? Of(BenchmarkCase benchmarkCase)
    {
        var parameters = benchmarkCase.Parameters;
        if (parameters.Items.All(p => p.Name != "Shape"))
        {
            return null;
        }

        var (rows, columns) = BenchmarkMatrix.ParseShape((string)parameters["Shape"]);
        int tokens = parameters.Items.Any(p => p.Name == "Count") ? (int)parameters["Count"] : 1;
        long bytes;
        if (parameters.Items.Any(p => p.Name == "Bits"))
        {
            int bits = (int)parameters["Bits"];
            int groupSize = (int)parameters["GroupSize"];
            bytes = (long)rows * columns * bits / 8 + 2L * rows * (columns / groupSize) * sizeof(float);
        }
        else
        {
            string format = (string)parameters["Format"];
            bytes = (long)rows * columns * (format == "F32" ? 4 : 2);
        }

        return new MatrixSize(rows, columns, tokens, bytes);
    }
}
