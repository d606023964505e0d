using System.Runtime.InteropServices;
using BenchmarkDotNet.Attributes;
using MemoryPack;

namespace KState.Bench;

/// <summary>
/// What a session costs for one 64 MiB <see cref="MemfdBuffer"/> (32 folios of 2 MiB) in a
/// 256 MiB region, poisoning off, against copying or serializing the same bytes. Save = FinalizeHandover with the
/// buffer preserved in its session (mostly the XXH3 of its contents, taken in MemfdHandler.Freeze). Restore = what
/// the next generation does to get it back: Kho.Init on the region, streams, sessions, the memfd handler registered,
/// the session retrieved, the buffer retrieved (folios restored and XXH3 verified) and the session finished. Restore
/// runs right after Exit, so its hash reads every page through a fresh mapping and pays the page faults (as a real
/// next generation does); the baselines run on buffers faulted in once in the global setup. memcpy is one copy
/// between two native buffers, MemoryPack serializes the byte[] into a preallocated buffer and deserializes it into
/// the existing array.
/// </summary>
[Config(typeof(KhoBenchConfig))]
public unsafe class MemfdSessionBenchmarks
{
    private const int Bytes = 64 << 20;
    private const ulong RegionBytes = 256UL << 20;

    private MemfdCycle _cycle = null!;
    private byte* _from;
    private byte* _to;
    private byte[] _array = null!;
    private byte[] _restored = null!;
    private FixedBufferWriter _packed = null!;
    private int _packedLength;

    [GlobalSetup(Targets = new[] { nameof(Save), nameof(Restore) })]
    public void SetupSession()
    {
        _cycle = new MemfdCycle("memfd", RegionBytes, Bytes);
        // One unmeasured round first, checking the contents: the benchmark measures a working handover.
        _cycle.RunUntil(SessionStage.Retrieved);
        _cycle.VerifyContents();
        _cycle.Finish();
        _cycle.WarmUp(35);
    }

    [GlobalCleanup(Targets = new[] { nameof(Save), nameof(Restore) })]
    public void CleanupSession() => _cycle.Dispose();

    [GlobalSetup(Targets = new[] { nameof(Memcpy), nameof(MemoryPackSerialize), nameof(MemoryPackDeserialize) })]
    public void SetupBaselines()
    {
        _from = (byte*)NativeMemory.AlignedAlloc(Bytes, 4096);
        _to = (byte*)NativeMemory.AlignedAlloc(Bytes, 4096);
        new Span<byte>(_from, Bytes).Fill(0x5A);
        new Span<byte>(_to, Bytes).Clear();
        _array = new byte[Bytes];
        new Random(42).NextBytes(_array);
        _restored = new byte[Bytes];
        _packed = new FixedBufferWriter(Bytes + 64);
        MemoryPackSerializer.Serialize(_packed, _array);
        _packedLength = _packed.Written;
    }

    [GlobalCleanup(Targets = new[] { nameof(Memcpy), nameof(MemoryPackSerialize), nameof(MemoryPackDeserialize) })]
    public void CleanupBaselines()
    {
        NativeMemory.AlignedFree(_from);
        NativeMemory.AlignedFree(_to);
    }

    [IterationSetup(Target = nameof(Save))]
    public void BeforeSave() => _cycle.RunUntil(SessionStage.Preserved);

    [IterationSetup(Target = nameof(Restore))]
    public void BeforeRestore() => _cycle.RunUntil(SessionStage.HandedOver);

    [Benchmark(Baseline = true, Description = "memcpy 64 MiB")]
    public void Memcpy() => Buffer.MemoryCopy(_from, _to, Bytes, Bytes);

    [Benchmark(Description = "KState save (finalize)")]
    public void Save() => _cycle.FinalizeHandover();

    [Benchmark(Description = "KState restore (boot + retrieve + finish)")]
    public void Restore()
    {
        _cycle.Boot();
        _cycle.Retrieve();
        _cycle.Finish();
    }

    [Benchmark(Description = "MemoryPack serialize")]
    public void MemoryPackSerialize()
    {
        _packed.Reset();
        MemoryPackSerializer.Serialize(_packed, _array);
    }

    [Benchmark(Description = "MemoryPack deserialize")]
    public void MemoryPackDeserialize()
    {
        var target = _restored;
        MemoryPackSerializer.Deserialize(_packed.WrittenSpan[.._packedLength], ref target);
    }
}

/// <summary>
/// What a session costs for many small objects: <see cref="Items"/> described <see cref="Item32"/> structs (32
/// bytes, four longs, one description) in native memory, saved with Session.SaveState under one token each in one
/// session, in a 64 MiB region, poisoning off. Finalize = FinalizeHandover (one record per item plus the directory
/// and schema); restore all = RetrievedSession.Restore of every token into a second native array, the session
/// already retrieved; restore side = Kho.Init + streams + sessions + Retrieve of the session (which reads the
/// directory and finds every item's record) + restore all + Finish. Every row is for all the items; the Per item
/// column divides the mean by <see cref="Items"/>. Baselines: memcpy of the 320,000 bytes between two native
/// arrays, MemoryPack of an Item32[] of the same items into a preallocated buffer and back into the existing array.
/// </summary>
[Config(typeof(SessionItemsBenchConfig))]
public unsafe class DescribedItemsSessionBenchmarks
{
    public const int Items = 10_000;
    private const ulong RegionBytes = 64UL << 20;
    private const int Bytes = Items * 32;

    private DescribedItemsCycle _cycle = null!;
    private byte* _from;
    private byte* _to;
    private Item32[] _array = null!;
    private Item32[] _restored = null!;
    private FixedBufferWriter _packed = null!;
    private int _packedLength;

    [GlobalSetup(Targets = new[] { nameof(FinalizeHandover), nameof(RestoreAll), nameof(RestoreSide) })]
    public void SetupSession()
    {
        _cycle = new DescribedItemsCycle("items", RegionBytes, Items);
        // One unmeasured round with every item first, checking what comes back.
        _cycle.RunUntil(SessionStage.Retrieved);
        _cycle.VerifyContents();
        _cycle.Finish();
        // The JIT warm-up needs many rounds, not many items (one round of all of them takes a while).
        _cycle.Count = 100;
        _cycle.WarmUp(35);
        _cycle.Count = Items;
    }

    [GlobalCleanup(Targets = new[] { nameof(FinalizeHandover), nameof(RestoreAll), nameof(RestoreSide) })]
    public void CleanupSession() => _cycle.Dispose();

    [GlobalSetup(Targets = new[] { nameof(Memcpy), nameof(MemoryPackSerialize), nameof(MemoryPackDeserialize) })]
    public void SetupBaselines()
    {
        _array = new Item32[Items];
        for (int i = 0; i < Items; i++) _array[i] = new Item32 { A = i, B = -i, C = i * 3L, D = 7 };
        _restored = new Item32[Items];
        _from = (byte*)NativeMemory.AlignedAlloc(Bytes, 64);
        _to = (byte*)NativeMemory.AlignedAlloc(Bytes, 64);
        MemoryMarshal.AsBytes(_array.AsSpan()).CopyTo(new Span<byte>(_from, Bytes));
        new Span<byte>(_to, Bytes).Clear();
        _packed = new FixedBufferWriter(Bytes + 64);
        MemoryPackSerializer.Serialize(_packed, _array);
        _packedLength = _packed.Written;
    }

    [GlobalCleanup(Targets = new[] { nameof(Memcpy), nameof(MemoryPackSerialize), nameof(MemoryPackDeserialize) })]
    public void CleanupBaselines()
    {
        NativeMemory.AlignedFree(_from);
        NativeMemory.AlignedFree(_to);
    }

    [IterationSetup(Target = nameof(FinalizeHandover))]
    public void BeforeFinalizeHandover() => _cycle.RunUntil(SessionStage.Preserved);

    [IterationSetup(Target = nameof(RestoreAll))]
    public void BeforeRestoreAll() => _cycle.RunUntil(SessionStage.Booted);

    [IterationSetup(Target = nameof(RestoreSide))]
    public void BeforeRestoreSide() => _cycle.RunUntil(SessionStage.HandedOver);

    [Benchmark(Baseline = true, Description = "memcpy 320,000 B")]
    public void Memcpy() => Buffer.MemoryCopy(_from, _to, Bytes, Bytes);

    [Benchmark(Description = "KState finalize")]
    public void FinalizeHandover() => _cycle.FinalizeHandover();

    [Benchmark(Description = "KState restore all")]
    public void RestoreAll() => _cycle.Retrieve();

    [Benchmark(Description = "KState restore side (boot + retrieve + restore all + finish)")]
    public void RestoreSide()
    {
        _cycle.Boot();
        _cycle.Retrieve();
        _cycle.Finish();
    }

    [Benchmark(Description = "MemoryPack serialize")]
    public void MemoryPackSerialize()
    {
        _packed.Reset();
        MemoryPackSerializer.Serialize(_packed, _array);
    }

    [Benchmark(Description = "MemoryPack deserialize")]
    public void MemoryPackDeserialize()
    {
        var target = _restored;
        MemoryPackSerializer.Deserialize(_packed.WrittenSpan[.._packedLength], ref target);
    }
}
