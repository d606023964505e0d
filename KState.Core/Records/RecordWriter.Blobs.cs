using System.Buffers.Binary;
using System.IO.Hashing;
using KState.Core.Records;

namespace KState;

public sealed partial class RecordWriter
{
    /// <summary>Blobs up to this size are written inside the record; larger ones go to data segments of their own.</summary>
    internal const int BlobInlineLimit = 64 * 1024;

    /// <summary>Size of a full data segment (the largest folio).</summary>
    internal const int BlobChunkBytes = Kho.PageSize << Format.MaxSegmentOrder;

    private readonly List<(ulong Phys, int Order)> _dataSegments = [];
    private int _dataMark; // data segments of the open record start here
    private XxHash3? _blobHash;

    /// <summary>Data segments holding large blobs (preserved with the stream).</summary>
    internal IReadOnlyList<(ulong Phys, int Order)> DataSegments => _dataSegments;

    /// <summary>
    /// Appends a blob: bytes of any size (docs/FORMAT.md, "Blobs"). Up to <see cref="BlobInlineLimit"/> they are
    /// written inside the record; larger ones are copied into data segments of their own (largest folios), with
    /// their length, XXH3 checksum and phys addresses in the record, so records stay small and a blob is bounded
    /// only by the region. Read it back with <see cref="RecordCursor.ReadBlob(Span{byte})"/>.
    /// </summary>
    /// <exception cref="KStateInvalidException">No record is open.</exception>
    /// <exception cref="KStateOutOfMemoryException">No memory for the data segments; the record is dropped.</exception>
    public void PutBlob(ReadOnlySpan<byte> data)
    {
        if (_depth == 0) ThrowUnbalanced("put with no open record");
        if (data.Length <= BlobInlineLimit)
        {
            PutUInt32(0);
            PutUInt32((uint)data.Length);
            Put(data);
            return;
        }
        using var lease = KState.Machine.Memory.RegionMemory.Acquire(_owner);
        int chunks = (int)(((long)data.Length + BlobChunkBytes - 1) / BlobChunkBytes);
        var h = _blobHash ??= new XxHash3();
        h.Reset();
        int first = _dataSegments.Count;
        try
        {
            for (int i = 0; i < chunks; i++)
            {
                var piece = data.Slice(i * BlobChunkBytes, Math.Min(BlobChunkBytes, data.Length - i * BlobChunkBytes));
                int order = 0;
                while ((Kho.PageSize << order) < piece.Length) order++;
                var segment = _memory.Allocate(order, out ulong phys);
                _dataSegments.Add((phys, order));
                var target = segment[..piece.Length];
                // Copy and hash in 64 KiB steps, so the hash reads what the copy just left in cache.
                for (int at = 0; at < piece.Length; at += 65536)
                {
                    int n = Math.Min(65536, piece.Length - at);
                    piece.Slice(at, n).CopyTo(target[at..]);
                    h.Append(target.Slice(at, n));
                }
                segment[piece.Length..(Kho.PageSize << order)].Clear(); // no stale bytes handed over
            }
        }
        catch (Exception e)
        {
            FreeDataSegmentsFrom(first);
            AbandonOpenRecord();
            AbandonedBy = e;
            throw;
        }
        var d = ReserveInRecord(24 + 8 * chunks);
        BinaryPrimitives.WriteUInt32LittleEndian(d, 1);
        BinaryPrimitives.WriteUInt32LittleEndian(d[4..], (uint)chunks);
        BinaryPrimitives.WriteUInt64LittleEndian(d[8..], (ulong)data.Length);
        BinaryPrimitives.WriteUInt64LittleEndian(d[16..], h.GetCurrentHashAsUInt64());
        for (int i = 0; i < chunks; i++) BinaryPrimitives.WriteUInt64LittleEndian(d[(24 + 8 * i)..], _dataSegments[first + i].Phys);
    }

    private void FreeDataSegmentsFrom(int index)
    {
        for (int i = _dataSegments.Count - 1; i >= index; i--)
        {
            _memory.Free(_dataSegments[i].Phys, _dataSegments[i].Order);
            _dataSegments.RemoveAt(i);
        }
    }
}
