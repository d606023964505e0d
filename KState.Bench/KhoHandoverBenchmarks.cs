using BenchmarkDotNet.Attributes;

namespace KState.Bench;

/// <summary>
/// The handover of 1 GiB of folios, phase by phase: 262,144 order-0 folios or 512 order-9 folios in a 1.25 GiB
/// region, poisoning off. Allocating and filling the folios happens once, in the global setup; every iteration setup
/// drives the cycle (unmeasured) to the stage just before the measured phase. Boot runs in the same process after
/// Exit (Dispose), so process start is excluded by construction.
/// </summary>
[Config(typeof(KhoBenchConfig))]
public class KhoHandoverBenchmarks
{
    private const ulong DataBytes = 1UL << 30;
    private const ulong RegionBytes = 1280UL << 20;
    private HandoverCycle _cycle = null!;

    /// <summary>Folio order: 0 (262,144 folios of 4 KiB) or 9 (512 folios of 2 MiB).</summary>
    [Params(0, 9)]
    public int Order { get; set; }

    public int Folios => (int)(DataBytes >> (12 + Order));

    [GlobalSetup]
    public void GlobalSetup()
    {
        _cycle = HandoverCycle.Create($"o{Order}", RegionBytes, Order, Folios, fill: true);
        // One unmeasured round first, checking that the bytes survive it: the benchmark measures a working handover.
        _cycle.RunUntil(CycleStage.Booted);
        _cycle.Restore();
        _cycle.VerifyContents();
        // Steady state: optimized code for every phase. Ends in a fresh mapping (VerifyContents touched every page).
        _cycle.WarmUp(Order == 0 ? 35 : 100);
    }

    [GlobalCleanup]
    public void GlobalCleanup() => _cycle.Dispose();

    [IterationSetup(Target = nameof(Preserve))]
    public void BeforePreserve() => _cycle.RunUntil(CycleStage.Allocated);

    [IterationSetup(Target = nameof(FinalizeHandover))]
    public void BeforeFinalize() => _cycle.RunUntil(CycleStage.Preserved);

    [IterationSetup(Target = nameof(Exit))]
    public void BeforeExit() => _cycle.RunUntil(CycleStage.Finalized);

    [IterationSetup(Target = nameof(Boot))]
    public void BeforeBoot() => _cycle.RunUntil(CycleStage.HandedOver);

    [IterationSetup(Target = nameof(Restore))]
    public void BeforeRestore() => _cycle.RunUntil(CycleStage.Booted);

    [IterationSetup(Target = nameof(FullCycle))]
    public void BeforeFullCycle() => _cycle.RunUntil(CycleStage.Allocated);

    [IterationSetup(Target = nameof(FirstTouch))]
    public void BeforeFirstTouch()
    {
        // A fresh generation with every folio restored and no data page touched yet through its mapping.
        _cycle.RunUntil(CycleStage.Booted);
        _cycle.Restore();
    }

    [IterationSetup(Target = nameof(ExitAfterTouch))]
    public void BeforeExitAfterTouch()
    {
        // A generation that read every page of what it restored, then handed it over again.
        _cycle.RunUntil(CycleStage.Booted);
        _cycle.Restore();
        _cycle.TouchAll();
        _cycle.Preserve();
        _cycle.FinalizeHandover();
    }

    /// <summary>PreserveFolio for every folio.</summary>
    [Benchmark]
    public void Preserve() => _cycle.Preserve();

    /// <summary>FinalizeHandover (root tree, map checksum, commit).</summary>
    [Benchmark]
    public void FinalizeHandover() => _cycle.FinalizeHandover();

    /// <summary>Dispose after finalize: unmap and unlock (the "kexec"). Not one of the four target phases; shown for completeness.</summary>
    [Benchmark]
    public void Exit() => _cycle.Exit();

    /// <summary>Kho.Init on the finalized region: map, validate, ingest, consume.</summary>
    [Benchmark]
    public void Boot() => _cycle.Boot();

    /// <summary>TryRestoreFolio for every folio.</summary>
    [Benchmark]
    public void Restore() => _cycle.Restore();

    /// <summary>Preserve + Finalize + Exit + Boot + Restore in one measured call.</summary>
    [Benchmark]
    public void FullCycle()
    {
        _cycle.Preserve();
        _cycle.FinalizeHandover();
        _cycle.Exit();
        _cycle.Boot();
        _cycle.Restore();
    }

    /// <summary>Context: Exit (Dispose) of a generation whose mapping has every data page faulted in, as a generation
    /// that used its restored memory has. Unmapping then tears down 262,144 page-table entries.</summary>
    [Benchmark]
    public void ExitAfterTouch() => _cycle.Exit();

    /// <summary>Context, not a KHO phase: reading one byte per 4 KiB page of the restored data through the new
    /// mapping, i.e. the page faults the next generation pays when it first uses what it restored.</summary>
    [Benchmark]
    public long FirstTouch() => _cycle.TouchAll();
}
