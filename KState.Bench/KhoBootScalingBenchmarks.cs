using BenchmarkDotNet.Attributes;

namespace KState.Bench;

/// <summary>
/// Boot (Kho.Init on a finalized handover) of a 64 MiB and a 4 GiB region, one preserved order-0 folio each,
/// poisoning off. A boot consumes the handover, so every iteration is one boot, and the iteration setup makes the
/// next handover: restore the folio, preserve it, finalize, Dispose (all unmeasured).
/// </summary>
[Config(typeof(KhoBootBenchConfig))]
public class KhoBootScalingBenchmarks
{
    private HandoverCycle _cycle = null!;

    /// <summary>Region size in MiB: 64, 1024 (to show the trend) or 4096.</summary>
    [Params(64, 1024, 4096)]
    public int RegionMiB { get; set; }

    [GlobalSetup]
    public void GlobalSetup()
    {
        _cycle = HandoverCycle.Create($"boot{RegionMiB}", (ulong)RegionMiB << 20, order: 0, count: 1, fill: true);
        _cycle.RunUntil(CycleStage.Booted);
        _cycle.Restore();
        _cycle.VerifyContents();
        _cycle.WarmUp(200);
    }

    [GlobalCleanup]
    public void GlobalCleanup() => _cycle.Dispose();

    [IterationSetup(Target = nameof(Boot))]
    public void BeforeBoot() => _cycle.RunUntil(CycleStage.HandedOver);

    [IterationSetup(Target = nameof(Exit))]
    public void BeforeExit() => _cycle.RunUntil(CycleStage.Finalized);

    /// <summary>Kho.Init on the finalized region.</summary>
    [Benchmark]
    public void Boot() => _cycle.Boot();

    /// <summary>Dispose after finalize: the other half of a generation change.</summary>
    [Benchmark]
    public void Exit() => _cycle.Exit();
}
