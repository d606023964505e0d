using KState.Machine.Memory;

namespace KState.Core.Records;

/// <summary>Segments as KHO folios: preserved as soon as they are allocated, restored when a reader attaches them.</summary>
internal sealed class KhoSegmentMemory(Kho kho) : ISegmentMemory
{
    /// <summary>The machine the segments live in.</summary>
    public Kho Kho { get; } = kho;

    RegionMemory? ISegmentMemory.Owner => Kho.Memory;

    /// <inheritdoc/>
    public Span<byte> Allocate(int order, out ulong phys)
    {
        if (!Kho.TryAllocFolioUnzeroed(order, out var folio))
            Throw.OutOfMemory($"no free folio of order {order} for a stream segment ({Kho.FreePages} pages free)");
        try
        {
            Kho.PreserveFolio(folio);
        }
        catch
        {
            Kho.PutFolio(folio);
            throw;
        }
        phys = folio.Phys;
        return Kho.FolioSpan(folio);
    }

    /// <inheritdoc/>
    public void Free(ulong phys, int order)
    {
        var folio = new Folio(phys, order);
        if (Kho.IsPreserved(folio)) Kho.UnpreserveFolio(folio);
        Kho.PutFolio(folio);
    }

    bool ISegmentMemory.TryPeek(ulong phys, out ReadOnlySpan<byte> segment)
    {
        segment = default;
        if (!Kho.CanRestoreFolio(phys, out int order)) return false;
        segment = Kho.PhysSpan(phys, Kho.PageSize << order);
        return true;
    }

    /// <inheritdoc/>
    public bool TryAttach(ulong phys, out ReadOnlySpan<byte> segment)
    {
        segment = default;
        if (!Kho.TryRestoreFolio(phys, out var folio)) return false;
        segment = Kho.FolioSpan(folio);
        return true;
    }
}
