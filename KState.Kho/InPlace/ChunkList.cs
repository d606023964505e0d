using System.Buffers.Binary;
using KState.Machine.Memory;
using KState.Machine.Region;

namespace KState.Machine.InPlace;

/// <summary>
/// The chunk list that records a preserved vmalloc area: a chain of preserved pages, each holding the phys of the
/// next chunk, a count, and the phys of that many frames (docs/FORMAT.md, "Vmalloc chunk list"). Written by the
/// generation that preserves the area, read back and validated entirely before anything is claimed.
/// </summary>
internal static class ChunkList
{
    public const uint Magic = 0x434D564B; // "KVMC" little-endian
    public const int MagicOffset = 0, CountOffset = 4, NextOffset = 8, HeaderBytes = 16;
    public const int EntriesPerChunk = ((int)Layout.PageSize - HeaderBytes) / sizeof(ulong);

    /// <summary>Chunk pages needed for <paramref name="frames"/> frames.</summary>
    public static int ChunksFor(int frames) => (frames + EntriesPerChunk - 1) / EntriesPerChunk;

    /// <summary>Writes one whole chunk page: header, entries, zeros after them.</summary>
    public static void Write(Span<byte> page, ulong next, ReadOnlySpan<ulong> entries)
    {
        page.Clear();
        BinaryPrimitives.WriteUInt32LittleEndian(page[MagicOffset..], Magic);
        BinaryPrimitives.WriteUInt32LittleEndian(page[CountOffset..], (uint)entries.Length);
        BinaryPrimitives.WriteUInt64LittleEndian(page[NextOffset..], next);
        for (int i = 0; i < entries.Length; i++) BinaryPrimitives.WriteUInt64LittleEndian(page[(HeaderBytes + i * sizeof(ulong))..], entries[i]);
    }

    /// <summary>
    /// Reads a preservation's chunk list and checks all of it: the record's fields, each chunk page (inside the region,
    /// a preserved chunk as <paramref name="isChunk"/> says, never visited twice), each count, each frame (a block of
    /// the order, preserved as <paramref name="isFrame"/> says, never listed twice) and the total. Reads only through
    /// checked spans and claims nothing.
    /// </summary>
    /// <param name="memory">The region's mapping.</param>
    /// <param name="layout">The region's layout.</param>
    /// <param name="p">The preservation record.</param>
    /// <param name="isChunk">True when the page is a chunk page waiting for this walk (a preserved order-0 folio).</param>
    /// <param name="isFrame">True when the page heads a frame waiting for this walk (a preserved folio of the order).</param>
    /// <param name="chunkPages">The chunk pages, in list order.</param>
    /// <returns>The frames' phys, in the area's order.</returns>
    /// <exception cref="KStateNotFoundException">The first chunk is not a preserved chunk page (never preserved, or taken already).</exception>
    /// <exception cref="KStateCorruptException">Anything else is wrong.</exception>
    public static ulong[] Read(RegionMemory memory, Layout layout, in KhoVmalloc p, Func<ulong, bool> isChunk, Func<ulong, int, bool> isFrame, out List<ulong> chunkPages)
    {
        if (p.Flags != KhoVmalloc.FlagVmalloc) Throw.Corrupt($"{p}: unknown flags 0x{p.Flags:x} (expected 0x{KhoVmalloc.FlagVmalloc:x})");
        if (p.Order > Layout.MaxOrder) Throw.Corrupt($"{p}: frame order {p.Order} is above {Layout.MaxOrder}");
        int order = p.Order;
        if (p.TotalPages == 0 || (p.TotalPages & ((1u << order) - 1)) != 0)
            Throw.Corrupt($"{p}: {p.TotalPages} pages is not a non-zero multiple of frames of order {order}");
        if (p.TotalPages > layout.TotalPages) Throw.Corrupt($"{p}: {p.TotalPages} pages is more than the region holds");
        if (!layout.IsBlock(p.First, 0, out ulong page)) Throw.Corrupt($"{p}: first chunk 0x{p.First:x} is not a page of the region");
        if (!isChunk(page)) Throw.NotFound($"{p}: no preserved chunk list at 0x{p.First:x} (never preserved, restored or unpreserved already, or a cold boot)");

        int expected = (int)(p.TotalPages >> order);
        var frames = new ulong[expected];
        int n = 0;
        var seen = new HashSet<ulong>();
        chunkPages = [];
        ulong phys = p.First;
        long from = -1; // region offset of the field that named this chunk (-1: the record itself)
        while (phys != 0)
        {
            if (!layout.IsBlock(phys, 0, out page)) Throw.Corrupt($"{p}: chunk {chunkPages.Count} phys 0x{phys:x} is not a page of the region", from);
            if (!isChunk(page)) Throw.Corrupt($"{p}: chunk {chunkPages.Count} at 0x{phys:x} is not a preserved chunk page", from);
            if (!seen.Add(page)) Throw.Corrupt($"{p}: chunk {chunkPages.Count} at 0x{phys:x} is listed twice (a loop)", from);
            chunkPages.Add(page);
            ulong offset = phys - Layout.PhysBase;
            ReadOnlySpan<byte> chunk = memory.Pages(page, 0);
            if (BinaryPrimitives.ReadUInt32LittleEndian(chunk[MagicOffset..]) != Magic)
                Throw.Corrupt($"{p}: chunk at 0x{phys:x} has no chunk magic", (long)offset + MagicOffset);
            uint count = BinaryPrimitives.ReadUInt32LittleEndian(chunk[CountOffset..]);
            if (count == 0 || count > EntriesPerChunk)
                Throw.Corrupt($"{p}: chunk at 0x{phys:x} has {count} entries (1..{EntriesPerChunk})", (long)offset + CountOffset);
            if (count > (uint)(expected - n))
                Throw.Corrupt($"{p}: the chunks list more frames than {p.TotalPages} pages of order {order} hold", (long)offset + CountOffset);
            for (int i = 0; i < (int)count; i++)
            {
                int at = HeaderBytes + i * sizeof(ulong);
                ulong frame = BinaryPrimitives.ReadUInt64LittleEndian(chunk[at..]);
                if (!layout.IsBlock(frame, order, out ulong fp))
                    Throw.Corrupt($"{p}: frame {n} phys 0x{frame:x} is not a block of order {order} of the region", (long)offset + at);
                if (!isFrame(fp, order))
                    Throw.Corrupt($"{p}: frame {n} at 0x{frame:x} is not preserved as a folio of order {order} waiting to be restored", (long)offset + at);
                if (!seen.Add(fp)) Throw.Corrupt($"{p}: frame 0x{frame:x} is listed twice", (long)offset + at);
                frames[n++] = frame;
            }
            from = (long)offset + NextOffset;
            phys = BinaryPrimitives.ReadUInt64LittleEndian(chunk[NextOffset..]);
        }
        if (n != expected) Throw.Corrupt($"{p}: the chunks list {n} frames, {expected} expected");
        return frames;
    }
}
