using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Diagnosers;
using BenchmarkDotNet.Engines;
using BenchmarkDotNet.Jobs;

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
