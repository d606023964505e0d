using System.Buffers;
using System.Runtime.InteropServices;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using KState.Core.Records;
using MemoryPack;

namespace KState.Bench.Records;

// Record write and read against memcpy of the same payload bytes and MemoryPack, per payload size.
//
// BenchmarkDotNet's OperationsPerInvoke is a constant per method, and an honest per-record figure needs a different
// number of records per invocation for each payload size (enough 16 B records to make an invocation last about a
// millisecond, few enough 1 MiB records to stay within memory), so there is one method per size and payload kind,
// grouped by category ("16 B", "256 B", "4 KiB", "1 MiB") with memcpy as the baseline of each group: the Ratio
// column is "times memcpy". All figures are per record.

/// <summary>
/// Write = BeginRecord + Put(payload) + EndRecord (XXH3 checksum computed), N records per invocation into a fresh
/// stream. Every method (baselines included) has an [IterationSetup], so BenchmarkDotNet runs one invocation of N
/// records per iteration: the writer never fills memory, the per-record figure includes the amortized cost of
/// growing the stream (allocating and zeroing segments, as in production), and excludes creating the writer (once
/// per stream, not per record). Baselines write the same N payloads to N distinct places of a preallocated,
/// pre-touched destination of the same size, so no method gets a cache-hot destination the others do not.
/// One invocation per iteration also means few calls for the tiered JIT to count, so the global setup runs every
/// body for half a second first (otherwise a short job measures tier-0 code: 5-10x slower), and the warmup and
/// iteration counts below apply to every job, --job short included.
/// </summary>
[MemoryDiagnoser]
[GroupBenchmarksBy(BenchmarkLogicalGroupRule.ByCategory)]
[CategoriesColumn]
[WarmupCount(10)]
[IterationCount(15)]
public unsafe class RecordWriteBenchmarks
{
    // Records per invocation, per payload size: ~3.5 MiB, ~2.3 MiB, ~4 MiB and ~16 MiB of stream.
    private const int N16 = 65536, N256 = 8192, N4K = 1024, N1M = 16;
    private const ulong KhoRegionBytes = 96UL << 20;

    private int _size, _n;
    private byte[] _payload = [];
    private byte* _dst;
    private ArrayBufferWriter<byte> _mp = new();
    private BufferSegmentMemory? _mem;
    private RecordWriter? _writer;
    private string? _regionPath;
    private Kho? _kho;
    private RecordWriter? _khoWriter;

    private void Setup(int size, int n)
    {
        _size = size;
        _n = n;
        _payload = RecordBench.RandomBytes(size);
        nuint bytes = (nuint)((long)size * n);
        _dst = (byte*)NativeMemory.AlignedAlloc(bytes, 4096);
        new Span<byte>(_dst, (int)bytes).Fill(1); // touched: no page faults in the measurement
        _mp = new ArrayBufferWriter<byte>(n * (size + 16) + (1 << 20));
        _mp.GetSpan(_mp.FreeCapacity).Fill(1);
        _regionPath = RecordBench.RegionPath("write");
        _kho = Kho.Init(_regionPath, KhoRegionBytes, RecordBench.Options);
        PreWarm();
    }

    /// <summary>Runs every body until the tiered JIT has had time to optimize it (at least 30 rounds and 0.5 s).</summary>
    private void PreWarm()
    {
        var sw = System.Diagnostics.Stopwatch.StartNew();
        for (int round = 0; round < 30 || sw.ElapsedMilliseconds < 500; round++)
        {
            CopyAll();
            FreshDestination();
            SerializeAll();
            FreshBufferStream();
            WriteAll(_writer!);
            DropBufferStream();
            FreshKhoStream();
            WriteAll(_khoWriter!);
            ReleaseKhoStream();
        }
        FreshDestination();
        Thread.Sleep(200); // let background tier-1 compilations finish
    }

    [GlobalSetup(Targets = [nameof(Memcpy16), nameof(MemoryPack16), nameof(Record16), nameof(RecordKho16)])]
    public void Setup16() => Setup(16, N16);

    [GlobalSetup(Targets = [nameof(Memcpy256), nameof(MemoryPack256), nameof(Record256), nameof(RecordKho256)])]
    public void Setup256() => Setup(256, N256);

    [GlobalSetup(Targets = [nameof(Memcpy4K), nameof(MemoryPack4K), nameof(Record4K), nameof(RecordKho4K)])]
    public void Setup4K() => Setup(4096, N4K);

    [GlobalSetup(Targets = [nameof(Memcpy1M), nameof(MemoryPack1M), nameof(Record1M), nameof(RecordKho1M)])]
    public void Setup1M() => Setup(1 << 20, N1M);

    [GlobalCleanup]
    public void Cleanup()
    {
        if (_dst != null) NativeMemory.AlignedFree(_dst);
        _dst = null;
        _kho?.Dispose();
        if (_regionPath is not null) Kho.RemoveRegion(_regionPath);
    }

    // --- iteration setups: a fresh stream per iteration (one invocation of N records) ---

    [IterationSetup(Targets = [nameof(Memcpy16), nameof(Memcpy256), nameof(Memcpy4K), nameof(Memcpy1M),
        nameof(MemoryPack16), nameof(MemoryPack256), nameof(MemoryPack4K), nameof(MemoryPack1M)])]
    public void FreshDestination() => _mp.ResetWrittenCount();

    [IterationSetup(Targets = [nameof(Record16), nameof(Record256), nameof(Record4K), nameof(Record1M)])]
    public void FreshBufferStream()
    {
        _mem = new BufferSegmentMemory((int)StreamCapacity); // zeroed (and so faulted in) here, outside the measurement
        _writer = new RecordWriter(_mem, "bench");
    }

    [IterationCleanup(Targets = [nameof(Record16), nameof(Record256), nameof(Record4K), nameof(Record1M)])]
    public void DropBufferStream()
    {
        _writer = null;
        _mem?.Dispose();
        _mem = null;
    }

    /// <summary>Room for the records, the doubling segments and their natural alignment.</summary>
    private long StreamCapacity => 2L * _n * Format.Align8(Format.RecordHeaderBytes + _size) + (8 << 20);

    [IterationSetup(Targets = [nameof(RecordKho16), nameof(RecordKho256), nameof(RecordKho4K), nameof(RecordKho1M)])]
    public void FreshKhoStream() => _khoWriter = new RecordWriter(new KhoSegmentMemory(_kho!), "bench");

    [IterationCleanup(Targets = [nameof(RecordKho16), nameof(RecordKho256), nameof(RecordKho4K), nameof(RecordKho1M)])]
    public void ReleaseKhoStream() => _khoWriter?.Release(); // unpreserves and frees every segment

    // --- bodies ---

    private void CopyAll()
    {
        var src = _payload.AsSpan();
        for (int i = 0; i < _n; i++) src.CopyTo(new Span<byte>(_dst + (long)i * _size, _size));
    }

    private void SerializeAll()
    {
        for (int i = 0; i < _n; i++) MemoryPackSerializer.Serialize(_mp, _payload);
    }

    private void WriteAll(RecordWriter w)
    {
        var p = _payload.AsSpan();
        for (int i = 0; i < _n; i++)
        {
            w.BeginRecord(RecordBench.StateId, (ulong)i, 1);
            w.Put(p);
            w.EndRecord();
        }
    }

    // --- 16 B ---
    [Benchmark(Baseline = true, OperationsPerInvoke = N16), BenchmarkCategory("16 B")] public void Memcpy16() => CopyAll();
    [Benchmark(OperationsPerInvoke = N16), BenchmarkCategory("16 B")] public void MemoryPack16() => SerializeAll();
    [Benchmark(OperationsPerInvoke = N16), BenchmarkCategory("16 B")] public void Record16() => WriteAll(_writer!);
    [Benchmark(OperationsPerInvoke = N16), BenchmarkCategory("16 B")] public void RecordKho16() => WriteAll(_khoWriter!);

    // --- 256 B ---
    [Benchmark(Baseline = true, OperationsPerInvoke = N256), BenchmarkCategory("256 B")] public void Memcpy256() => CopyAll();
    [Benchmark(OperationsPerInvoke = N256), BenchmarkCategory("256 B")] public void MemoryPack256() => SerializeAll();
    [Benchmark(OperationsPerInvoke = N256), BenchmarkCategory("256 B")] public void Record256() => WriteAll(_writer!);
    [Benchmark(OperationsPerInvoke = N256), BenchmarkCategory("256 B")] public void RecordKho256() => WriteAll(_khoWriter!);

    // --- 4 KiB ---
    [Benchmark(Baseline = true, OperationsPerInvoke = N4K), BenchmarkCategory("4 KiB")] public void Memcpy4K() => CopyAll();
    [Benchmark(OperationsPerInvoke = N4K), BenchmarkCategory("4 KiB")] public void MemoryPack4K() => SerializeAll();
    [Benchmark(OperationsPerInvoke = N4K), BenchmarkCategory("4 KiB")] public void Record4K() => WriteAll(_writer!);
    [Benchmark(OperationsPerInvoke = N4K), BenchmarkCategory("4 KiB")] public void RecordKho4K() => WriteAll(_khoWriter!);

    // --- 1 MiB ---
    [Benchmark(Baseline = true, OperationsPerInvoke = N1M), BenchmarkCategory("1 MiB")] public void Memcpy1M() => CopyAll();
    [Benchmark(OperationsPerInvoke = N1M), BenchmarkCategory("1 MiB")] public void MemoryPack1M() => SerializeAll();
    [Benchmark(OperationsPerInvoke = N1M), BenchmarkCategory("1 MiB")] public void Record1M() => WriteAll(_writer!);
    [Benchmark(OperationsPerInvoke = N1M), BenchmarkCategory("1 MiB")] public void RecordKho1M() => WriteAll(_khoWriter!);
}

/// <summary>
/// Read = TryFind(state id, instance id) (index lookup, XXH3 check of header and payload) + copy of the payload into
/// a destination buffer, for N records in stream order. Baselines: memcpy of N payloads from N distinct places into
/// the same destination; MemoryPack deserialization of N serialized payloads into one existing array (no
/// allocation). The Kho variant reads a stream that was written into KHO folios, handed over and restored after a
/// second boot of the region (MAP_SHARED /dev/shm memory); the others read native memory.
/// </summary>
[MemoryDiagnoser]
[GroupBenchmarksBy(BenchmarkLogicalGroupRule.ByCategory)]
[CategoriesColumn]
public unsafe class RecordReadBenchmarks
{
    // Records per invocation and the data they span: ~0.2 MiB, ~1.2 MiB, ~4 MiB, 16 MiB.
    private const int N16 = 4096, N256 = 4096, N4K = 1024, N1M = 16;
    private const ulong KhoRegionBytes = 96UL << 20;

    private int _size, _n;
    private byte[] _dest = [];
    private byte[]? _mpDest;
    private byte* _src;
    private byte[] _mpBlobs = [];
    private int[] _mpOffsets = [];
    private BufferSegmentMemory? _mem;
    private RecordReader? _reader;
    private KhoStream? _kho;

    private void Setup(int size, int n)
    {
        _size = size;
        _n = n;
        var payload = RecordBench.RandomBytes(size);
        _dest = new byte[size];
        _mpDest = new byte[size];

        _src = (byte*)NativeMemory.AlignedAlloc((nuint)((long)size * n), 4096);
        for (int i = 0; i < n; i++) payload.CopyTo(new Span<byte>(_src + (long)i * size, size));

        var bw = new ArrayBufferWriter<byte>();
        _mpOffsets = new int[n + 1];
        for (int i = 0; i < n; i++)
        {
            _mpOffsets[i] = bw.WrittenCount;
            MemoryPackSerializer.Serialize(bw, payload);
        }
        _mpOffsets[n] = bw.WrittenCount;
        _mpBlobs = bw.WrittenSpan.ToArray();

        void Write(RecordWriter w)
        {
            for (int i = 0; i < n; i++) w.WriteRecord(RecordBench.StateId, (ulong)i, 1, payload);
            w.Complete();
        }
        _mem = new BufferSegmentMemory((int)(2L * n * Format.Align8(Format.RecordHeaderBytes + size) + (8 << 20)));
        var writer = new RecordWriter(_mem, "bench");
        Write(writer);
        _reader = RecordReader.Open(_mem, writer.Info.FirstSegment, "bench");
        _kho = new KhoStream("read", KhoRegionBytes, Write);
        if (_reader.Count != n || _kho.Reader.Count != n) throw new InvalidOperationException("setup wrote the wrong number of records");
    }

    [GlobalSetup(Targets = [nameof(Memcpy16), nameof(MemoryPack16), nameof(Record16), nameof(RecordKho16)])]
    public void Setup16() => Setup(16, N16);

    [GlobalSetup(Targets = [nameof(Memcpy256), nameof(MemoryPack256), nameof(Record256), nameof(RecordKho256)])]
    public void Setup256() => Setup(256, N256);

    [GlobalSetup(Targets = [nameof(Memcpy4K), nameof(MemoryPack4K), nameof(Record4K), nameof(RecordKho4K)])]
    public void Setup4K() => Setup(4096, N4K);

    [GlobalSetup(Targets = [nameof(Memcpy1M), nameof(MemoryPack1M), nameof(Record1M), nameof(RecordKho1M)])]
    public void Setup1M() => Setup(1 << 20, N1M);

    [GlobalCleanup]
    public void Cleanup()
    {
        if (_src != null) NativeMemory.AlignedFree(_src);
        _src = null;
        _mem?.Dispose();
        _kho?.Dispose();
    }

    private int CopyAll()
    {
        var dst = _dest.AsSpan();
        for (int i = 0; i < _n; i++) new ReadOnlySpan<byte>(_src + (long)i * _size, _size).CopyTo(dst);
        return dst[0];
    }

    private int DeserializeAll()
    {
        for (int i = 0; i < _n; i++) MemoryPackSerializer.Deserialize(_mpBlobs.AsSpan(_mpOffsets[i], _mpOffsets[i + 1] - _mpOffsets[i]), ref _mpDest);
        return _mpDest![0];
    }

    private int ReadAll(RecordReader r)
    {
        var dst = _dest.AsSpan();
        for (int i = 0; i < _n; i++)
        {
            if (!r.TryFind(RecordBench.StateId, (ulong)i, out var rec)) throw new InvalidOperationException("record missing");
            rec.Payload.CopyTo(dst);
        }
        return dst[0];
    }

    // --- 16 B ---
    [Benchmark(Baseline = true, OperationsPerInvoke = N16), BenchmarkCategory("16 B")] public int Memcpy16() => CopyAll();
    [Benchmark(OperationsPerInvoke = N16), BenchmarkCategory("16 B")] public int MemoryPack16() => DeserializeAll();
    [Benchmark(OperationsPerInvoke = N16), BenchmarkCategory("16 B")] public int Record16() => ReadAll(_reader!);
    [Benchmark(OperationsPerInvoke = N16), BenchmarkCategory("16 B")] public int RecordKho16() => ReadAll(_kho!.Reader);

    // --- 256 B ---
    [Benchmark(Baseline = true, OperationsPerInvoke = N256), BenchmarkCategory("256 B")] public int Memcpy256() => CopyAll();
    [Benchmark(OperationsPerInvoke = N256), BenchmarkCategory("256 B")] public int MemoryPack256() => DeserializeAll();
    [Benchmark(OperationsPerInvoke = N256), BenchmarkCategory("256 B")] public int Record256() => ReadAll(_reader!);
    [Benchmark(OperationsPerInvoke = N256), BenchmarkCategory("256 B")] public int RecordKho256() => ReadAll(_kho!.Reader);

    // --- 4 KiB ---
    [Benchmark(Baseline = true, OperationsPerInvoke = N4K), BenchmarkCategory("4 KiB")] public int Memcpy4K() => CopyAll();
    [Benchmark(OperationsPerInvoke = N4K), BenchmarkCategory("4 KiB")] public int MemoryPack4K() => DeserializeAll();
    [Benchmark(OperationsPerInvoke = N4K), BenchmarkCategory("4 KiB")] public int Record4K() => ReadAll(_reader!);
    [Benchmark(OperationsPerInvoke = N4K), BenchmarkCategory("4 KiB")] public int RecordKho4K() => ReadAll(_kho!.Reader);

    // --- 1 MiB ---
    [Benchmark(Baseline = true, OperationsPerInvoke = N1M), BenchmarkCategory("1 MiB")] public int Memcpy1M() => CopyAll();
    [Benchmark(OperationsPerInvoke = N1M), BenchmarkCategory("1 MiB")] public int MemoryPack1M() => DeserializeAll();
    [Benchmark(OperationsPerInvoke = N1M), BenchmarkCategory("1 MiB")] public int Record1M() => ReadAll(_reader!);
    [Benchmark(OperationsPerInvoke = N1M), BenchmarkCategory("1 MiB")] public int RecordKho1M() => ReadAll(_kho!.Reader);
}
