using BenchmarkDotNet.Attributes;

namespace KState.Bench;

/// <summary>
/// The 1 GiB handover measured once per fresh process (cold start, 3 launches), for contrast with the steady-state
/// figures of <see cref="KhoHandoverBenchmarks"/>: the global setup only creates the region and allocates and fills
/// the folios (it runs no handover code), so the measured call is the first preserve, finalize, boot and restore the
/// process ever runs. <see cref="ColdBootRestore"/> is the next generation's share: its global setup also preserves,
/// finalizes and exits, so only Kho.Init on the handover and the restores are measured, first time in the process.
/// </summary>
[Config(typeof(KhoColdBenchConfig))]
public class KhoColdHandoverBenchmarks
{
    private const ulong DataBytes = 1UL << 30;
    private const ulong RegionBytes = 1280UL << 20;
    private HandoverCycle _cycle = null!;

    /// <summary>Folio order: 0 (262,144 folios of 4 KiB) or 9 (512 folios of 2 MiB).</summary>
    [Params(0, 9)]
    public int Order { get; set; }

    [GlobalSetup(Target = nameof(ColdFullCycle))]
    public void SetupFullCycle() =>
        _cycle = HandoverCycle.Create($"cold{Order}", RegionBytes, Order, (int)(DataBytes >> (12 + Order)), fill: true);

    [GlobalSetup(Target = nameof(ColdBootRestore))]
    public void SetupBootRestore()
    {
        SetupFullCycle();
        _cycle.RunUntil(CycleStage.HandedOver);
    }

    [GlobalCleanup]
    public void GlobalCleanup() => _cycle.Dispose();

    [IterationSetup(Target = nameof(ColdFullCycle))]
    public void BeforeFullCycle() => _cycle.RunUntil(CycleStage.Allocated);

    [IterationSetup(Target = nameof(ColdBootRestore))]
    public void BeforeBootRestore() => _cycle.RunUntil(CycleStage.HandedOver);

    /// <summary>Preserve + Finalize + Exit + Boot + Restore, first time in the process.</summary>
    [Benchmark]
    public void ColdFullCycle()
    {
        _cycle.Preserve();
        _cycle.FinalizeHandover();
        _cycle.Exit();
        _cycle.Boot();
        _cycle.Restore();
    }

    /// <summary>Boot + Restore, first time in the process.</summary>
    [Benchmark]
    public void ColdBootRestore()
    {
        _cycle.Boot();
        _cycle.Restore();
    }
}
