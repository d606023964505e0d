using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Diagnosers;
using BenchmarkDotNet.Engines;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;

namespace KState.Bench;

/// <summary>
/// The job of the KHO benchmarks: every measured operation consumes state that the iteration setup rebuilds, so each
/// iteration is exactly one invocation (InvocationCount = UnrollFactor = 1) and BenchmarkDotNet's pilot stage is
/// skipped. Three launches (separate processes) of 3 warm-up and <see cref="Iterations"/> measured iterations each:
/// on the shared 2-core machine the level of a whole process run shifts more than the iterations inside it vary, so
/// a single launch can be off by a factor of two; three launches show that spread in the error and StdDev columns.
/// Median and Max are shown next to the mean because BenchmarkDotNet drops upper outliers from the mean.
/// </summary>
public class KhoBenchConfig : ManualConfig
{
    public const int Iterations = 10;
    public const int Launches = 3;

    public KhoBenchConfig() : this(Iterations) { }

    protected KhoBenchConfig(int iterations)
    {
        AddJob(Job.Default
            .WithLaunchCount(Launches)
            .WithWarmupCount(3)
            .WithIterationCount(iterations)
            .WithInvocationCount(1)
            .WithUnrollFactor(1)
            .WithId("OneShot"));
        AddDiagnoser(MemoryDiagnoser.Default);
        AddColumn(StatisticColumn.Median, StatisticColumn.Max);
    }
}

/// <summary>Same job with more iterations, for the sub-millisecond boot measurements.</summary>
public class KhoBootBenchConfig : KhoBenchConfig
{
    public KhoBootBenchConfig() : base(30) { }
}

/// <summary>
/// Cold start: each launch is a fresh process that measures its first and only invocation, so the code runs as the
/// JIT first compiles it (tier 0, on-stack replacement), as in a new generation's process right after it starts.
/// </summary>
public class KhoColdBenchConfig : ManualConfig
{
    public KhoColdBenchConfig()
    {
        AddJob(Job.Default
            .WithStrategy(RunStrategy.ColdStart)
            .WithLaunchCount(3)
            .WithWarmupCount(0)
            .WithIterationCount(1)
            .WithInvocationCount(1)
            .WithUnrollFactor(1)
            .WithId("ColdStart"));
        AddColumn(StatisticColumn.Median, StatisticColumn.Min, StatisticColumn.Max);
    }
}

/// <summary>The KHO job for benchmarks of many items at once: a Per item column shows each row's mean divided by
/// the item count.</summary>
public class SessionItemsBenchConfig : KhoBenchConfig
{
    public SessionItemsBenchConfig() : base(Iterations)
    {
        AddColumn(new PerItemColumn(DescribedItemsSessionBenchmarks.Items));
        // Per-item calls run once per process in a real live update, so the default job sees them in the JIT's first
        // tiers (and so would a real generation); the same job without tiering shows the fully optimized code.
        AddJob(GetJobs().Single().WithEnvironmentVariables(new EnvironmentVariable("DOTNET_TieredCompilation", "0")).WithId("NoTiering"));
    }
}

/// <summary>Mean divided by a fixed number of items, for rows that each handle that many.</summary>
public sealed class PerItemColumn(int items) : IColumn
{
    public string Id => $"{nameof(PerItemColumn)}.{items}";
    public string ColumnName => "Per item";
    public bool AlwaysShow => true;
    public ColumnCategory Category => ColumnCategory.Custom;
    public int PriorityInCategory => 0;
    public bool IsNumeric => true;
    public UnitType UnitType => UnitType.Dimensionless;
    public string Legend => $"Mean divided by the {items:N0} items each invocation handles";

    public bool IsAvailable(Summary summary) => true;

    public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase) => GetValue(summary, benchmarkCase, summary.Style);

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style)
    {
        if (summary[benchmarkCase]?.ResultStatistics is not { } stats) return "NA";
        double ns = stats.Mean / items;
        return ns < 1000
            ? ns.ToString("N2", style.CultureInfo) + " ns"
            : (ns / 1000).ToString("N3", style.CultureInfo) + " μs";
    }

    public override string ToString() => ColumnName;
}
