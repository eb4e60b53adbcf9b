using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Running;
using Waldwicht.Benchmarks;

// Runs the benchmarks chosen on the command line, for example:
//   dotnet run -c Release --project bench/Waldwicht.Benchmarks -- --filter '*'
//   dotnet run -c Release --project bench/Waldwicht.Benchmarks -- --filter '*DecodeMatVec*' --job short
var config = DefaultConfig.Instance
    .AddColumn(new ThroughputColumn(ThroughputColumn.Kind.WeightGigabytesPerSecond))
    .AddColumn(new ThroughputColumn(ThroughputColumn.Kind.GigaMultiplyAddsPerSecond));
BenchmarkSwitcher.FromAssembly(typeof(ThroughputColumn).Assembly).Run(args, config);
