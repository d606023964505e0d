using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using KState.Core.Records;
using KState.Machine.Memory;

namespace KState;

/// <summary>A record read from a stream, its checksum verified. The payload points into the stream's memory: after
/// that memory goes (<see cref="Kho.Dispose"/>), reaching it throws <see cref="ObjectDisposedException"/>.</summary>
internal readonly ref struct Record
{
    private readonly ReadOnlySpan<byte> _payload;

    internal Record(RecordType type, ulong stateId, ulong instanceId, uint version, ReadOnlySpan<byte> payload, long offset, RecordReader? owner = null)
    {
        Owner = owner;
        Type = type;
        StateId = stateId;
        InstanceId = instanceId;
        Version = version;
        _payload = payload;
        Offset = offset;
    }

    /// <summary>Section type.</summary>
    public RecordType Type { get; }

    /// <summary>State id.</summary>
    public ulong StateId { get; }

    /// <summary>Instance id.</summary>
    public ulong InstanceId { get; }

    /// <summary>Version the record was written with.</summary>
    public uint Version { get; }

    /// <summary>The payload bytes (nested records included), valid while the stream's memory is there.</summary>
    /// <exception cref="ObjectDisposedException">The memory was unmapped (its Kho disposed).</exception>
    public ReadOnlySpan<byte> Payload
    {
        get
        {
            Owner?.CheckAlive();
            return _payload;
        }
    }

    /// <summary>Offset of the record header in the stream (segment headers included), for error reports.</summary>
    public long Offset { get; }

    /// <summary>A bounds-checked cursor over the payload.</summary>
    public RecordCursor Cursor => new(Payload, Offset + Format.RecordHeaderBytes, Owner);

    /// <summary>The stream the record came from (it holds the data segments of large blobs).</summary>
    internal RecordReader? Owner { get; }
}

/// <summary>A nested record (a struct or subsection) found inside a payload.</summary>
internal readonly ref struct NestedRecord
{
    internal NestedRecord(RecordType type, ulong stateId, ulong instanceId, uint version, RecordCursor cursor)
    {
        Type = type;
        StateId = stateId;
        InstanceId = instanceId;
        Version = version;
        Cursor = cursor;
    }

    /// <summary>Section type (<see cref="RecordType.Nested"/> or <see cref="RecordType.Subsection"/>).</summary>
    public RecordType Type { get; }

    /// <summary>State id.</summary>
    public ulong StateId { get; }

    /// <summary>Instance id.</summary>
    public ulong InstanceId { get; }

    /// <summary>Version.</summary>
    public uint Version { get; }

    /// <summary>A cursor over its payload.</summary>
    public RecordCursor Cursor { get; }
}

/// <summary>
/// Reads a payload front to back. Every read is bounds-checked: running past the end is a
/// <see cref="KStateCorruptException"/> that names the stream offset.
/// </summary>
public ref struct RecordCursor
{
    private readonly ReadOnlySpan<byte> _data;
    private readonly long _base;
    private readonly RecordReader? _owner;
    private readonly RegionMemory? _memory; // the owner's memory: every read checks it is still mapped
    private int _pos;

    /// <summary>A cursor over <paramref name="data"/>, which starts at stream offset <paramref name="baseOffset"/>.</summary>
    internal RecordCursor(ReadOnlySpan<byte> data, long baseOffset) : this(data, baseOffset, null) { }

    internal RecordCursor(ReadOnlySpan<byte> data, long baseOffset, RecordReader? owner)
    {
        _data = data;
        _base = baseOffset;
        _owner = owner;
        _memory = owner?.Owner;
        _pos = 0;
    }

    /// <summary>Bytes left.</summary>
    public readonly int Remaining => _data.Length - _pos;

    /// <summary>Stream offset of the next byte.</summary>
    public readonly long Offset => _base + _pos;

    /// <summary>Takes the next <paramref name="n"/> bytes.</summary>
    /// <exception cref="KStateCorruptException">Fewer than <paramref name="n"/> bytes are left.</exception>
    /// <exception cref="ObjectDisposedException">The stream's memory was unmapped (its Kho disposed).</exception>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ReadOnlySpan<byte> ReadSpan(int n)
    {
        if ((uint)n > (uint)(_data.Length - _pos)) ThrowShort(n);
        if (_memory is { IsClosed: true }) RegionMemory.ThrowClosed();
        var s = _data.Slice(_pos, n);
        _pos += n;
        return s;
    }

    /// <summary>Fills <paramref name="destination"/>.</summary>
    public void Read(Span<byte> destination)
    {
        if (destination.Length < RecordWriter.LeaseThreshold) ReadSpan(destination.Length).CopyTo(destination);
        else
        {
            using var lease = RegionMemory.Acquire(_memory);
            ReadSpan(destination.Length).CopyTo(destination);
        }
    }

    /// <summary>Reads one unmanaged value from its raw bytes.</summary>
    public T ReadValue<T>() where T : unmanaged => Unsafe.ReadUnaligned<T>(ref MemoryMarshal.GetReference(ReadSpan(Unsafe.SizeOf<T>())));

    /// <summary>Fills a span of unmanaged values from their raw bytes.</summary>
    public void ReadValues<T>(Span<T> destination) where T : unmanaged => Read(MemoryMarshal.AsBytes(destination));

    /// <summary>Reads a byte.</summary>
    public byte ReadByte() => ReadSpan(1)[0];

    /// <summary>Reads a little-endian 16-bit value.</summary>
    public ushort ReadUInt16() => BinaryPrimitives.ReadUInt16LittleEndian(ReadSpan(2));

    /// <summary>Reads a little-endian 32-bit value.</summary>
    public uint ReadUInt32() => BinaryPrimitives.ReadUInt32LittleEndian(ReadSpan(4));

    /// <summary>Reads a little-endian 32-bit value.</summary>
    public int ReadInt32() => BinaryPrimitives.ReadInt32LittleEndian(ReadSpan(4));

    /// <summary>Reads a little-endian 64-bit value.</summary>
    public ulong ReadUInt64() => BinaryPrimitives.ReadUInt64LittleEndian(ReadSpan(8));

    /// <summary>Reads a little-endian 64-bit value.</summary>
    public long ReadInt64() => BinaryPrimitives.ReadInt64LittleEndian(ReadSpan(8));

    /// <summary>Reads a little-endian IEEE double.</summary>
    public double ReadDouble() => BinaryPrimitives.ReadDoubleLittleEndian(ReadSpan(8));

    /// <summary>Reads a string written by <see cref="RecordWriter.PutString"/>.</summary>
    /// <exception cref="KStateCorruptException">Bad length or invalid UTF-8.</exception>
    public string ReadString()
    {
        long at = Offset;
        int n = ReadInt32();
        if (n < 0) Throw.Corrupt($"string length {n} is negative", at);
        try { return Strict.GetString(ReadSpan(n)); }
        catch (System.Text.DecoderFallbackException) { throw new KStateCorruptException("string is not valid UTF-8", at + 4); }
    }

    private static readonly System.Text.UTF8Encoding Strict = new(false, true);

    /// <summary>Skips <paramref name="n"/> bytes.</summary>
    public void Skip(int n) => ReadSpan(n);

    /// <summary>Reads the nested record that starts here; false when the payload is exhausted.</summary>
    /// <exception cref="KStateCorruptException">The nested header is malformed or runs past the payload.</exception>
    internal bool TryReadNested(out NestedRecord nested)
    {
        nested = default;
        int align = Format.Align8(_pos) - _pos; // nested records start 8-aligned in their parent's payload
        if (align >= Remaining) return false;
        Skip(align);
        long at = Offset;
        var h = ReadSpan(Format.RecordHeaderBytes);
        var type = (RecordType)BinaryPrimitives.ReadUInt16LittleEndian(h[8..]);
        if (type is not (RecordType.Nested or RecordType.Subsection)) Throw.Corrupt($"nested record has type {(ushort)type}", at + 8);
        if (h[10] != Format.RecordHeaderBytes) Throw.Corrupt($"nested record header length {h[10]}", at + 10);
        if (BinaryPrimitives.ReadUInt64LittleEndian(h) != 0) Throw.Corrupt("nested record has a checksum of its own", at);
        uint len = BinaryPrimitives.ReadUInt32LittleEndian(h[32..]);
        if (len > (uint)Remaining) Throw.Corrupt($"nested record of {len} bytes runs past its parent", at + 32);
        var payload = ReadSpan((int)len);
        int pad = Format.Align8((int)len) - (int)len;
        if (pad > Remaining) Throw.Corrupt("nested record padding runs past its parent", Offset);
        Skip(pad);
        nested = new NestedRecord(type, BinaryPrimitives.ReadUInt64LittleEndian(h[16..]), BinaryPrimitives.ReadUInt64LittleEndian(h[24..]),
            BinaryPrimitives.ReadUInt32LittleEndian(h[12..]), new RecordCursor(payload, at + Format.RecordHeaderBytes, _owner));
        return true;
    }

    /// <summary>Reads a blob written by <see cref="RecordWriter.PutBlob"/> into <paramref name="destination"/>; returns its length.</summary>
    /// <exception cref="ArgumentException"><paramref name="destination"/> is shorter than the blob.</exception>
    /// <exception cref="KStateCorruptException">The blob is malformed, its data segments are missing, or its checksum does not match.</exception>
    public long ReadBlob(Span<byte> destination)
    {
        var blob = ReadBlobView(verify: true);
        if (blob.Length > destination.Length) throw new ArgumentException($"the blob has {blob.Length} bytes; the destination holds {destination.Length}", nameof(destination));
        blob.CopyTo(destination);
        return blob.Length;
    }

    /// <summary>Reads a blob written by <see cref="RecordWriter.PutBlob"/> in place: a span into the stream's memory,
    /// nothing copied. Its checksum is checked on its first read only (inline blobs are covered by their record's).
    /// The span is valid while the stream's memory is mapped (until its <see cref="Kho"/> is disposed).</summary>
    /// <exception cref="KStateCorruptException">The blob is malformed, its data segments are missing, or its checksum does not match.</exception>
    /// <exception cref="KStateInvalidException">The blob spans several data segments (over 4 MiB): read it with <see cref="ReadBlob(Span{byte})"/>.</exception>
    public ReadOnlySpan<byte> ReadBlobSpan()
    {
        long at = Offset;
        return ReadBlobView(verify: true).AsSpan(at);
    }

    /// <summary>Reads a blob into a new array.</summary>
    public byte[] ReadBlob()
    {
        var blob = ReadBlobView(verify: true);
        var bytes = new byte[blob.Length];
        blob.CopyTo(bytes);
        return bytes;
    }

    /// <summary>For inspection: whether the folio of a folio field is there and its contents match the checksum the record holds.</summary>
    internal readonly bool FolioMatches(ulong handle, ulong hash)
    {
        if (_owner is null) return true; // no memory to look at: nothing to compare
        using var lease = RegionMemory.Acquire(_memory);
        int order = (int)(handle & 0xFFF);
        if (order > Kho.MaxOrder || !_owner.TryAttachFolio(handle & ~0xFFFUL, out var folio)) return false;
        int size = Kho.PageSize << order;
        return folio.Length >= size && System.IO.Hashing.XxHash3.HashToUInt64(folio[..size]) == hash;
    }

    /// <summary>Parses a blob's descriptor (bounds-checked) and, when asked, checks an external blob's data against its checksum.</summary>
    internal BlobView ReadBlobView(bool verify, bool claim = true)
    {
        long at = Offset;
        uint kind = ReadUInt32();
        if (kind == 0) return new BlobView(ReadSpan((int)Math.Min(ReadUInt32(), int.MaxValue)), default, 0, 0, null);
        if (kind != 1) Throw.Corrupt($"blob kind {kind} is unknown", at);
        uint chunks = ReadUInt32();
        long length = ReadInt64();
        ulong hash = ReadUInt64();
        if (length <= 0 || chunks != (ulong)((length + RecordWriter.BlobChunkBytes - 1) / RecordWriter.BlobChunkBytes) || chunks > (uint)Remaining / 8)
            Throw.Corrupt($"blob of {length} bytes in {chunks} data segments is impossible", at);
        var view = new BlobView(default, ReadSpan((int)chunks * 8), length, hash, _owner ?? throw new KStateCorruptException("a blob with data segments outside a stream", at));
        if (verify) view.Check(at, claim);
        return view;
    }

    [System.Diagnostics.CodeAnalysis.DoesNotReturn]
    private readonly void ThrowShort(int n) =>
        Throw.Corrupt($"record payload too short: needed {n} bytes, {_data.Length - _pos} left", _base + _pos);
}

/// <summary>A blob as its record describes it: inline bytes, or data segments with a length and checksum.</summary>
internal readonly unsafe ref struct BlobView
{
    private readonly ReadOnlySpan<byte> _inline;
    private readonly ReadOnlySpan<byte> _chunks;
    private readonly ulong _hash;
    private readonly RecordReader? _owner;
    private readonly long _external;

    public BlobView(ReadOnlySpan<byte> inline, ReadOnlySpan<byte> chunks, long length, ulong hash, RecordReader? owner)
    {
        _inline = inline;
        _chunks = chunks;
        _external = length;
        _hash = hash;
        _owner = owner;
    }

    public long Length => _owner is null ? _inline.Length : _external;

    private ReadOnlySpan<byte> Chunk(int i, long offset)
    {
        ulong phys = BinaryPrimitives.ReadUInt64LittleEndian(_chunks[(i * 8)..]);
        int bytes = (int)Math.Min(RecordWriter.BlobChunkBytes, _external - (long)i * RecordWriter.BlobChunkBytes);
        return new ReadOnlySpan<byte>(_owner!.BlobChunk(phys, bytes, offset), bytes);
    }

    /// <summary>The blob as one span, in place: inline bytes, or its only data segment (attached).</summary>
    public ReadOnlySpan<byte> AsSpan(long offset)
    {
        if (_owner is null) return _inline;
        if (_chunks.Length != 8) Throw.Invalid($"the blob at offset {offset} has {_external} bytes in {_chunks.Length / 8} data segments; only a blob of one segment can be read in place");
        return Chunk(0, offset);
    }

    // Which data segments, in which order: the whole list, so a blob naming other later segments is checked again.
    private ulong Segments => System.IO.Hashing.XxHash3.HashToUInt64(_chunks);

    /// <summary>Checks the checksum, then attaches (claims) the data segments.</summary>
    public void Verify(long offset) => Check(offset, claim: true);

    /// <summary>Checks the checksum, looking at the data segments without attaching them where the memory allows it,
    /// so that a blob naming memory it does not own (a mismatched description, a damaged record) claims nothing; with
    /// <paramref name="claim"/> they are attached once the checksum holds, else <see cref="Claim"/> does it later (a
    /// restore claims only once its post_load hooks succeeded).</summary>
    public void Check(long offset, bool claim)
    {
        if (_owner is null) return; // inline: the record's checksum covers it
        if (_owner.IsBlobVerified(Segments, _external, _hash))
        {
            if (claim) Claim(offset);
            return;
        }
        using var lease = RegionMemory.Acquire(_owner.Owner);
        var h = BlobHash.Instance;
        h.Reset();
        int count = _chunks.Length / 8;
        bool peeked = true;
        for (int i = 0; i < count && peeked; i++)
        {
            if (TryPeek(i, out var chunk)) h.Append(chunk);
            else peeked = false;
        }
        if (!peeked)
        {
            h.Reset();
            for (int i = 0; i < count; i++) h.Append(Chunk(i, offset));
        }
        if (h.GetCurrentHashAsUInt64() != _hash) Throw.Corrupt("blob data checksum mismatch", offset);
        _owner.MarkBlobVerified(Segments, _external, _hash);
        if (peeked && claim) Claim(offset);
    }

    /// <summary>Attaches (claims) the data segments; those attached already stay as they are.</summary>
    public void Claim(long offset)
    {
        if (_owner is null) return;
        using var lease = RegionMemory.Acquire(_owner.Owner);
        for (int i = 0; i < _chunks.Length / 8; i++) Chunk(i, offset);
    }

    /// <summary>Copies the blob out; without <paramref name="claim"/> the data segments are read where they are,
    /// unclaimed, when the memory allows it.</summary>
    public void CopyTo(Span<byte> destination, bool claim = true)
    {
        if (_owner is null)
        {
            _inline.CopyTo(destination);
            return;
        }
        using var lease = RegionMemory.Acquire(_owner.Owner);
        for (int i = 0; i < _chunks.Length / 8; i++)
        {
            var target = destination[(i * RecordWriter.BlobChunkBytes)..];
            if (!claim && TryPeek(i, out var chunk)) chunk.CopyTo(target);
            else Chunk(i, -1).CopyTo(target);
        }
    }

    private bool TryPeek(int i, out ReadOnlySpan<byte> chunk)
    {
        ulong phys = BinaryPrimitives.ReadUInt64LittleEndian(_chunks[(i * 8)..]);
        int bytes = (int)Math.Min(RecordWriter.BlobChunkBytes, _external - (long)i * RecordWriter.BlobChunkBytes);
        return _owner!.TryPeekBlobChunk(phys, bytes, out chunk);
    }
}

internal static class BlobHash
{
    [ThreadStatic] private static System.IO.Hashing.XxHash3? t_hash;

    public static System.IO.Hashing.XxHash3 Instance => t_hash ??= new System.IO.Hashing.XxHash3();
}
