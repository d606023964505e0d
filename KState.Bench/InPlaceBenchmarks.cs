using System.Runtime.InteropServices;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Diagnosers;
using BenchmarkDotNet.Jobs;

namespace KState.Bench;

/// <summary>
/// The shape of BenchmarkDotNet's short job (one launch, 3 warm-up and 3 measured iterations) with one invocation per
/// iteration: a restore consumes the handover (KHO claims the memory once), so each iteration's setup makes a new one.
/// </summary>
public class InPlaceBenchConfig : ManualConfig
{
    public InPlaceBenchConfig()
    {
        AddJob(Job.Default.WithLaunchCount(1).WithWarmupCount(3).WithIterationCount(3).WithInvocationCount(1).WithUnrollFactor(1).WithId("ShortOneShot"));
        AddDiagnoser(MemoryDiagnoser.Default);
        AddColumn(StatisticColumn.Median, StatisticColumn.Max);
    }
}

[StructLayout(LayoutKind.Sequential)]
public struct InPlaceTable
{
    public ulong N;
    public Ptr<Item32> Items;
}

/// <summary>One generation saved and finalized, the next booted: what a measured restore consumes.</summary>
internal sealed unsafe class InPlaceHandover : IDisposable
{
    private readonly string _path = $"/dev/shm/kstate-bench-inplace-{Environment.ProcessId}";
    private Kho? _kho;
    private KStateStreams? _streams;

    public KStateRegistry Registry { get; private set; } = null!;

    public Kho Kho => _kho!;

    /// <summary>Generation 1 fills <paramref name="n"/> items (in a vmalloc area, or native memory for the copy path)
    /// and saves them with <paramref name="d"/>; generation 2 boots and waits for the restore.</summary>
    public void Prepare(KStateDescription d, long n, bool inPlace)
    {
        Dispose();
        ulong bytes = (ulong)n * 32;
        ulong regionSize = (bytes * (inPlace ? 1UL : 2UL) + (64 << 20) + 4095) & ~4095UL;
        using (var kho = Kho.Init(_path, regionSize))
        using (var streams = new KStateStreams(kho))
        {
            Item32* items = inPlace ? (Item32*)kho.Vmalloc(bytes).Address : (Item32*)NativeMemory.Alloc((nuint)bytes);
            for (long i = 0; i < n; i++) items[i] = new Item32 { A = i, B = -i, C = i * 3, D = 7 };
            var t = new InPlaceTable { N = (ulong)n, Items = new Ptr<Item32>(items) };
            new KStateRegistry(streams).Save(d, &t, 0);
            kho.FinalizeHandover();
            if (!inPlace) NativeMemory.Free(items);
        }
        _kho = Kho.Init(_path, 0);
        _streams = new KStateStreams(_kho);
        Registry = new KStateRegistry(_streams);
        _ = Registry.IncomingSchema; // the stream opened, as a generation's first restore finds it
    }

    public void Dispose()
    {
        _streams?.Dispose();
        _kho?.Dispose();
        _streams = null;
        _kho = null;
        Kho.RemoveRegion(_path);
    }
}

/// <summary>
/// Restore of a described array of 1, 32 and 256 MiB (32-byte structs): in place in a vmalloc area, trusted and
/// checksummed, against the copying path (a counted pointer field: the bytes travel through the stream) and memcpy.
/// </summary>
[Config(typeof(InPlaceBenchConfig))]
public unsafe class InPlaceBenchmarks
{
    [Params(1, 32, 256)]
    public int MiB;

    private long N => (long)MiB << 20 >> 5;

    private static KStateDescription InPlace(InPlaceIntegrity integrity) => KStateDescriptionBuilder<InPlaceTable>.Create("bench/inplace-table", 1, 1)
        .PreservedArray((ref InPlaceTable t) => ref t.Items, Element, (ref InPlaceTable t) => ref t.N, integrity)
        .Build();

    internal static readonly KStateDescription Element = KStateDescriptionBuilder<Item32>.Create("bench/item32", 1, 1)
        .Base((ref Item32 i) => ref i.A).Base((ref Item32 i) => ref i.B).Base((ref Item32 i) => ref i.C).Base((ref Item32 i) => ref i.D)
        .Build();

    private static readonly KStateDescription Trusted = InPlace(InPlaceIntegrity.Trusted);
    private static readonly KStateDescription Checksummed = InPlace(InPlaceIntegrity.Checksum);

    private static KStateDescription Copying(long n) => KStateDescriptionBuilder<InPlaceTable>.Create("bench/inplace-table", 1, 1)
        .Base((ref InPlaceTable t) => ref t.N)
        .Pointer((ref InPlaceTable t) => ref t.Items, count: (int)n, countMember: "N")
        .Build();

    private readonly InPlaceHandover _handover = new();
    private KStateDescription _copying = null!;
    private byte* _from, _to, _target;

    [GlobalSetup]
    public void Setup()
    {
        _copying = Copying(N);
        _from = (byte*)NativeMemory.AlignedAlloc((nuint)MiB << 20, 64);
        _to = (byte*)NativeMemory.AlignedAlloc((nuint)MiB << 20, 64);
        _target = (byte*)NativeMemory.AlignedAlloc((nuint)MiB << 20, 64);
        new Span<byte>(_from, MiB << 20).Fill(1);
        new Span<byte>(_to, MiB << 20).Clear();
        new Span<byte>(_target, MiB << 20).Clear();
    }

    [IterationSetup(Target = nameof(InPlaceTrusted))]
    public void SetupTrusted() => _handover.Prepare(Trusted, N, inPlace: true);

    [IterationSetup(Target = nameof(InPlaceChecksummed))]
    public void SetupChecksummed() => _handover.Prepare(Checksummed, N, inPlace: true);

    [IterationSetup(Target = nameof(CopyPath))]
    public void SetupCopy() => _handover.Prepare(_copying, N, inPlace: false);

    [Benchmark(Baseline = true, Description = "memcpy")]
    public void Memcpy() => Buffer.MemoryCopy(_from, _to, (long)MiB << 20, (long)MiB << 20);

    [Benchmark(Description = "in place, trusted")]
    public ulong InPlaceTrusted() => Restore(Trusted, null);

    [Benchmark(Description = "in place, checksummed")]
    public ulong InPlaceChecksummed() => Restore(Checksummed, null);

    [Benchmark(Description = "copy path (KS_POINTER)")]
    public ulong CopyPath() => Restore(_copying, (Item32*)_target);

    private ulong Restore(KStateDescription d, Item32* into)
    {
        var t = new InPlaceTable { N = (ulong)N, Items = new Ptr<Item32>(into) };
        _handover.Registry.Restore(d, &t, 0);
        return t.N;
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _handover.Dispose();
        NativeMemory.AlignedFree(_from);
        NativeMemory.AlignedFree(_to);
        NativeMemory.AlignedFree(_target);
    }
}

/// <summary>1,000,000 structs of 32 bytes restored in place (trusted and checksummed) against the copy path.</summary>
[Config(typeof(InPlaceBenchConfig))]
public unsafe class MillionStructsInPlaceBenchmarks
{
    private const int N = 1_000_000;

    private static readonly KStateDescription Trusted = KStateDescriptionBuilder<InPlaceTable>.Create("bench/million-inplace", 1, 1)
        .PreservedArray((ref InPlaceTable t) => ref t.Items, InPlaceBenchmarks.Element, (ref InPlaceTable t) => ref t.N, InPlaceIntegrity.Trusted)
        .Build();

    private static readonly KStateDescription Checksummed = KStateDescriptionBuilder<InPlaceTable>.Create("bench/million-inplace", 1, 1)
        .PreservedArray((ref InPlaceTable t) => ref t.Items, InPlaceBenchmarks.Element, (ref InPlaceTable t) => ref t.N, InPlaceIntegrity.Checksum)
        .Build();

    private static readonly KStateDescription Copying = KStateDescriptionBuilder<InPlaceTable>.Create("bench/million-inplace", 1, 1)
        .Base((ref InPlaceTable t) => ref t.N)
        .Pointer((ref InPlaceTable t) => ref t.Items, count: N, countMember: "N")
        .Build();

    private readonly InPlaceHandover _handover = new();
    private Item32* _target;

    [GlobalSetup]
    public void Setup()
    {
        _target = (Item32*)NativeMemory.AlignedAlloc(N * 32, 64);
        new Span<byte>(_target, N * 32).Clear();
    }

    [IterationSetup(Target = nameof(CopyPath))]
    public void SetupCopy() => _handover.Prepare(Copying, N, inPlace: false);

    [IterationSetup(Target = nameof(InPlaceTrusted))]
    public void SetupTrusted() => _handover.Prepare(Trusted, N, inPlace: true);

    [IterationSetup(Target = nameof(InPlaceChecksummed))]
    public void SetupChecksummed() => _handover.Prepare(Checksummed, N, inPlace: true);

    [Benchmark(Baseline = true, Description = "copy path (KS_POINTER)")]
    public ulong CopyPath() => Restore(Copying, _target);

    [Benchmark(Description = "in place, trusted")]
    public ulong InPlaceTrusted() => Restore(Trusted, null);

    [Benchmark(Description = "in place, checksummed")]
    public ulong InPlaceChecksummed() => Restore(Checksummed, null);

    private ulong Restore(KStateDescription d, Item32* into)
    {
        var t = new InPlaceTable { N = N, Items = new Ptr<Item32>(into) };
        _handover.Registry.Restore(d, &t, 0);
        return t.N;
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _handover.Dispose();
        NativeMemory.AlignedFree(_target);
    }
}
