using System.Buffers.Binary;
using System.IO.Hashing;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using KState.Core.Ids;
using KState.Core.Records;
using KState.Machine.Memory;

namespace KState;

/// <summary>What a completed stream looks like: where it starts and how big it is.</summary>
/// <param name="Name">The substream's name.</param>
/// <param name="FirstSegment">Phys address of the first segment.</param>
/// <param name="Segments">Number of segments in the chain.</param>
/// <param name="Records">Number of top-level records, the end marker included.</param>
/// <param name="Bytes">Bytes of records, headers included.</param>
internal readonly record struct StreamInfo(string Name, ulong FirstSegment, uint Segments, uint Records, ulong Bytes);

/// <summary>
/// Writes one stream of records into a chain of segments (docs/FORMAT.md): <see cref="BeginRecord"/>, puts,
/// <see cref="EndRecord"/>; nested records with <see cref="BeginNested"/>/<see cref="EndNested"/>; then
/// <see cref="Complete"/> writes the names table and the end marker. A record never straddles two segments: when a
/// put does not fit, the open record moves to a new, larger segment. Not thread-safe; no allocation per record.
/// Every operation checks that the memory is still there (after <see cref="Kho.Dispose"/> it throws
/// <see cref="ObjectDisposedException"/>); those that touch more than a few KiB also hold a lease on it, so a Dispose
/// on another thread cannot unmap the segments under them.
/// </summary>
public sealed unsafe partial class RecordWriter
{
    private readonly ISegmentMemory _memory;
    private readonly RegionMemory? _owner; // the memory's lifetime; null for memory that outlives the writer
    /// <summary>Operations touching at least this many bytes take a lease; smaller ones only check (two atomics
    /// would cost more than the operation).</summary>
    internal const int LeaseThreshold = 4096;
    private readonly List<(ulong Phys, int Order)> _segments = [];
    private readonly List<nint> _segmentPtrs = [];
    private (int Segments, int Pos, uint Records, ulong Bytes) _beforeComplete;
    private readonly int[] _open = new int[Format.MaxNesting + 1]; // offsets of open record headers, outermost first
    private readonly NameTable _names = new();
    private byte* _seg;     // current segment
    private int _segSize;
    private int _pos;       // next free byte in the current segment
    private int _depth;     // open records (0 = none)
    private int _tail = EndMarkerBytes; // bytes kept free in every segment so Complete can always write the end marker
    private const int EndMarkerBytes = Format.RecordHeaderBytes + 16;
    private uint _records;
    private ulong _bytes;
    private bool _complete;

    /// <summary>Starts a stream named <paramref name="name"/> in <paramref name="memory"/>.</summary>
    /// <exception cref="KStateInvalidException">The name is empty or longer than 63 UTF-8 bytes.</exception>
    internal RecordWriter(ISegmentMemory memory, string name)
    {
        if (string.IsNullOrEmpty(name) || System.Text.Encoding.UTF8.GetByteCount(name) > Format.MaxNameBytes || name.Contains('\0'))
            Throw.Invalid($"stream name '{name}' must be 1 to {Format.MaxNameBytes} UTF-8 bytes without NUL");
        _memory = memory;
        _owner = memory.Owner;
        Name = name;
        StreamId = KStateId.FromName(name);
        using var lease = RegionMemory.Acquire(_owner);
        NewSegment(Format.FirstSegmentOrder);
    }

    /// <summary>Throws <see cref="ObjectDisposedException"/> when the memory was unmapped (its Kho disposed).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void CheckAlive()
    {
        if (_owner is { IsClosed: true }) RegionMemory.ThrowClosed();
    }

    /// <summary>The address of a segment the memory handed out (native memory that stays put until freed).</summary>
    private static byte* AddressOf(Span<byte> segment) => (byte*)Unsafe.AsPointer(ref MemoryMarshal.GetReference(segment));

    /// <summary>The stream's name.</summary>
    internal string Name { get; }

    /// <summary>The 64-bit id of the name, written into every segment header.</summary>
    internal ulong StreamId { get; }

    /// <summary>Segments written so far, in chain order.</summary>
    internal IReadOnlyList<(ulong Phys, int Order)> Segments => _segments;

    /// <summary>Records open now: 0 outside a record, 1 in a top-level record, more inside nested ones.</summary>
    internal int Depth => _depth;

    /// <summary>True after <see cref="Complete"/>.</summary>
    internal bool IsComplete => _complete;

    /// <summary>Opens a top-level record.</summary>
    /// <exception cref="KStateInvalidException">A record is already open, or the stream is complete.</exception>
    internal void BeginRecord(ulong stateId, ulong instanceId, uint version, RecordType type = RecordType.Main)
    {
        if (_depth != 0) ThrowUnbalanced("BeginRecord inside an open record (use BeginNested, or EndRecord first)");
        if (_complete) ThrowUnbalanced("the stream is complete");
        CheckAlive();
        _dataMark = _dataSegments.Count;
        OpenHeader(stateId, instanceId, version, type);
    }

    /// <summary>Opens a record nested in the open one (a nested struct or a subsection).</summary>
    /// <exception cref="KStateInvalidException">No record is open, or nesting is deeper than 16.</exception>
    internal void BeginNested(ulong stateId, ulong instanceId, uint version, RecordType type = RecordType.Nested)
    {
        if (_depth == 0) ThrowUnbalanced("BeginNested with no open record");
        if (_depth > Format.MaxNesting) ThrowUnbalanced($"records nest deeper than {Format.MaxNesting}");
        CheckAlive();
        int pad = Format.Align8(_pos) - _pos;
        if (pad > 0) Reserve(pad).Clear();
        OpenHeader(stateId, instanceId, version, type);
    }

    private void OpenHeader(ulong stateId, ulong instanceId, uint version, RecordType type)
    {
        // Five aligned 8-byte stores (docs/FORMAT.md, "Record header"): the checksum and length come at close.
        var h = Reserve(Format.RecordHeaderBytes);
        BinaryPrimitives.WriteUInt64LittleEndian(h, 0);
        BinaryPrimitives.WriteUInt64LittleEndian(h[8..], (ushort)type | (ulong)Format.RecordHeaderBytes << 16 | (ulong)version << 32);
        BinaryPrimitives.WriteUInt64LittleEndian(h[16..], stateId);
        BinaryPrimitives.WriteUInt64LittleEndian(h[24..], instanceId);
        BinaryPrimitives.WriteUInt64LittleEndian(h[32..], 0);
        _open[_depth++] = _pos - Format.RecordHeaderBytes;
    }

    /// <summary>Closes the innermost nested record.</summary>
    /// <exception cref="KStateInvalidException">No nested record is open.</exception>
    internal void EndNested()
    {
        if (_depth < 2) ThrowUnbalanced("EndNested with no open nested record");
        CheckAlive();
        CloseHeader(checksum: false);
    }

    /// <summary>Closes the top-level record: its length and checksum are written.</summary>
    /// <exception cref="KStateInvalidException">No record is open, or a nested record is still open.</exception>
    internal void EndRecord()
    {
        if (_depth != 1) ThrowUnbalanced(_depth == 0 ? "EndRecord with no open record" : "EndRecord with a nested record still open");
        CheckAlive();
        if (_pos - _open[0] < LeaseThreshold) CloseHeader(checksum: true);
        else
        {
            using var lease = RegionMemory.Acquire(_owner); // the checksum reads the whole record
            CloseHeader(checksum: true);
        }
        _records++;
    }

    private void CloseHeader(bool checksum)
    {
        int start = _open[--_depth];
        int payload = _pos - start - Format.RecordHeaderBytes;
        var h = new Span<byte>(_seg + start, Format.RecordHeaderBytes);
        BinaryPrimitives.WriteUInt64LittleEndian(h[32..], (uint)payload); // length and the reserved zero word
        int padded = Format.Align8(_pos);
        new Span<byte>(_seg + _pos, padded - _pos).Clear(); // padding is covered by the checksum: make it zero
        _pos = padded;
        if (checksum)
        {
            var covered = new ReadOnlySpan<byte>(_seg + start + 8, _pos - start - 8); // header, payload and padding
            BinaryPrimitives.WriteUInt64LittleEndian(h, XxHash3.HashToUInt64(covered));
            _bytes += (ulong)(_pos - start);
        }
    }

    /// <summary>Reserves <paramref name="n"/> zeroed bytes in the open record and returns them to fill. The span is
    /// valid until the next put (a put may move the open record to a new segment).</summary>
    /// <exception cref="KStateInvalidException">No record is open.</exception>
    /// <exception cref="KStateNoSpaceException">The record would exceed the largest segment.</exception>
    public Span<byte> PutSpan(int n)
    {
        var s = ReserveInRecord(n);
        s.Clear(); // segment memory is not zeroed in advance
        return s;
    }

    /// <summary>Reserves bytes in the open record that the caller overwrites completely.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private Span<byte> ReserveInRecord(int n)
    {
        if (_depth == 0) ThrowUnbalanced("put with no open record");
        ArgumentOutOfRangeException.ThrowIfNegative(n);
        CheckAlive();
        return Reserve(n);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private Span<byte> Reserve(int n)
    {
        if ((uint)n > (uint)(_segSize - _tail - _pos)) Grow(n);
        var s = new Span<byte>(_seg + _pos, n);
        _pos += n;
        return s;
    }

    /// <summary>Makes room for <paramref name="n"/> more bytes: a new segment, carrying the open record along.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private void Grow(int n)
    {
        using var lease = RegionMemory.Acquire(_owner); // allocates, copies the open record and seals a segment
        int carryFrom = _depth > 0 ? _open[0] : _pos;
        long carry = _pos - carryFrom;
        long need = Format.SegmentHeaderBytes + carry + n + EndMarkerBytes + 64;
        int order = Math.Min(Format.MaxSegmentOrder, _segments[^1].Order + 1);
        while (order <= Format.MaxSegmentOrder && (Kho.PageSize << order) < need) order++;
        if (order > Format.MaxSegmentOrder)
        {
            AbandonOpenRecord();
            throw AbandonedBy = new KStateNoSpaceException($"a record of {carry + n} bytes exceeds the largest segment ({Kho.PageSize << Format.MaxSegmentOrder} bytes less headers); the record was dropped");
        }
        byte* next;
        ulong nextPhys;
        try
        {
            next = AddressOf(_memory.Allocate(order, out nextPhys));
        }
        catch (Exception e)
        {
            AbandonOpenRecord(); // the stream stays as it was before this record: every completed record intact
            AbandonedBy = e;
            throw;
        }
        byte* old = _seg;
        if (carry > 0) Buffer.MemoryCopy(old + carryFrom, next + Format.SegmentHeaderBytes, (Kho.PageSize << order) - Format.SegmentHeaderBytes, carry);
        SealSegment(carryFrom, nextPhys); // the old segment ends where the open record began; the rest is cleared
        _segments.Add((nextPhys, order));
        _segmentPtrs.Add((nint)next);
        _seg = next;
        _segSize = Kho.PageSize << order;
        _pos = Format.SegmentHeaderBytes;
        if (carry > 0)
        {
            int shift = _pos - carryFrom;
            for (int i = 0; i < _depth; i++) _open[i] += shift;
            _pos += (int)carry;
        }
    }

    /// <summary>Drops the open record (if any): the stream ends again after the last completed record.</summary>
    internal void AbandonOpenRecord()
    {
        if (_depth == 0) return;
        using var lease = RegionMemory.Acquire(_owner);
        FreeDataSegmentsFrom(_dataMark);
        int start = _open[0];
        new Span<byte>(_seg + start, _pos - start).Clear();
        _pos = start;
        _depth = 0;
    }

    private void NewSegment(int order)
    {
        _seg = AddressOf(_memory.Allocate(order, out ulong phys));
        _segments.Add((phys, order));
        _segmentPtrs.Add((nint)_seg);
        _segSize = Kho.PageSize << order;
        _pos = Format.SegmentHeaderBytes;
    }

    /// <summary>Writes the current segment's header: its records end at <paramref name="used"/>; the chain goes on at <paramref name="next"/> (0 = last).</summary>
    private void SealSegment(int used, ulong next)
    {
        new Span<byte>(_seg + used, _segSize - used).Clear(); // the zero tail readers check
        var h = new Span<byte>(_seg, Format.SegmentHeaderBytes);
        h.Clear();
        BinaryPrimitives.WriteUInt32LittleEndian(h[8..], Format.SegmentMagic);
        BinaryPrimitives.WriteUInt16LittleEndian(h[12..], Format.SegmentHeaderBytes);
        h[14] = (byte)_segments[^1].Order;
        BinaryPrimitives.WriteUInt64LittleEndian(h[16..], next);
        BinaryPrimitives.WriteUInt64LittleEndian(h[24..], StreamId);
        BinaryPrimitives.WriteUInt32LittleEndian(h[32..], (uint)(_segments.Count - 1));
        BinaryPrimitives.WriteUInt32LittleEndian(h[36..], (uint)used);
        BinaryPrimitives.WriteUInt64LittleEndian(h, XxHash3.HashToUInt64(h[8..]));
    }

    /// <summary>
    /// Closes the stream: writes the names table (when names were used) and the end marker, and seals the last
    /// segment. Returns where the stream is, for the root blob.
    /// </summary>
    /// <exception cref="KStateInvalidException">A record is still open.</exception>
    internal StreamInfo Complete()
    {
        if (_complete) return Info;
        if (_depth != 0) ThrowUnbalanced("Complete with a record still open");
        using var lease = RegionMemory.Acquire(_owner);
        _beforeComplete = (_segments.Count, _pos, _records, _bytes);
        if (_names.Count > 0)
        {
            BeginRecord(0, 0, Format.Version, RecordType.Names);
            _names.Write(this);
            EndRecord();
        }
        _tail = 0; // the room kept for the end marker is used now
        BeginRecord(0, 0, Format.Version, RecordType.End);
        PutUInt32(_records); // records before the end marker
        PutUInt32(0);
        PutUInt64(_bytes);
        EndRecord();
        SealSegment(_pos, 0);
        _complete = true;
        return Info;
    }

    /// <summary>Undoes <see cref="Complete"/> (after an aborted handover): the names table and end marker go, and
    /// records can be added again.</summary>
    internal void Reopen()
    {
        if (!_complete || _segments.Count == 0) return;
        using var lease = RegionMemory.Acquire(_owner);
        var (segments, pos, records, bytes) = _beforeComplete;
        while (_segments.Count > segments)
        {
            _memory.Free(_segments[^1].Phys, _segments[^1].Order);
            _segments.RemoveAt(_segments.Count - 1);
            _segmentPtrs.RemoveAt(_segmentPtrs.Count - 1);
        }
        _seg = (byte*)_segmentPtrs[^1];
        _segSize = Kho.PageSize << _segments[^1].Order;
        new Span<byte>(_seg + pos, _segSize - pos).Clear();
        _pos = pos;
        _records = records;
        _bytes = bytes;
        _tail = EndMarkerBytes;
        _complete = false;
    }

    /// <summary>Where the stream is and how big; valid after <see cref="Complete"/>.</summary>
    internal StreamInfo Info => new(Name, _segments[0].Phys, (uint)_segments.Count, _records, _bytes);

    /// <summary>Gives every segment back to the memory (a dropped stream).</summary>
    internal void Release()
    {
        foreach (var (phys, order) in _segments) _memory.Free(phys, order);
        _segments.Clear();
        _segmentPtrs.Clear();
        FreeDataSegmentsFrom(0);
        _seg = null;
        _complete = true;
    }

    /// <summary>Records the name of an id in the stream's names table.</summary>
    /// <exception cref="KStateExistsException">Another name already has this id (a collision).</exception>
    internal void DefineName(ulong id, string name) => _names.Add(id, name);

    /// <summary>Computes the id of <paramref name="name"/> and records it in the names table.</summary>
    /// <exception cref="KStateExistsException">Another name already has this id (a collision).</exception>
    internal ulong Name2Id(string name)
    {
        ulong id = KStateId.FromName(name);
        _names.Add(id, name);
        return id;
    }

    [System.Diagnostics.CodeAnalysis.DoesNotReturn]
    private static void ThrowUnbalanced(string what) => throw new KStateInvalidException($"unbalanced record calls: {what}");
}
