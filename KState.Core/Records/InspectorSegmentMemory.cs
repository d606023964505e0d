using KState.Inspection;
using KState.Machine.Memory;

namespace KState.Core.Records;

/// <summary>Reads streams out of a region under inspection (<see cref="KhoInspector"/>): nothing is restored or written.</summary>
internal sealed class InspectorSegmentMemory(KhoInspector inspector) : ISegmentMemory
{
    RegionMemory? ISegmentMemory.Owner => inspector.Memory;

    /// <inheritdoc/>
    public Span<byte> Allocate(int order, out ulong phys)
    {
        Throw.Invalid("an inspected region is read-only");
        phys = 0;
        return default;
    }

    /// <inheritdoc/>
    public void Free(ulong phys, int order) { }

    /// <inheritdoc/>
    public bool TryAttach(ulong phys, out ReadOnlySpan<byte> segment) => inspector.TryAttachPreserved(phys, out segment);
}
