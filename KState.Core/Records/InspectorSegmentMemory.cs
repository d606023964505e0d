namespace KState.Core.Records;

/// <summary>Reads streams out of a region under inspection (<see cref="KhoInspector"/>): nothing is restored or written.</summary>
public sealed unsafe class InspectorSegmentMemory(KhoInspector inspector) : ISegmentMemory
{
    /// <inheritdoc/>
    public byte* Allocate(int order, out ulong phys) => throw new KStateInvalidException("an inspected region is read-only");

    /// <inheritdoc/>
    public void Free(ulong phys, int order) { }

    /// <inheritdoc/>
    public byte* Attach(ulong phys, out int available) => inspector.AttachPreserved(phys, out available);
}
