using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Diagnosers;
using BenchmarkDotNet.Jobs;
using KState.Machine.Memory;
using KState.Machine.Region;

namespace KState.Bench;

/// <summary>
/// Diagnostic for <see cref="KhoBootScalingBenchmarks"/>: the one step of boot whose work grows with the region size
/// rather than with what was preserved. Boot builds the buddy allocator's free lists from the complement of the
/// preserved-memory map, carving all of the free memory into max-order (4 MiB) blocks and writing each block's state
/// byte into the allocator's page map, which allocates a 4 KiB chunk per 16 MiB of region. This measures exactly
/// that (a new allocator plus AddFreeRange over the data area of an empty region), through the internals
/// KState.Kho exposes to this assembly.
/// </summary>
[Config(typeof(KhoBootBreakdownConfig))]
public class KhoBootBreakdownBenchmarks
{
    private Layout _layout = null!;

    /// <summary>Region size in MiB.</summary>
    [Params(64, 1024, 4096)]
    public int RegionMiB { get; set; }

    [GlobalSetup]
    public void GlobalSetup()
    {
        ulong size = (ulong)RegionMiB << 20;
        _layout = Layout.Compute(size, Layout.DefaultScratchSize(size));
    }

    /// <summary>new BuddyAllocator(total pages) + AddFreeRange(data start, end): boot's free-list build with nothing preserved.</summary>
    [Benchmark]
    public ulong FreeListsOfEmptyRegion()
    {
        var allocator = new BuddyAllocator(_layout.TotalPages);
        allocator.AddFreeRange(_layout.DataStartPage, _layout.TotalPages);
        return allocator.FreePages;
    }
}

/// <summary>A short throughput job (BenchmarkDotNet picks the invocation count) with the memory diagnoser.</summary>
public class KhoBootBreakdownConfig : ManualConfig
{
    public KhoBootBreakdownConfig()
    {
        AddJob(Job.ShortRun.WithId("ShortRun"));
        AddDiagnoser(MemoryDiagnoser.Default);
        AddColumn(StatisticColumn.Median);
    }
}
