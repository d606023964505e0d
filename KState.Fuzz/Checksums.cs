using System.Buffers.Binary;
using System.IO.Hashing;

namespace KState.Fuzz;

/// <summary>
/// Recomputes the checksums docs/FORMAT.md defines over mutated bytes, so that the fuzzer gets past them to the
/// structure behind (every input is also tried without this, so the checksum checks themselves are fuzzed too).
/// Only the on-disk format is used here, never KState's internals.
/// </summary>
internal static class Checksums
{
    private const int PageSize = 4096;
    private const ulong PhysBase = 0x1_0000_0000;
    private const uint SlotMagic = 0x544D_434B; // "KCMT"

    /// <summary>The region header, the map and area checksums of both commit slots, then the slots' own.</summary>
    public static void FixRegion(Span<byte> region)
    {
        if (region.Length < PageSize) return;
        BinaryPrimitives.WriteUInt64LittleEndian(region[96..], XxHash3.HashToUInt64(region[8..96]));
        ulong map = MapChecksum(region);
        foreach (int at in (ReadOnlySpan<int>)[1024, 2048])
        {
            var slot = region.Slice(at, 64);
            if (BinaryPrimitives.ReadUInt32LittleEndian(slot) != SlotMagic) continue;
            ulong areaPhys = BinaryPrimitives.ReadUInt64LittleEndian(slot[16..]);
            ulong areaBytes = BinaryPrimitives.ReadUInt64LittleEndian(slot[24..]);
            if (areaPhys >= PhysBase && areaPhys - PhysBase <= (ulong)region.Length && areaBytes <= (ulong)region.Length - (areaPhys - PhysBase))
                BinaryPrimitives.WriteUInt64LittleEndian(slot[40..], XxHash3.HashToUInt64(region.Slice((int)(areaPhys - PhysBase), (int)areaBytes)));
            BinaryPrimitives.WriteUInt64LittleEndian(slot[48..], map);
            BinaryPrimitives.WriteUInt64LittleEndian(slot[56..], XxHash3.HashToUInt64(slot[..56]));
        }
    }

    /// <summary>XXH3 of the summary bitmap, then of every map page whose summary bit is set, in order (FORMAT.md).</summary>
    private static ulong MapChecksum(ReadOnlySpan<byte> region)
    {
        long pages = region.Length / PageSize;
        long mapBytes = AlignUp(pages, PageSize);
        long summaryBytes = AlignUp((mapBytes / PageSize + 7) / 8, PageSize);
        long mapOffset = PageSize + summaryBytes;
        if (mapOffset + mapBytes > region.Length) return 0;
        var summary = region.Slice(PageSize, (int)summaryBytes);
        var h = new XxHash3();
        h.Append(summary);
        for (int i = 0; i < summary.Length; i++)
            for (int bit = 0; bit < 8; bit++)
            {
                long page = i * 8L + bit;
                if ((summary[i] & (1 << bit)) != 0 && page < mapBytes / PageSize)
                    h.Append(region.Slice((int)(mapOffset + page * PageSize), PageSize));
            }
        return h.GetCurrentHashAsUInt64();
    }

    /// <summary>A stream segment's header checksum and the checksum of every top-level record it holds.</summary>
    public static void FixSegment(Span<byte> segment)
    {
        if (segment.Length < 64) return;
        BinaryPrimitives.WriteUInt64LittleEndian(segment, XxHash3.HashToUInt64(segment[8..64]));
        int used = (int)Math.Min(BinaryPrimitives.ReadUInt32LittleEndian(segment[36..]), (uint)segment.Length);
        for (int at = 64; at + 40 <= used;)
        {
            long total = 40 + AlignUp(BinaryPrimitives.ReadUInt32LittleEndian(segment[(at + 32)..]), 8);
            if (at + total > used) break;
            BinaryPrimitives.WriteUInt64LittleEndian(segment[at..], XxHash3.HashToUInt64(segment.Slice(at + 8, (int)total - 8)));
            at += (int)total;
        }
    }

    private static long AlignUp(long v, long a) => (v + a - 1) / a * a;
}
