namespace KState.Core.Records;

/// <summary>
/// Where a stream's segments live: KHO folios in production (<see cref="KhoSegmentMemory"/>), a plain buffer in
/// tests and tools. Segments are named by phys address; nothing in a segment ever holds a virtual address.
/// </summary>
public unsafe interface ISegmentMemory
{
    /// <summary>A segment of 2^<paramref name="order"/> pages. Its bytes are undefined: the writer initializes every
    /// byte it hands over (records, padding, and the zero tail it writes when sealing), so nothing is zeroed twice.</summary>
    /// <exception cref="KStateOutOfMemoryException">No memory left.</exception>
    byte* Allocate(int order, out ulong phys);

    /// <summary>Gives a segment back (a dropped substream, an abandoned partial record).</summary>
    void Free(ulong phys, int order);

    /// <summary>Reading side: the segment at <paramref name="phys"/> and the bytes available there, or null when
    /// there is no segment at that address (never preserved, already taken, or out of range).</summary>
    byte* Attach(ulong phys, out int available);
}
