using KState.Machine.Memory;
using KState.Machine.Preservation;
using KState.Machine.Region;

namespace KState.Machine.Boot;

/// <summary>
/// Checks an incoming preserved-memory map (already copied out of the region) completely before boot trusts any
/// of it: every non-zero byte must belong to a well-formed, naturally aligned block that lies in allocatable memory.
/// </summary>
internal static class MapValidator
{
    /// <returns>The number of preserved blocks.</returns>
    /// <exception cref="KStateCorruptException">The map is malformed; the offset is the region offset of the bad byte.</exception>
    public static int Validate(PageMap incoming, Layout layout)
    {
        int blocks = 0;
        ulong rangeEnd = ulong.MaxValue; // page after the last range piece: where a continuation piece may start
        for (int c = 0; c < incoming.ChunkCount; c++)
        {
            var chunk = incoming.Chunk(c);
            if (chunk is null) continue;
            ulong chunkPage = (ulong)c << PageMap.ChunkShift;
            int i = 0;
            while (true)
            {
                int next = chunk.AsSpan(i).IndexOfAnyExcept((byte)0);
                if (next < 0) break;
                i += next;
                ulong page = chunkPage + (ulong)i;
                long where = (long)(layout.MapOffset + page);
                byte b = chunk[i];
                if ((b & PreservationMap.HeadFlag) == 0 || (b & PreservationMap.TailByte) != 0)
                    Throw.Corrupt($"preserved-memory map: byte 0x{b:x2} for page {page} is not a block head", where);
                int order = b & PreservationMap.OrderMask;
                if (order > Layout.MaxOrder) Throw.Corrupt($"preserved-memory map: order {order} at page {page} exceeds {Layout.MaxOrder}", where);
                int n = 1 << order;
                if ((page & (ulong)(n - 1)) != 0) Throw.Corrupt($"preserved-memory map: block of order {order} at page {page} is not naturally aligned", where);
                if (page < layout.DataStartPage || page + (ulong)n > layout.TotalPages)
                    Throw.Corrupt($"preserved-memory map: block at page {page} lies outside allocatable memory", where);
                if (chunk.AsSpan(i + 1, n - 1).ContainsAnyExcept(PreservationMap.TailByte))
                    Throw.Corrupt($"preserved-memory map: block of order {order} at page {page} has a damaged tail", where);
                bool range = (b & PreservationMap.RangeFlag) != 0, continues = (b & PreservationMap.ContinuationFlag) != 0;
                if (continues && (!range || rangeEnd != page))
                    Throw.Corrupt($"preserved-memory map: range piece at page {page} continues no range", where);
                rangeEnd = range ? page + (ulong)n : ulong.MaxValue;
                blocks++;
                i += n;
                if (i >= chunk.Length) break;
            }
        }
        return blocks;
    }
}
