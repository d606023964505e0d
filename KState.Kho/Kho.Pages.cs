using KState.Machine.Region;

namespace KState;

// The kernel's newer KHO memory API on whole frames: runs of pages (kho_preserve_pages & co) and allocate-and-preserve
// (kho_alloc_preserve & co). A run is a preserved range (PreservePhys), so it keeps its exact split and length.
public sealed partial class Kho
{
    /// <summary>Marks a run of <paramref name="pages"/> whole allocated frames at <paramref name="phys"/> for handover
    /// (<c>kho_preserve_pages</c>): any number of pages, not only a power of two. The next generation restores it with
    /// <see cref="TryRestorePages"/> as exactly that run, once. All or nothing.</summary>
    /// <exception cref="KStateBusyException">The handover is finalized.</exception>
    /// <exception cref="KStateInvalidException">No pages, phys not page aligned, outside allocated memory, or
    /// overlapping scratch or the region's metadata.</exception>
    /// <exception cref="KStateExistsException">Some page of the run is already preserved.</exception>
    /// <exception cref="ObjectDisposedException">The Kho was disposed.</exception>
    public void PreservePages(ulong phys, uint pages) => PreservePhys(phys, (ulong)pages << Layout.PageShift);

    /// <summary>Withdraws a run preserved by <see cref="PreservePages"/> with the same phys and number of pages
    /// (<c>kho_unpreserve_pages</c>). All or nothing.</summary>
    /// <exception cref="KStateBusyException">The handover is finalized.</exception>
    /// <exception cref="KStateInvalidException">No pages, or phys not page aligned or outside the region.</exception>
    /// <exception cref="KStateNotFoundException">That run was not preserved (another start or length).</exception>
    /// <exception cref="ObjectDisposedException">The Kho was disposed.</exception>
    public void UnpreservePages(ulong phys, uint pages) => UnpreservePhys(phys, (ulong)pages << Layout.PageShift);

    /// <summary>Takes ownership of a run preserved by the previous generation with <see cref="PreservePages"/>
    /// (<c>kho_restore_pages</c>); false on a cold boot, when no run of exactly that start and length was preserved
    /// (a shorter, longer or shifted run is refused), or when it was restored already. Its frames are then allocated
    /// memory of this generation: preserve them again, or free them with <see cref="FreePhys"/>.</summary>
    /// <exception cref="ObjectDisposedException">The Kho was disposed.</exception>
    public bool TryRestorePages(ulong phys, uint pages) => pages != 0 && TryRestorePhys(phys, (ulong)pages << Layout.PageShift);

    /// <summary>Allocates zeroed, physically contiguous memory of at least <paramref name="size"/> bytes, rounded up to
    /// 2^order pages, and preserves it as a folio (<c>kho_alloc_preserve</c>). Give it back with
    /// <see cref="UnpreserveFree"/>; the next generation restores it with <see cref="TryRestoreFolio"/> (or frees it
    /// with <see cref="RestoreFree"/>).</summary>
    /// <exception cref="KStateInvalidException">Size 0, or larger than a folio of <see cref="MaxOrder"/> (use
    /// <c>Vmalloc</c> for more).</exception>
    /// <exception cref="KStateOutOfMemoryException">No free block of that order is left.</exception>
    /// <exception cref="KStateBusyException">The handover is finalized (nothing stays allocated then).</exception>
    /// <exception cref="ObjectDisposedException">The Kho was disposed.</exception>
    public Folio AllocPreserve(ulong size)
    {
        int order = OrderFor(size);
        var folio = AllocFolio(order);
        try
        {
            PreserveFolio(folio);
        }
        catch
        {
            PutFolio(folio); // the caller never saw it: all or nothing
            throw;
        }
        return folio;
    }

    /// <summary>Unpreserves and frees memory from <see cref="AllocPreserve"/> in the generation that preserved it
    /// (<c>kho_unpreserve_free</c>).</summary>
    /// <exception cref="KStateBusyException">The handover is finalized.</exception>
    /// <exception cref="KStateInvalidException">Not a folio of this region.</exception>
    /// <exception cref="KStateNotFoundException">It is not preserved as a folio of that order.</exception>
    /// <exception cref="ObjectDisposedException">The Kho was disposed.</exception>
    public void UnpreserveFree(Folio folio)
    {
        lock (_lock) // one step: nobody can preserve or free it between the two
        {
            UnpreserveFolio(folio);
            PutFolio(folio);
        }
    }

    /// <summary>Restores the folio the previous generation preserved at <paramref name="phys"/> (from
    /// <see cref="AllocPreserve"/> or <see cref="PreserveFolio"/>) and frees it at once (<c>kho_restore_free</c>): the
    /// incoming generation gives back what it no longer needs.</summary>
    /// <exception cref="KStateNotFoundException">No folio preserved at phys is waiting to be restored (a cold boot, never
    /// preserved, preserved as a run of pages, or restored already).</exception>
    /// <exception cref="ObjectDisposedException">The Kho was disposed.</exception>
    public void RestoreFree(ulong phys)
    {
        lock (_lock)
        {
            if (!TryRestoreFolio(phys, out var folio)) Throw.NotFound($"cannot restore and free 0x{phys:x}: no preserved folio there is waiting to be restored");
            PutFolio(folio);
        }
    }

    /// <summary>The allocated (or restored) folio whose first page is at <paramref name="phys"/>; false when no
    /// allocated block starts there (free, preserved and not yet restored, or inside a larger block). Scratch folios
    /// count too.</summary>
    /// <exception cref="ObjectDisposedException">The Kho was disposed.</exception>
    public bool TryFindFolio(ulong phys, out Folio folio)
    {
        folio = default;
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (!IsValidBlock(phys, 0, out ulong page)) return false;
            var from = IsScratchPage(page) ? _scratch : _memory;
            for (int order = 0; order <= MaxOrder; order++)
                if (from.IsAllocated(page, order))
                {
                    folio = new Folio(phys, order);
                    return true;
                }
            return false;
        }
    }

    /// <summary>The allocated (or restored) folio that contains <paramref name="phys"/> (any byte of it); false when
    /// phys is in no allocated block.</summary>
    /// <exception cref="ObjectDisposedException">The Kho was disposed.</exception>
    public bool TryFindFolioContaining(ulong phys, out Folio folio)
    {
        folio = default;
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (phys < PhysBase || phys - PhysBase >= _layout.RegionSize) return false;
            ulong page = PageOf(phys);
            var from = IsScratchPage(page) ? _scratch : _memory;
            // A block of order k containing page starts at page rounded down to 2^k: one look per order.
            for (int order = 0; order <= MaxOrder; order++)
            {
                ulong head = page & ~((1UL << order) - 1);
                if (from.IsAllocated(head, order))
                {
                    folio = new Folio(PhysOfPage(head), order);
                    return true;
                }
            }
            return false;
        }
    }

    /// <summary>The smallest order whose folio holds <paramref name="size"/> bytes.</summary>
    /// <exception cref="KStateInvalidException">0 bytes, or more than the largest folio.</exception>
    internal static int OrderFor(ulong size)
    {
        ulong max = (ulong)PageSize << MaxOrder;
        if (size == 0 || size > max) Throw.Invalid($"cannot allocate {size} bytes as one folio: the size must be 1..{max} (use Vmalloc for more)");
        ulong pages = (size + (ulong)PageSize - 1) >> Layout.PageShift;
        return pages == 1 ? 0 : 64 - System.Numerics.BitOperations.LeadingZeroCount(pages - 1);
    }
}
