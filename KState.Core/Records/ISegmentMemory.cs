using KState.Machine.Memory;

namespace KState.Core.Records;

/// <summary>
/// Where a stream's segments live: KHO folios in production (<see cref="KhoSegmentMemory"/>), a plain buffer in
/// tests and tools. Segments are named by phys address; nothing in a segment ever holds a virtual address. The
/// spans handed out are native memory that stays where it is until the segment is freed (or the memory disposed):
/// writers and readers keep their place in it between calls.
/// </summary>
internal interface ISegmentMemory
{
    /// <summary>A segment of 2^<paramref name="order"/> pages. Its bytes are undefined: the writer initializes every
    /// byte it hands over (records, padding, and the zero tail it writes when sealing), so nothing is zeroed twice.</summary>
    /// <exception cref="KStateOutOfMemoryException">No memory left.</exception>
    Span<byte> Allocate(int order, out ulong phys);

    /// <summary>Gives a segment back (a dropped substream, an abandoned partial record).</summary>
    void Free(ulong phys, int order);

    /// <summary>Reading side: the bytes available from the segment at <paramref name="phys"/> on; false when there is
    /// no segment at that address (never preserved, already taken, or out of range).</summary>
    bool TryAttach(ulong phys, out ReadOnlySpan<byte> segment);

    /// <summary>Like <see cref="TryAttach"/>, but takes nothing: the bytes of a segment still to attach, so that a blob's
    /// checksum is checked before its data segments are claimed (a record that names memory it does not own claims
    /// nothing). False when the memory cannot look without attaching; the reader then attaches to check.</summary>
    internal bool TryPeek(ulong phys, out ReadOnlySpan<byte> segment)
    {
        segment = default;
        return false;
    }

    /// <summary>The owner of the memory's lifetime (a region's mapping), on which readers and writers take leases;
    /// null for memory that outlives them.</summary>
    internal RegionMemory? Owner => null;
}
