using BenchmarkDotNet.Attributes;
using KState.Core.Records;

namespace KState.Bench.Records;

/// <summary>
/// Cost of building the index when a stream is opened (<see cref="RecordReader.Open"/>: walk the segment chain,
/// check every segment header and record header, index every record, verify the names table and end marker), for
/// streams of <see cref="Records"/> records with a 32-byte payload. The image is in native memory that can be
/// attached again on every invocation (<see cref="ReattachableImage"/>); on KHO, attaching is one folio restore
/// per segment (about ten segments for 100,000 records), which this leaves out.
/// Comparisons: <c>DictionaryInsert</c> inserts the same keys into an empty <c>Dictionary&lt;(ulong, ulong), long&gt;</c>
/// (the reader's index type), the floor for any index that ends up in such a dictionary, including one loaded from
/// a saved index; <c>DictionaryInsertPresized</c> does so into one created with the final capacity;
/// <c>WriteStream</c> writes and completes the whole stream into a reused, pre-faulted arena (segments zeroed as they
/// are handed out, like KHO folios): the save-side cost an index written at save time would be added to.
/// </summary>
[MemoryDiagnoser]
public class IndexBuildBenchmarks
{
    private const int PayloadBytes = 32;

    [Params(1_000, 100_000)]
    public int Records;

    private ReattachableImage? _image;
    private ArenaSegmentMemory? _arena;
    private ulong _first;
    private byte[] _payload = [];

    [GlobalSetup]
    public void Setup()
    {
        _payload = RecordBench.RandomBytes(PayloadBytes);
        using var mem = new BufferSegmentMemory(Capacity);
        var w = new RecordWriter(mem, "bench");
        ulong stateId = w.Name2Id(RecordBench.StateName);
        for (int i = 0; i < Records; i++) w.WriteRecord(stateId, (ulong)i, 1, _payload);
        _first = w.Complete().FirstSegment;
        _image = new ReattachableImage(mem.Image);
        if (RecordReader.Open(_image, _first, "bench").Count != Records) throw new InvalidOperationException("bad setup");
        _arena = new ArenaSegmentMemory(Capacity);
    }

    private int Capacity => 3 * Records * 80 + (8 << 20);

    [GlobalCleanup]
    public void Cleanup()
    {
        _image?.Dispose();
        _arena?.Dispose();
    }

    [Benchmark(Baseline = true)]
    public int Open() => RecordReader.Open(_image!, _first, "bench").Count;

    [Benchmark]
    public int DictionaryInsert()
    {
        var d = new Dictionary<(ulong, ulong), long>();
        for (int i = 0; i < Records; i++) d[(RecordBench.StateId, (ulong)i)] = (long)i * 72;
        return d.Count;
    }

    [Benchmark]
    public int DictionaryInsertPresized()
    {
        var d = new Dictionary<(ulong, ulong), long>(Records);
        for (int i = 0; i < Records; i++) d[(RecordBench.StateId, (ulong)i)] = (long)i * 72;
        return d.Count;
    }

    [Benchmark]
    public ulong WriteStream()
    {
        _arena!.Reset();
        var w = new RecordWriter(_arena, "bench");
        ulong stateId = w.Name2Id(RecordBench.StateName);
        for (int i = 0; i < Records; i++) w.WriteRecord(stateId, (ulong)i, 1, _payload);
        return w.Complete().Bytes;
    }
}
