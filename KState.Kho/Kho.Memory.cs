using KState.Machine.Memory;
using KState.Machine.Region;

namespace KState;

public sealed partial class Kho
{
    /// <summary>Allocates a zeroed folio of 2^<paramref name="order"/> pages (<c>kho_folio_alloc</c>).</summary>
    /// <exception cref="KStateInvalidException">The order is outside 0..<see cref="MaxOrder"/>.</exception>
    /// <exception cref="KStateOutOfMemoryException">No free block of that order is left.</exception>
    public Folio AllocFolio(int order)
    {
        if (!TryAllocFolio(order, out var folio))
            Throw.OutOfMemory($"no free folio of order {order} in region {RegionPath} ({FreePages} pages free, fragmented or exhausted)");
        return folio;
    }

    /// <summary>Allocates a zeroed folio; false when none of that order is free.</summary>
    /// <exception cref="KStateInvalidException">The order is outside 0..<see cref="MaxOrder"/>.</exception>
    public bool TryAllocFolio(int order, out Folio folio) => TryAlloc(_memory, order, out folio, zero: true);

    /// <summary>Allocates a folio without zeroing it: its bytes are whatever the memory held (old data, or poison).
    /// For writers that initialize every byte they hand over, such as KSTATE's stream segments.</summary>
    /// <exception cref="KStateInvalidException">The order is outside 0..<see cref="MaxOrder"/>.</exception>
    public bool TryAllocFolioUnzeroed(int order, out Folio folio) => TryAlloc(_memory, order, out folio, zero: false);

    /// <summary>Allocates a zeroed folio from the scratch area: memory for this generation's early use that can never be preserved.</summary>
    /// <exception cref="KStateOutOfMemoryException">Scratch is exhausted.</exception>
    public Folio AllocScratchFolio(int order)
    {
        if (!TryAlloc(_scratch, order, out var folio, zero: true)) Throw.OutOfMemory($"no free scratch folio of order {order}");
        return folio;
    }

    private bool TryAlloc(BuddyAllocator from, int order, out Folio folio, bool zero)
    {
        if ((uint)order > MaxOrder) Throw.BadOrder(order);
        ulong page;
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (!from.TryAllocate(order, out page))
            {
                folio = default;
                return false;
            }
            if (zero) _mem.AddRef(); // cannot fail under the lock: a Dispose waits for it, and the unmap for the lease
        }
        if (zero)
        {
            // Zeroing outside the lock (the block is ours alone now) but under a lease: a Dispose meanwhile defers the unmap.
            try
            {
                _mem.Pages(page, order).Clear();
            }
            finally
            {
                _mem.Release();
            }
        }
        folio = new Folio(PhysOfPage(page), order);
        return true;
    }

    /// <summary>Frees a folio (<c>kho_folio_put</c>); it must be allocated (or restored) and not preserved.</summary>
    /// <exception cref="KStateInvalidException">It is not an allocated folio of that order.</exception>
    /// <exception cref="KStateBusyException">It (or part of it) is still preserved.</exception>
    public void PutFolio(Folio folio)
    {
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (!IsValidBlock(folio.Phys, folio.Order, out ulong page)) Throw.Invalid($"{folio} is not a folio of this region");
            var from = IsScratchPage(page) ? _scratch : _memory;
            if (!from.IsAllocated(page, folio.Order)) Throw.Invalid($"{folio} is not allocated (double free, or the wrong order)");
            if (!IsScratchPage(page) && !_map.IsFree(page, folio.Order)) Throw.Busy($"{folio} is preserved; unpreserve it before freeing it");
            Poison(page, folio.Order);
            from.Free(page, folio.Order);
        }
    }

    /// <summary>Pages currently free for allocation (scratch not included).</summary>
    public ulong FreePages
    {
        get { lock (_lock) return _memory.FreePages; }
    }

    private bool IsScratchPage(ulong page) => page >= _layout.ScratchStartPage && page < _layout.ScratchEndPage;
}
