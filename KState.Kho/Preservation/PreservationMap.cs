using System.IO.Hashing;
using KState.Machine.Memory;
using KState.Machine.Region;

namespace KState.Machine.Preservation;

/// <summary>
/// The preserved-memory map, kept in the region and updated as preservation happens (docs/FORMAT.md,
/// "Preserved-memory map"): one byte per page (a block head carries its order, its pages after it are tails),
/// plus a summary bitmap with one bit per map page that may be non-zero, so finalize, boot and clear touch only
/// the map pages that are in use. Not thread-safe: <see cref="Kho"/> holds its lock.
/// </summary>
internal sealed class PreservationMap
{
    public const byte HeadFlag = 0x80, TailByte = 0x40, RangeFlag = 0x20, ContinuationFlag = 0x10, OrderMask = 0x0F;
    private readonly RegionMemory _memory;
    private readonly Layout _layout;

    public PreservationMap(RegionMemory memory, Layout layout)
    {
        _memory = memory;
        _layout = layout;
    }

    // Every access is a span checked against the map (and the region): a page number from a damaged map cannot
    // reach outside it.
    private Span<byte> Block(ulong page, int order)
    {
        if (page >= _layout.TotalPages || (ulong)(1 << order) > _layout.TotalPages - page) Throw.Invalid($"map block {page} order {order} is outside the map");
        return _memory.At(_layout.MapOffset + page, 1 << order);
    }

    private Span<byte> MapPage(ulong index) => _memory.At(_layout.MapOffset + index * Layout.PageSize, Layout.MapPageBytes);

    private Span<byte> Summary => _memory.At(_layout.SummaryOffset, (int)_layout.SummaryBytes);

    /// <summary>The head byte of a block: a folio, or a piece of a range (the first piece, or one that continues it).</summary>
    public static byte HeadByte(int order, bool range, bool continuation = false) =>
        (byte)(HeadFlag | (range ? RangeFlag : 0) | (continuation ? ContinuationFlag : 0) | order);

    // A map page whose summary bit is clear is treated as all zero, whatever it holds (a damaged or abandoned
    // generation may have left bytes there): it is never read, and it is cleared when its bit is first set.
    private bool IsTouched(ulong page)
    {
        ulong mapPage = page / Layout.PageSize; // a block of at most MaxOrder never straddles two map pages
        return (Summary[(int)(mapPage >> 3)] & (1 << (int)(mapPage & 7))) != 0;
    }

    /// <summary>True when no page of the block is preserved.</summary>
    public bool IsFree(ulong page, int order) => !IsTouched(page) || !Block(page, order).ContainsAnyExcept((byte)0);

    public byte HeadAt(ulong page) => IsTouched(page) ? Block(page, 0)[0] : (byte)0;

    public void Mark(ulong page, int order, bool range, bool continuation = false)
    {
        ulong mapPage = page / Layout.PageSize;
        if (!IsTouched(page))
        {
            MapPage(mapPage).Clear();
            Summary[(int)(mapPage >> 3)] |= (byte)(1 << (int)(mapPage & 7));
        }
        var b = Block(page, order);
        b[1..].Fill(TailByte);
        b[0] = HeadByte(order, range, continuation);
    }

    public void Clear(ulong page, int order)
    {
        if (IsTouched(page)) Block(page, order).Clear();
    }

    /// <summary>Every block head in a copy of a map (an incoming map at boot or inspection), in page order.</summary>
    public static List<PreservedBlock> Blocks(PageMap map)
    {
        var list = new List<PreservedBlock>();
        for (int c = 0; c < map.ChunkCount; c++)
        {
            var chunk = map.Chunk(c);
            if (chunk is null) continue;
            for (int i = 0; i < chunk.Length; i++)
            {
                int next = chunk.AsSpan(i).IndexOfAnyExcept((byte)0);
                if (next < 0) break;
                i += next;
                byte b = chunk[i];
                if ((b & HeadFlag) == 0) continue;
                ulong page = ((ulong)c << PageMap.ChunkShift) + (ulong)i;
                list.Add(new PreservedBlock(Layout.PhysBase + (page << Layout.PageShift), b & OrderMask, (b & RangeFlag) != 0));
            }
        }
        return list;
    }

    /// <summary>The first summary bit set beyond the last map page, or -1 (such a bit is damage).</summary>
    public long StraySummaryBit()
    {
        var summary = Summary;
        for (ulong bit = _layout.MapPages; bit < (ulong)summary.Length * 8; bit++)
            if ((summary[(int)(bit >> 3)] & (1 << (int)(bit & 7))) != 0) return (long)bit;
        return -1;
    }

    /// <summary>Visits each map page whose summary bit is set.</summary>
    public void ForEachTouchedPage(Action<ulong> visit)
    {
        var summary = Summary;
        for (int i = summary.IndexOfAnyExcept((byte)0); i >= 0 && i < summary.Length; i = NextNonZero(summary, i + 1))
            for (int bit = 0; bit < 8; bit++)
                if ((summary[i] & (1 << bit)) != 0) visit((ulong)i * 8 + (ulong)bit);
    }

    private static int NextNonZero(ReadOnlySpan<byte> s, int from)
    {
        if (from >= s.Length) return -1;
        int i = s[from..].IndexOfAnyExcept((byte)0);
        return i < 0 ? -1 : from + i;
    }

    /// <summary>A checksum of the summary and every touched map page, committed with the handover.</summary>
    public ulong Checksum()
    {
        var h = new XxHash3();
        h.Append(Summary);
        ForEachTouchedPage(p => h.Append(p < _layout.MapPages ? MapPage(p) : default(ReadOnlySpan<byte>)));
        return h.GetCurrentHashAsUInt64();
    }

    /// <summary>Copies every touched map page into <paramref name="into"/> (the incoming map of a boot).</summary>
    public void CopyTo(PageMap into) =>
        ForEachTouchedPage(p =>
        {
            if (p < _layout.MapPages) MapPage(p).CopyTo(into.GetOrAddChunk((int)p));
        });

    /// <summary>Empties the map: every touched page, then the summary.</summary>
    public void ClearAll()
    {
        ForEachTouchedPage(p =>
        {
            if (p < _layout.MapPages) MapPage(p).Clear();
        });
        Summary.Clear();
    }
}
