namespace KState.Core.Records;

/// <summary>Segments as KHO folios: preserved as soon as they are allocated, restored when a reader attaches them.</summary>
public sealed unsafe class KhoSegmentMemory(Kho kho) : ISegmentMemory
{
    /// <summary>The machine the segments live in.</summary>
    public Kho Kho { get; } = kho;

    /// <inheritdoc/>
    public byte* Allocate(int order, out ulong phys)
    {
        if (!Kho.TryAllocFolioUnzeroed(order, out var folio))
            throw new KStateOutOfMemoryException($"no free folio of order {order} for a stream segment ({Kho.FreePages} pages free)");
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
        return Kho.FolioAddress(folio);
    }

    /// <inheritdoc/>
    public void Free(ulong phys, int order)
    {
        var folio = new Folio(phys, order);
        if (Kho.IsPreserved(folio)) Kho.UnpreserveFolio(folio);
        Kho.PutFolio(folio);
    }

    /// <inheritdoc/>
    public byte* Attach(ulong phys, out int available)
    {
        available = 0;
        if (!Kho.TryRestoreFolio(phys, out var folio)) return null;
        available = (int)folio.Size;
        return Kho.FolioAddress(folio);
    }
}
