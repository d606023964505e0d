using System.IO.Hashing;
using BenchmarkDotNet.Attributes;

namespace KState.Bench.Records;

/// <summary>
/// Reading an incoming record through the public record API (<see cref="KStateRegistry.ReadRecord"/>), per payload
/// size: in place (a span into the region, its checksum checked on the first read only) against what a read cost
/// before (a hash of the payload on every read, then a copy out) and memcpy of the same bytes. The record is read
/// once in setup, so the figures are for reads after the first; the first read costs one hash (the Xxh3 row).
/// </summary>
[MemoryDiagnoser]
public class InPlaceReadBenchmarks
{
    [Params(256, 4096, 1 << 20)]
    public int Bytes;

    private string _path = "";
    private Kho? _kho;
    private KStateStreams? _streams;
    private KStateRegistry? _registry;
    private byte[] _src = [], _dst = [];

    [GlobalSetup]
    public void Setup()
    {
        _path = RecordBench.RegionPath("inplace");
        _src = RecordBench.RandomBytes(Bytes);
        _dst = new byte[Bytes];
        using (var kho = Kho.Init(_path, 32 << 20, RecordBench.Options))
        using (var streams = new KStateStreams(kho))
        {
            new KStateRegistry(streams).SaveRecord(1, 1, 1, w => w.Put(_src));
            kho.FinalizeHandover();
        }
        _kho = Kho.Init(_path, 0, RecordBench.Options);
        _streams = new KStateStreams(_kho);
        _registry = new KStateRegistry(_streams);
        if (!_registry.ReadRecord(1, 1).Payload.SequenceEqual(_src)) throw new InvalidOperationException("record differs");
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _streams?.Dispose();
        _kho?.Dispose();
        Kho.RemoveRegion(_path);
    }

    [Benchmark(Baseline = true)]
    public void Memcpy() => _src.CopyTo(_dst.AsSpan());

    [Benchmark]
    public int ReadInPlace() => _registry!.ReadRecord(1, 1).Payload.Length;

    [Benchmark]
    public void ReadInPlaceAndCopy() => _registry!.ReadRecord(1, 1).Payload.CopyTo(_dst);

    [Benchmark]
    public void HashAndCopy_before()
    {
        var payload = _registry!.ReadRecord(1, 1).Payload;
        if (XxHash3.HashToUInt64(payload) == 0) throw new InvalidOperationException();
        payload.CopyTo(_dst);
    }

    [Benchmark]
    public ulong Xxh3() => XxHash3.HashToUInt64(_src);
}
