using System.Runtime.InteropServices;
using KState.Core.Records;

namespace KState.Bench.Records;

/// <summary>Helpers shared by the record-layer benchmarks.</summary>
internal static class RecordBench
{
    /// <summary>State id of every benchmark record.</summary>
    public const ulong StateId = 0x5EED_5EED_0000_0001;

    /// <summary>State name used by the by-name lookups.</summary>
    public const string StateName = "acme-nic/rx-queue";

    /// <summary>Deterministic pseudo-random bytes.</summary>
    public static byte[] RandomBytes(int n, int seed = 42)
    {
        var b = new byte[n];
        new Random(seed).NextBytes(b);
        return b;
    }

    /// <summary>A unique region path under /dev/shm; remove it with <see cref="Kho.RemoveRegion(string)"/>.</summary>
    public static string RegionPath(string tag) => $"/dev/shm/kstate-rbench-{tag}-{Environment.ProcessId}-{Guid.NewGuid():N}";

    /// <summary>Boot options for benchmarks: no poisoning (it would write every freed byte).</summary>
    public static KhoOptions Options => new() { Poison = false };
}

/// <summary>
/// A stream image in native memory whose segments can be attached any number of times, so that
/// <see cref="RecordReader.Open"/> can be measured repeatedly on one image (<see cref="BufferSegmentMemory"/> attaches
/// each segment once, like KHO). Same phys numbering as <see cref="BufferSegmentMemory"/>. Read-only.
/// </summary>
internal sealed unsafe class ReattachableImage : ISegmentMemory, IDisposable
{
    private byte* _buffer;
    private readonly int _length;

    public ReattachableImage(ReadOnlySpan<byte> image)
    {
        _length = image.Length;
        _buffer = (byte*)NativeMemory.AlignedAlloc((nuint)Math.Max(_length, 1), 4096);
        image.CopyTo(new Span<byte>(_buffer, _length));
    }

    public Span<byte> Allocate(int order, out ulong phys) => throw new NotSupportedException("read-only image");

    public void Free(ulong phys, int order) { }

    public bool TryAttach(ulong phys, out ReadOnlySpan<byte> segment)
    {
        segment = default;
        if (phys < BufferSegmentMemory.PhysBase || phys - BufferSegmentMemory.PhysBase >= (ulong)_length) return false;
        int off = (int)(phys - BufferSegmentMemory.PhysBase);
        segment = new ReadOnlySpan<byte>(_buffer + off, _length - off);
        return true;
    }

    public void Dispose()
    {
        if (_buffer != null) NativeMemory.AlignedFree(_buffer);
        _buffer = null;
    }
}

/// <summary>
/// Segments carved from one preallocated native buffer that can be reset, so that a whole stream can be written
/// again and again without allocating and faulting in fresh memory each time. With <c>zeroOnAllocate</c> every
/// segment is zeroed when it is handed out, like <see cref="BufferSegmentMemory"/> and KHO folios; without it, the
/// caller zeroes the buffer ahead of time (<see cref="Reset"/> with <c>clear</c>) and allocation is free, which
/// measures what zeroing at allocation costs the writer. Segments attach any number of times (Phys numbering as
/// <see cref="BufferSegmentMemory"/>).
/// </summary>
internal sealed unsafe class ArenaSegmentMemory : ISegmentMemory, IDisposable
{
    private byte* _buffer;
    private readonly long _capacity;
    private readonly bool _zeroOnAllocate;
    private long _next;

    public ArenaSegmentMemory(long capacity, bool zeroOnAllocate = true)
    {
        _capacity = capacity;
        _zeroOnAllocate = zeroOnAllocate;
        _buffer = (byte*)NativeMemory.AlignedAlloc((nuint)capacity, 1 << 22);
        NativeMemory.Clear(_buffer, (nuint)capacity); // faulted in once, here
    }

    /// <summary>Forgets every segment: the next stream starts at the beginning of the buffer.</summary>
    public void Reset(bool clear = false)
    {
        _next = 0;
        if (clear) NativeMemory.Clear(_buffer, (nuint)_capacity);
    }

    public Span<byte> Allocate(int order, out ulong phys)
    {
        long size = (long)Kho.PageSize << order;
        long at = (_next + size - 1) & ~(size - 1);
        if (at > _capacity - size) throw new KStateOutOfMemoryException($"arena of {_capacity} bytes is full");
        _next = at + size;
        if (_zeroOnAllocate) NativeMemory.Clear(_buffer + at, (nuint)size);
        phys = BufferSegmentMemory.PhysBase + (ulong)at;
        return new Span<byte>(_buffer + at, (int)size);
    }

    public void Free(ulong phys, int order) { }

    public bool TryAttach(ulong phys, out ReadOnlySpan<byte> segment)
    {
        segment = default;
        if (phys < BufferSegmentMemory.PhysBase || phys - BufferSegmentMemory.PhysBase >= (ulong)_next) return false;
        long off = (long)(phys - BufferSegmentMemory.PhysBase);
        segment = new ReadOnlySpan<byte>(_buffer + off, (int)Math.Min(int.MaxValue, _next - off));
        return true;
    }

    public void Dispose()
    {
        if (_buffer != null) NativeMemory.AlignedFree(_buffer);
        _buffer = null;
    }
}

/// <summary>
/// A stream written into KHO memory, handed over and read back in the "next generation" (same process, region
/// booted again), so that the reader's segments are restored KHO folios in a MAP_SHARED /dev/shm mapping.
/// </summary>
internal sealed class KhoStream : IDisposable
{
    private readonly string _path;
    private readonly Kho _kho;
    private readonly KStateStreams _streams;

    /// <summary>Writes a stream named "bench" with <paramref name="write"/>, finalizes, boots again and opens it.</summary>
    public KhoStream(string tag, ulong regionBytes, Action<RecordWriter> write)
    {
        _path = RecordBench.RegionPath(tag);
        try
        {
            using (var first = Kho.Init(_path, regionBytes, RecordBench.Options))
            using (var outgoing = new KStateStreams(first))
            {
                write(outgoing.Set.Create("bench"));
                first.FinalizeHandover();
            }
            _kho = Kho.Init(_path, 0, RecordBench.Options);
            if (!_kho.IsKhoBoot) throw new InvalidOperationException("second boot is not a KHO boot: " + _kho.BootReport);
            _streams = new KStateStreams(_kho);
            Reader = _streams.Set.Open("bench");
        }
        catch
        {
            _kho?.Dispose();
            Kho.RemoveRegion(_path);
            throw;
        }
    }

    public RecordReader Reader { get; }

    public void Dispose()
    {
        _streams.Dispose();
        _kho.Dispose();
        Kho.RemoveRegion(_path);
    }
}
