using KState.Machine.Preservation;
using KState.Machine.Region;

namespace KState;

public sealed partial class Kho
{
    /// <summary>Marks an allocated folio for handover (<c>kho_preserve_folio</c>).</summary>
    /// <exception cref="KStateBusyException">The handover is finalized.</exception>
    /// <exception cref="KStateInvalidException">Not an allocated folio, or it lies in scratch.</exception>
    /// <exception cref="KStateExistsException">It, or part of it, is already preserved.</exception>
    public void PreserveFolio(Folio folio)
    {
        lock (_lock)
        {
            ulong page = CheckPreservable(folio.Phys, folio.Order, "preserve");
            if (!_memory.IsAllocated(page, folio.Order)) Throw.Invalid($"cannot preserve {folio}: it is not an allocated folio of that order");
            if (!_map.IsFree(page, folio.Order)) Throw.Exists($"cannot preserve {folio}: it is already preserved");
            _map.Mark(page, folio.Order, range: false);
        }
    }

    /// <summary>Withdraws a folio from the handover (<c>kho_unpreserve_folio</c>).</summary>
    /// <exception cref="KStateBusyException">The handover is finalized.</exception>
    /// <exception cref="KStateNotFoundException">It was not preserved as a folio of that order.</exception>
    public void UnpreserveFolio(Folio folio)
    {
        lock (_lock)
        {
            ulong page = CheckPreservable(folio.Phys, folio.Order, "unpreserve");
            if (_map.HeadAt(page) != PreservationMap.HeadByte(folio.Order, range: false))
                Throw.NotFound($"cannot unpreserve {folio}: it is not preserved as a folio of that order");
            _map.Clear(page, folio.Order);
        }
    }

    /// <summary>Marks a page-aligned phys range for handover (<c>kho_preserve_phys</c>). The range is split into
    /// naturally aligned blocks; its pages must be allocated memory. All or nothing.</summary>
    /// <exception cref="KStateBusyException">The handover is finalized.</exception>
    /// <exception cref="KStateInvalidException">Not page aligned, outside allocated memory, or overlapping scratch.</exception>
    /// <exception cref="KStateExistsException">Some page of it is already preserved.</exception>
    public void PreservePhys(ulong phys, ulong size)
    {
        lock (_lock)
        {
            ulong first = CheckRange(phys, size, "preserve");
            foreach (var (page, order) in new RangeSplit(first, size >> Layout.PageShift))
            {
                for (ulong p = page; p < page + (1UL << order); p++)
                    if (!_memory.IsInsideAllocated(p)) Throw.Invalid($"cannot preserve 0x{phys:x}+{size}: page 0x{PhysOfPage(p):x} is not allocated memory");
                if (!_map.IsFree(page, order)) Throw.Exists($"cannot preserve 0x{phys:x}+{size}: 0x{PhysOfPage(page):x} is already preserved");
            }
            foreach (var (page, order) in new RangeSplit(first, size >> Layout.PageShift)) _map.Mark(page, order, range: true, continuation: page != first);
        }
    }

    /// <summary>Withdraws a range preserved by <see cref="PreservePhys"/> with the same address and size. All or nothing.</summary>
    /// <exception cref="KStateBusyException">The handover is finalized.</exception>
    /// <exception cref="KStateNotFoundException">The range was not preserved that way.</exception>
    public void UnpreservePhys(ulong phys, ulong size)
    {
        lock (_lock)
        {
            ulong first = CheckRange(phys, size, "unpreserve");
            ulong end = first + (size >> Layout.PageShift);
            foreach (var (page, order) in new RangeSplit(first, size >> Layout.PageShift))
                if (_map.HeadAt(page) != PreservationMap.HeadByte(order, range: true, continuation: page != first))
                    Throw.NotFound($"cannot unpreserve 0x{phys:x}+{size}: it was not preserved as that range");
            if (end < _layout.TotalPages && (_map.HeadAt(end) & PreservationMap.ContinuationFlag) != 0)
                Throw.NotFound($"cannot unpreserve 0x{phys:x}+{size}: the preserved range is longer");
            foreach (var (page, order) in new RangeSplit(first, size >> Layout.PageShift)) _map.Clear(page, order);
        }
    }

    /// <summary>True when the folio is currently preserved.</summary>
    public bool IsPreserved(Folio folio)
    {
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            return IsValidBlock(folio.Phys, folio.Order, out ulong page) && _map.HeadAt(page) == PreservationMap.HeadByte(folio.Order, false);
        }
    }

    private ulong CheckPreservable(ulong phys, int order, string what)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_finalized) Throw.Busy($"cannot {what} 0x{phys:x}: the handover is finalized (abort it first)");
        if (!IsValidBlock(phys, order, out ulong page)) Throw.Invalid($"cannot {what} 0x{phys:x} order {order}: not a naturally aligned block of the region");
        if (IsScratchPage(page)) Throw.Invalid($"cannot {what} 0x{phys:x}: it overlaps the scratch area");
        if (page < _layout.DataStartPage) Throw.Invalid($"cannot {what} 0x{phys:x}: it lies in the region's metadata");
        return page;
    }

    private ulong CheckRange(ulong phys, ulong size, string what)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_finalized) Throw.Busy($"cannot {what} 0x{phys:x}+{size}: the handover is finalized (abort it first)");
        if (size == 0 || (phys & (Layout.PageSize - 1)) != 0 || (size & (Layout.PageSize - 1)) != 0)
            Throw.Invalid($"cannot {what} 0x{phys:x}+{size}: address and size must be non-zero multiples of {PageSize}");
        if (phys < PhysBase || phys - PhysBase > _layout.RegionSize || size > _layout.RegionSize - (phys - PhysBase))
            Throw.Invalid($"cannot {what} 0x{phys:x}+{size}: outside the region");
        ulong first = PageOf(phys), end = first + (size >> Layout.PageShift);
        if (first < _layout.ScratchEndPage && end > _layout.ScratchStartPage)
            Throw.Invalid($"cannot {what} 0x{phys:x}+{size}: it overlaps the scratch area");
        if (first < _layout.DataStartPage) Throw.Invalid($"cannot {what} 0x{phys:x}+{size}: it overlaps the region's metadata");
        return first;
    }
}
