using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using KState.Core.Records;

namespace KState.Bench.Records;

/// <summary>
/// Lookup of one record among <see cref="Instances"/> (1,000 or 100,000 records of a 32-byte payload, one state,
/// instance ids 0..N-1), per lookup. Lookups go in a fixed random order over every instance (a cursor walks a
/// shuffled permutation across invocations), so the larger stream is not helped by the prefetcher as stream order
/// would. Each TryFind includes the index lookup and the XXH3 check of the 72-byte record, and the benchmark reads a
/// payload byte. <c>IndexOnly</c> is the same lookups in a bare <c>Dictionary&lt;(ulong, ulong), long&gt;</c> (the
/// reader's index type), and <c>TouchOnly</c> reads one payload byte of each record through a precomputed pointer
/// (no index, no checksum). TouchOnly's loads are independent, so the CPU overlaps their misses: it is a throughput
/// floor for touching the records in that order, not their latency (a lookup's chain bucket, entry, record is
/// dependent and overlaps far less). <c>ByIdStreamOrder</c> looks up in stream order
/// (as a restore that walks the instances in the order they were saved would). <c>ByName</c> is
/// <c>TryFind(string, ...)</c> with the state's name ("acme-nic/rx-queue"), against <c>ById</c> with its 64-bit id.
/// Buffer = native memory; Kho = a stream restored from KHO folios after a second boot (/dev/shm mapping).
/// </summary>
[MemoryDiagnoser]
[GroupBenchmarksBy(BenchmarkLogicalGroupRule.ByParams)]
public unsafe class LookupBenchmarks
{
    private const int Lookups = 1024;
    private const int PayloadBytes = 32;
    private const ulong KhoRegionBytes = 64UL << 20;

    [Params(1_000, 100_000)]
    public int Instances;

    [Params("Buffer", "Kho")]
    public string Memory = "Buffer";

    private ulong _stateId;
    private ulong[] _order = [];
    private ulong[] _streamOrder = [];
    private nint[] _payloadOf = [];
    private int _cursor;
    private BufferSegmentMemory? _mem;
    private KhoStream? _kho;
    private RecordReader _reader = null!;
    private readonly Dictionary<(ulong, ulong), long> _bare = [];

    [GlobalSetup]
    public void Setup()
    {
        var payload = RecordBench.RandomBytes(PayloadBytes);
        void Write(RecordWriter w)
        {
            _stateId = w.Name2Id(RecordBench.StateName); // puts the name in the stream's names table
            for (int i = 0; i < Instances; i++) w.WriteRecord(_stateId, (ulong)i, 1, payload);
            w.Complete();
        }
        if (Memory == "Kho")
        {
            _kho = new KhoStream("lookup", KhoRegionBytes, Write);
            _reader = _kho.Reader;
        }
        else
        {
            _mem = new BufferSegmentMemory(3 * Instances * 80 + (8 << 20));
            var w = new RecordWriter(_mem, "bench");
            Write(w);
            _reader = RecordReader.Open(_mem, w.Info.FirstSegment, "bench");
        }
        if (_reader.Count != Instances) throw new InvalidOperationException("setup wrote the wrong number of records");
        for (int i = 0; i < Instances; i++) _bare[(_stateId, (ulong)i)] = (long)i * 80;
        _payloadOf = new nint[Instances];
        for (int i = 0; i < Instances; i++)
        {
            _reader.TryFind(_stateId, (ulong)i, out var rec);
            fixed (byte* p = rec.Payload) _payloadOf[i] = (nint)p; // native memory: does not move
        }
        _streamOrder = new ulong[Instances];
        for (int i = 0; i < Instances; i++) _streamOrder[i] = (ulong)i;
        _order = (ulong[])_streamOrder.Clone();
        new Random(7).Shuffle(_order);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _mem?.Dispose();
        _kho?.Dispose();
    }

    [Benchmark(Baseline = true, OperationsPerInvoke = Lookups)]
    public int ById()
    {
        int sum = 0, c = _cursor;
        for (int i = 0; i < Lookups; i++)
        {
            if (!_reader.TryFind(_stateId, _order[c], out var rec)) throw new InvalidOperationException("missing");
            sum += rec.Payload[0];
            if (++c == _order.Length) c = 0;
        }
        _cursor = c;
        return sum;
    }

    [Benchmark(OperationsPerInvoke = Lookups)]
    public int ByIdStreamOrder()
    {
        int sum = 0, c = _cursor;
        for (int i = 0; i < Lookups; i++)
        {
            if (!_reader.TryFind(_stateId, _streamOrder[c], out var rec)) throw new InvalidOperationException("missing");
            sum += rec.Payload[0];
            if (++c == _streamOrder.Length) c = 0;
        }
        _cursor = c;
        return sum;
    }

    [Benchmark(OperationsPerInvoke = Lookups)]
    public int ByName()
    {
        int sum = 0, c = _cursor;
        for (int i = 0; i < Lookups; i++)
        {
            if (!_reader.TryFind(RecordBench.StateName, _order[c], out var rec)) throw new InvalidOperationException("missing");
            sum += rec.Payload[0];
            if (++c == _order.Length) c = 0;
        }
        _cursor = c;
        return sum;
    }

    [Benchmark(OperationsPerInvoke = Lookups)]
    public long IndexOnly()
    {
        long sum = 0;
        int c = _cursor;
        for (int i = 0; i < Lookups; i++)
        {
            if (!_bare.TryGetValue((_stateId, _order[c]), out long loc)) throw new InvalidOperationException("missing");
            sum += loc;
            if (++c == _order.Length) c = 0;
        }
        _cursor = c;
        return sum;
    }

    [Benchmark(OperationsPerInvoke = Lookups)]
    public int TouchOnly()
    {
        int sum = 0, c = _cursor;
        for (int i = 0; i < Lookups; i++)
        {
            sum += *(byte*)_payloadOf[(int)_order[c]];
            if (++c == _order.Length) c = 0;
        }
        _cursor = c;
        return sum;
    }
}
