using System.Buffers.Binary;
using System.IO.Hashing;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using KState.Core.Ids;
using KState.Machine.Memory;

namespace KState.Core.Records;

/// <summary>
/// Reads one stream (docs/FORMAT.md). <see cref="Open"/> walks the whole chain once and checks every segment
/// header and every record header (bounds, types, the end marker) and builds the index, so a lookup by
/// (state id, instance id) is O(1); each record's checksum is checked when the record is first read, and not again
/// (the stream's memory is this generation's alone once it is open), so reading a record again costs no hash. When a state and
/// instance was saved more than once, the newest record wins. Thread-safe for reading once open. After the memory
/// goes (<see cref="Kho.Dispose"/>), every operation, and every read through a <see cref="Record"/> it gave, throws
/// <see cref="ObjectDisposedException"/>; operations over more than a few KiB hold a lease on the memory meanwhile.
/// </summary>
internal sealed unsafe class RecordReader
{
    private readonly record struct Segment(ulong Phys, nint Ptr, int Size, int Used, long StreamOffset);

    private readonly List<Segment> _segments = [];
    private readonly Dictionary<(ulong, ulong), int> _index; // to the record's ordinal in _all
    private readonly List<long> _all; // every top-level record (segment << 32 | offset), in stream order
    private ulong[] _verified = []; // one bit per ordinal: checksum checked (set once Open has walked the chain)
    private Dictionary<string, ulong> _idsByName = [];
    private int _schema = -1;
    private readonly Dictionary<ulong, (nint Ptr, int Size)> _blobChunks = [];
    private readonly HashSet<(ulong Segments, long Length, ulong Hash)> _verifiedBlobs = []; // under _blobChunks' lock
    private ISegmentMemory? _memory;
    internal RegionMemory? Owner { get; private set; } // the memory's lifetime; null for memory that outlives the reader

    private RecordReader(string name, int expectedRecords)
    {
        Name = name;
        _index = new Dictionary<(ulong, ulong), int>(expectedRecords);
        _all = new List<long>(expectedRecords);
    }

    /// <summary>The stream's name.</summary>
    public string Name { get; }

    /// <summary>The stream's names table (empty when it had none).</summary>
    public NameTable Names { get; private set; } = new();

    /// <summary>Live main and data records (the newest of each (state id, instance id)).</summary>
    public int Count => _index.Count;

    /// <summary>Segments in the chain.</summary>
    public int SegmentCount => _segments.Count;

    /// <summary>Top-level records in the stream, superseded copies, names table and end marker included.</summary>
    public int RecordCount => _all.Count;

    /// <summary>The chain's segments (phys, order), for releasing them.</summary>
    public IEnumerable<(ulong Phys, int Order)> Segments => _segments.Select(s => (s.Phys, System.Numerics.BitOperations.Log2((uint)(s.Size / Kho.PageSize))));

    /// <summary>Bytes of records, headers, names table and end marker included.</summary>
    public ulong Bytes { get; private set; }

    /// <summary>Opens the stream <paramref name="name"/> whose first segment is at <paramref name="firstSegment"/>.</summary>
    /// <param name="memory">Where the segments are.</param>
    /// <param name="firstSegment">Phys of the first segment.</param>
    /// <param name="name">The stream's name (segments carry its id).</param>
    /// <param name="expectedRecords">Records expected (from the root blob), to size the index once; a hint only.</param>
    /// <exception cref="KStateCorruptException">Any check fails; the message says which and the offset where.</exception>
    public static RecordReader Open(ISegmentMemory memory, ulong firstSegment, string name, int expectedRecords = 0)
    {
        var r = new RecordReader(name, Math.Clamp(expectedRecords, 0, 1 << 20)) { _memory = memory, Owner = memory.Owner };
        using (RegionMemory.Acquire(r.Owner)) r.Walk(memory, firstSegment, KStateId.FromName(name));
        foreach (var (id, n) in r.Names.Entries) r._idsByName[n] = id;
        r._verified = new ulong[(r._all.Count + 63) >> 6];
        return r;
    }

    private void Walk(ISegmentMemory memory, ulong phys, ulong streamId)
    {
        long streamOffset = 0;
        bool ended = false;
        uint records = 0;
        ulong bytes = 0;
        var seen = new HashSet<ulong>();
        for (uint seq = 0; phys != 0; seq++)
        {
            if (ended) Throw.Corrupt("segments follow the end marker", streamOffset);
            if (!seen.Add(phys)) Throw.Corrupt($"segment chain loops back to 0x{phys:x}", streamOffset);
            if (!memory.TryAttach(phys, out var attached)) Throw.Corrupt($"segment {seq} at 0x{phys:x} is not in preserved memory", streamOffset);
            byte* p = AddressOf(attached);
            int available = attached.Length;
            var seg = ReadSegmentHeader(p, available, phys, seq, streamId, streamOffset, out ulong next);
            _segments.Add(seg);
            int at = Format.SegmentHeaderBytes;
            while (at < seg.Used)
            {
                long off = streamOffset + at;
                if (ended) Throw.Corrupt("records follow the end marker", off);
                var h = new ReadOnlySpan<byte>(p + at, seg.Used - at);
                if (h.Length < Format.RecordHeaderBytes) Throw.Corrupt("record header runs past the segment's used bytes", off);
                if (h[10] != Format.RecordHeaderBytes) Throw.Corrupt($"record header length {h[10]} (this reader knows {Format.RecordHeaderBytes})", off + 10);
                var type = (RecordType)BinaryPrimitives.ReadUInt16LittleEndian(h[8..]);
                uint len = BinaryPrimitives.ReadUInt32LittleEndian(h[32..]);
                if (len > (uint)(h.Length - Format.RecordHeaderBytes)) Throw.Corrupt($"record length {len} runs past the segment", off + 32);
                int total = Format.Align8(Format.RecordHeaderBytes + (int)len);
                if (total > h.Length) Throw.Corrupt("record padding runs past the segment", off + 32);
                long loc = ((long)(_segments.Count - 1) << 32) | (uint)at;
                int ordinal = _all.Count;
                _all.Add(loc);
                switch (type)
                {
                    case RecordType.Schema:
                        _schema = ordinal; // the newest wins, as for state records
                        break;
                    case RecordType.Main or RecordType.Data:
                        _index[(BinaryPrimitives.ReadUInt64LittleEndian(h[16..]), BinaryPrimitives.ReadUInt64LittleEndian(h[24..]))] = ordinal;
                        break;
                    case RecordType.Names:
                        Names = NameTable.Read(Verified(ordinal).Payload, off + Format.RecordHeaderBytes);
                        break;
                    case RecordType.End:
                        var end = Verified(ordinal).Cursor;
                        uint count = end.ReadUInt32();
                        end.ReadUInt32();
                        ulong stated = end.ReadUInt64();
                        if (count != records || stated != bytes)
                            Throw.Corrupt($"end marker counts {count} records / {stated} bytes, the stream has {records} / {bytes}", off);
                        ended = true;
                        break;
                    default:
                        Throw.Corrupt($"unknown top-level record type {(ushort)type}", off + 8);
                        break;
                }
                records++;
                bytes += (ulong)total;
                at += total;
            }
            if (new ReadOnlySpan<byte>(p + seg.Used, seg.Size - seg.Used).ContainsAnyExcept((byte)0))
                Throw.Corrupt("bytes after the segment's last record are not zero", streamOffset + seg.Used);
            streamOffset += seg.Size;
            phys = next;
        }
        if (!ended) Throw.Corrupt("stream has no end marker (truncated)", streamOffset);
        Bytes = bytes;
    }

    private Segment ReadSegmentHeader(byte* p, int available, ulong phys, uint seq, ulong streamId, long streamOffset, out ulong next)
    {
        if (available < Kho.PageSize) Throw.Corrupt($"segment {seq} at 0x{phys:x}: only {available} bytes available", streamOffset);
        var h = new ReadOnlySpan<byte>(p, Format.SegmentHeaderBytes);
        if (BinaryPrimitives.ReadUInt64LittleEndian(h) != XxHash3.HashToUInt64(h[8..]))
            Throw.Corrupt($"segment {seq} header checksum mismatch", streamOffset);
        if (BinaryPrimitives.ReadUInt32LittleEndian(h[8..]) != Format.SegmentMagic) Throw.Corrupt($"segment {seq}: bad magic", streamOffset + 8);
        if (BinaryPrimitives.ReadUInt16LittleEndian(h[12..]) != Format.SegmentHeaderBytes) Throw.Corrupt($"segment {seq}: unknown header length", streamOffset + 12);
        int order = h[14];
        if (order > Format.MaxSegmentOrder || (Kho.PageSize << order) > available)
            Throw.Corrupt($"segment {seq}: order {order} does not fit the {available} bytes there", streamOffset + 14);
        if (BinaryPrimitives.ReadUInt64LittleEndian(h[24..]) != streamId) Throw.Corrupt($"segment {seq} belongs to another stream", streamOffset + 24);
        if (BinaryPrimitives.ReadUInt32LittleEndian(h[32..]) != seq) Throw.Corrupt($"segment {seq} says it is number {BinaryPrimitives.ReadUInt32LittleEndian(h[32..])}", streamOffset + 32);
        int size = Kho.PageSize << order;
        uint used = BinaryPrimitives.ReadUInt32LittleEndian(h[36..]);
        if (used < Format.SegmentHeaderBytes || used > size || used % Format.RecordAlign != 0)
            Throw.Corrupt($"segment {seq}: used bytes {used} out of range", streamOffset + 36);
        next = BinaryPrimitives.ReadUInt64LittleEndian(h[16..]);
        return new Segment(phys, (nint)p, size, (int)used, streamOffset);
    }

    private static byte* AddressOf(ReadOnlySpan<byte> segment) => (byte*)Unsafe.AsPointer(ref MemoryMarshal.GetReference(segment));

    /// <summary>Throws <see cref="ObjectDisposedException"/> when the memory was unmapped (its Kho disposed).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal void CheckAlive()
    {
        if (Owner is { IsClosed: true }) RegionMemory.ThrowClosed();
    }

    /// <summary>The record of an ordinal, its checksum verified on its first read (a hit costs one bit test).</summary>
    private Record Verified(int ordinal)
    {
        CheckAlive();
        long loc = _all[ordinal];
        var seg = _segments[(int)(loc >> 32)];
        int at = (int)(uint)loc;
        byte* p = (byte*)seg.Ptr + at;
        var h = new ReadOnlySpan<byte>(p, Format.RecordHeaderBytes);
        int len = (int)BinaryPrimitives.ReadUInt32LittleEndian(h[32..]);
        if (!IsVerified(ordinal))
        {
            int total = Format.Align8(Format.RecordHeaderBytes + len);
            if (total < RecordWriter.LeaseThreshold ? !ChecksumMatches(p, total) : !ChecksumMatchesLeased(p, total))
                Throw.Corrupt("record checksum mismatch", seg.StreamOffset + at);
            MarkVerified(ordinal);
        }
        return new Record((RecordType)BinaryPrimitives.ReadUInt16LittleEndian(h[8..]), BinaryPrimitives.ReadUInt64LittleEndian(h[16..]),
            BinaryPrimitives.ReadUInt64LittleEndian(h[24..]), BinaryPrimitives.ReadUInt32LittleEndian(h[12..]),
            new ReadOnlySpan<byte>(p + Format.RecordHeaderBytes, len), seg.StreamOffset + at, this);
    }

    private bool IsVerified(int ordinal)
    {
        var bits = _verified;
        return (ordinal >> 6) < bits.Length && (Volatile.Read(ref bits[ordinal >> 6]) & (1UL << ordinal)) != 0;
    }

    private void MarkVerified(int ordinal)
    {
        var bits = _verified; // empty while Open walks the chain: records read then (names, end marker) are read once anyway
        if ((ordinal >> 6) < bits.Length) Interlocked.Or(ref bits[ordinal >> 6], 1UL << ordinal);
    }

    private static bool ChecksumMatches(byte* record, int total) =>
        XxHash3.HashToUInt64(new ReadOnlySpan<byte>(record + 8, total - 8)) == BinaryPrimitives.ReadUInt64LittleEndian(new ReadOnlySpan<byte>(record, 8));

    [MethodImpl(MethodImplOptions.NoInlining)]
    private bool ChecksumMatchesLeased(byte* record, int total)
    {
        using var lease = RegionMemory.Acquire(Owner);
        return ChecksumMatches(record, total);
    }

    /// <summary>A data segment of a large blob: attached (restored) on first use, then cached. The caller holds a lease.</summary>
    internal byte* BlobChunk(ulong phys, int bytes, long offset)
    {
        lock (_blobChunks)
        {
            if (!_blobChunks.TryGetValue(phys, out var chunk))
            {
                if (!_memory!.TryAttach(phys, out var attached)) Throw.Corrupt($"blob data segment 0x{phys:x} is not in preserved memory", offset);
                chunk = ((nint)AddressOf(attached), attached.Length);
                _blobChunks.Add(phys, chunk);
            }
            if (chunk.Size < bytes) Throw.Corrupt($"blob data segment 0x{phys:x} has {chunk.Size} bytes, the blob needs {bytes}", offset);
            return (byte*)chunk.Ptr;
        }
    }

    /// <summary>True when a blob with these data segments, length and checksum was checked already (its memory is
    /// this generation's alone, so it is not hashed again).</summary>
    internal bool IsBlobVerified(ulong segments, long length, ulong hash)
    {
        lock (_blobChunks) return _verifiedBlobs.Contains((segments, length, hash));
    }

    internal void MarkBlobVerified(ulong segments, long length, ulong hash)
    {
        lock (_blobChunks) _verifiedBlobs.Add((segments, length, hash));
    }

    /// <summary>A data segment of a large blob, looked at without attaching it (see <see cref="ISegmentMemory.TryPeek"/>);
    /// one attached already is returned as it is. The caller holds a lease.</summary>
    internal bool TryPeekBlobChunk(ulong phys, int bytes, out ReadOnlySpan<byte> chunk)
    {
        lock (_blobChunks)
        {
            if (_blobChunks.TryGetValue(phys, out var attached))
            {
                chunk = attached.Size >= bytes ? new ReadOnlySpan<byte>((byte*)attached.Ptr, bytes) : default;
                return attached.Size >= bytes;
            }
        }
        chunk = default;
        if (!_memory!.TryPeek(phys, out var segment) || segment.Length < bytes) return false;
        chunk = segment[..bytes];
        return true;
    }

    /// <summary>A preserved folio named by a record, through the stream's memory (inspection only: a KHO memory would restore it).</summary>
    internal bool TryAttachFolio(ulong phys, out ReadOnlySpan<byte> folio) => _memory!.TryAttach(phys, out folio);

    /// <summary>Data segments of blobs attached so far (phys, order), for releasing them.</summary>
    public IEnumerable<(ulong Phys, int Order)> DataSegments
    {
        get
        {
            lock (_blobChunks)
                return [.. _blobChunks.Select(c => (c.Key, System.Numerics.BitOperations.Log2((uint)(c.Value.Size / Kho.PageSize))))];
        }
    }

    /// <summary>Finds the newest record of (state id, instance id) in O(1); false when there is none.</summary>
    /// <exception cref="KStateCorruptException">The record's checksum does not match.</exception>
    public bool TryFind(ulong stateId, ulong instanceId, out Record record)
    {
        if (!_index.TryGetValue((stateId, instanceId), out int ordinal))
        {
            record = default;
            return false;
        }
        record = Verified(ordinal);
        return true;
    }

    /// <summary>Finds the newest record of (state id, instance id).</summary>
    /// <exception cref="KStateNotFoundException">There is none.</exception>
    /// <exception cref="KStateCorruptException">Its checksum does not match.</exception>
    public Record Find(ulong stateId, ulong instanceId)
    {
        if (!TryFind(stateId, instanceId, out var r))
            Throw.NotFound($"stream '{Name}' has no record for state 0x{stateId:x} ({Names.NameOf(stateId) ?? "unnamed"}) instance {instanceId}");
        return r;
    }

    /// <summary>Finds a record by state name, checking the names table maps the name's id back to that name.</summary>
    /// <exception cref="KStateExistsException">The stream's names table gives this id to another name (a collision).</exception>
    public bool TryFind(string stateName, ulong instanceId, out Record record)
    {
        if (_idsByName.TryGetValue(stateName, out ulong named)) return TryFind(named, instanceId, out record);
        ulong id = KStateId.FromName(stateName);
        var known = Names.NameOf(id);
        if (known is not null && known != stateName)
            Throw.Exists($"id collision: \"{stateName}\" and the stream's \"{known}\" both have id 0x{id:x16}");
        return TryFind(id, instanceId, out record);
    }

    /// <summary>The stream's schema record, when it has one (checksum verified).</summary>
    public bool TryGetSchema(out Record record)
    {
        record = _schema < 0 ? default : Verified(_schema);
        return _schema >= 0;
    }

    /// <summary>Every live record in stream order (superseded copies and stream-level records left out), checksums verified.</summary>
    public Enumerator GetEnumerator() => new(this);

    /// <summary>Reads every record and checks every checksum.</summary>
    /// <exception cref="KStateCorruptException">The first damaged record.</exception>
    public void Verify()
    {
        using var lease = RegionMemory.Acquire(Owner);
        for (int i = 0; i < _all.Count; i++) Verified(i);
    }

    /// <summary>Enumerates live records.</summary>
    public ref struct Enumerator
    {
        private readonly RecordReader _r;
        private int _i;

        internal Enumerator(RecordReader r)
        {
            _r = r;
            _i = -1;
        }

        /// <summary>The current record.</summary>
        public Record Current { get; private set; }

        /// <summary>Advances to the next live record.</summary>
        public bool MoveNext()
        {
            while (++_i < _r._all.Count)
            {
                var rec = _r.Verified(_i);
                if (rec.Type is RecordType.Names or RecordType.End or RecordType.Schema) continue;
                if (_r._index[(rec.StateId, rec.InstanceId)] != _i) continue; // superseded by a newer save
                Current = rec;
                return true;
            }
            return false;
        }
    }
}
