using KState.Machine.InPlace;
using KState.Machine.Preservation;
using KState.Machine.Region;

namespace KState;

// vmalloc areas (kho_vmalloc & co): frames scattered in the region, mapped as one contiguous range of this process,
// preserved as the kernel does, with a chunk list of the frames' phys kept in preserved pages (InPlace/ChunkList.cs).
public sealed unsafe partial class Kho
{
    private VmallocSpace? _vmalloc;

    /// <summary>This generation's vmalloc areas; made on first use. Called under the lock, not disposed.</summary>
    private VmallocSpace Vspace
    {
        get
        {
            if (_vmalloc is null)
            {
                _vmalloc = new VmallocSpace(_mem.FileDescriptor);
                _mem.AfterUnmap(_vmalloc.UnmapAll); // the areas go with the region, after the last call in flight
            }
            return _vmalloc;
        }
    }

    /// <summary>
    /// Allocates a zeroed, virtually contiguous area of at least <paramref name="size"/> bytes (whole pages) whose frames
    /// need not be physically contiguous (<c>kho_vmalloc</c>): it takes frames of the largest order that divides its
    /// pages and is still free in sufficient number, order 0 at worst, so an area larger than any free contiguous run
    /// works. Free it with <see cref="Vfree"/>; preserve it with <see cref="PreserveVmalloc"/>.
    /// </summary>
    /// <exception cref="KStateInvalidException">Size 0, or more than 2^32 - 1 pages, or a region on hugetlbfs (see
    /// <see cref="CheckVmallocBacking"/>).</exception>
    /// <exception cref="KStateOutOfMemoryException">Not enough free pages, or no address space left for the mapping.</exception>
    /// <exception cref="ObjectDisposedException">The Kho was disposed.</exception>
    public VmallocArea Vmalloc(ulong size)
    {
        CheckVmallocBacking("vmalloc");
        if (size == 0 || size > (ulong)uint.MaxValue << Layout.PageShift) Throw.Invalid($"cannot vmalloc {size} bytes: the size must be 1..{(ulong)uint.MaxValue << Layout.PageShift}");
        ulong pages = (size + (ulong)PageSize - 1) >> Layout.PageShift;
        int top = Math.Min(MaxOrder, 63 - System.Numerics.BitOperations.LeadingZeroCount(pages));
        for (int order = top; order >= 0; order--)
        {
            if ((pages & ((1UL << order) - 1)) != 0) continue; // every frame has the area's one order
            if (TryAllocFrames((int)(pages >> order), order) is { } frames) return MapNew(frames, order);
        }
        Throw.OutOfMemory($"cannot vmalloc {size} bytes in region {RegionPath}: {FreePages} pages free");
        return null;
    }

    /// <summary>Allocates <paramref name="count"/> zeroed frames of <paramref name="order"/>, all or none.</summary>
    private ulong[]? TryAllocFrames(int count, int order)
    {
        var frames = new ulong[count];
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if ((ulong)count << order > _memory.FreePages) return null;
            for (int i = 0; i < count; i++)
            {
                if (_memory.TryAllocate(order, out ulong page))
                {
                    frames[i] = PhysOfPage(page);
                    continue;
                }
                for (int k = 0; k < i; k++) _memory.Free(PageOf(frames[k]), order);
                return null;
            }
            _mem.AddRef(); // cannot fail under the lock; zeroing below runs outside it, a Dispose meanwhile defers the unmap
        }
        try
        {
            foreach (ulong f in frames) _mem.Pages(PageOf(f), order).Clear();
        }
        finally
        {
            _mem.Release();
        }
        return frames;
    }

    private VmallocArea MapNew(ulong[] frames, int order)
    {
        lock (_lock)
        {
            try
            {
                ObjectDisposedException.ThrowIf(_disposed, this);
                return AddArea(frames, order);
            }
            catch
            {
                if (!_disposed)
                    foreach (ulong f in frames) _memory.Free(PageOf(f), order);
                throw;
            }
        }
    }

    /// <summary>Maps frames as a new area of this generation. Under the lock, not disposed.</summary>
    private VmallocArea AddArea(ulong[] frames, int order)
    {
        var area = new VmallocArea(_mem, Vspace.Map(frames, order), frames, order);
        Vspace.Add(area);
        return area;
    }

    /// <summary>Unmaps an area and frees its frames (<c>kho_vfree</c>); also an area from <see cref="RestoreVmalloc"/>.
    /// It must not be preserved (see <see cref="UnpreserveVmalloc"/>).</summary>
    /// <exception cref="KStateInvalidException">Not a live area of this Kho (freed already, or another Kho's), or one of
    /// its frames was freed on its own (nothing is freed then).</exception>
    /// <exception cref="KStateBusyException">It is preserved.</exception>
    /// <exception cref="ObjectDisposedException">The Kho was disposed.</exception>
    public void Vfree(VmallocArea area)
    {
        ArgumentNullException.ThrowIfNull(area);
        lock (_lock)
        {
            CheckArea(area, "free");
            foreach (ulong f in area.Frames)
            {
                if (!_memory.IsAllocated(PageOf(f), area.Order)) Throw.Invalid($"cannot free {area}: frame 0x{f:x} was freed behind its back (PutFolio)");
                if (!_map.IsFree(PageOf(f), area.Order)) Throw.Busy($"cannot free {area}: it is preserved (unpreserve it first)");
            }
            Vspace.Remove(area);
            foreach (ulong f in area.Frames)
            {
                ulong page = PageOf(f);
                Poison(page, area.Order);
                _memory.Free(page, area.Order);
            }
        }
    }

    /// <summary>
    /// Preserves an area for handover (<c>kho_preserve_vmalloc</c>): every frame as a folio of the area's order, and a
    /// chunk list of their phys in newly allocated pages, preserved too. Keep the returned record where the next
    /// generation finds it (preserved memory, a subtree) and restore with <see cref="RestoreVmalloc"/>. All or nothing.
    /// </summary>
    /// <exception cref="KStateBusyException">The handover is finalized.</exception>
    /// <exception cref="KStateInvalidException">Not a live area of this Kho.</exception>
    /// <exception cref="KStateExistsException">It (or a frame of it) is already preserved.</exception>
    /// <exception cref="KStateOutOfMemoryException">No free pages for the chunk list.</exception>
    /// <exception cref="ObjectDisposedException">The Kho was disposed.</exception>
    public KhoVmalloc PreserveVmalloc(VmallocArea area)
    {
        ArgumentNullException.ThrowIfNull(area);
        lock (_lock)
        {
            CheckArea(area, "preserve");
            if (_finalized) Throw.Busy($"cannot preserve {area}: the handover is finalized (abort it first)");
            var frames = area.Frames;
            int order = area.Order;
            foreach (ulong f in frames)
            {
                ulong page = PageOf(f);
                if (!_memory.IsAllocated(page, order)) Throw.Invalid($"cannot preserve {area}: frame 0x{f:x} is no longer allocated");
                if (!_map.IsFree(page, order)) Throw.Exists($"cannot preserve {area}: frame 0x{f:x} is already preserved");
            }
            var chunks = new ulong[ChunkList.ChunksFor(frames.Length)];
            for (int c = 0; c < chunks.Length; c++)
            {
                if (_memory.TryAllocate(0, out chunks[c])) continue;
                for (int k = 0; k < c; k++) _memory.Free(chunks[k], 0);
                Throw.OutOfMemory($"cannot preserve {area}: no free page for its chunk list ({chunks.Length} pages)");
            }
            for (int c = 0; c < chunks.Length; c++)
            {
                int from = c * ChunkList.EntriesPerChunk;
                ulong next = c + 1 < chunks.Length ? PhysOfPage(chunks[c + 1]) : 0;
                ChunkList.Write(_mem.Pages(chunks[c], 0), next, frames.Slice(from, Math.Min(ChunkList.EntriesPerChunk, frames.Length - from)));
                _map.Mark(chunks[c], 0, range: false);
            }
            foreach (ulong f in frames) _map.Mark(PageOf(f), order, range: false);
            var record = new KhoVmalloc { First = PhysOfPage(chunks[0]), TotalPages = area.Pages, Flags = KhoVmalloc.FlagVmalloc, Order = (ushort)order };
            area.Preservation = record;
            return record;
        }
    }

    /// <summary>Withdraws an area's preservation in the generation that made it (<c>kho_unpreserve_vmalloc</c>): its
    /// frames stay allocated and mapped, its chunk pages are freed. The record is checked as the restore checks it. All or nothing.</summary>
    /// <exception cref="KStateBusyException">The handover is finalized.</exception>
    /// <exception cref="KStateNotFoundException">No chunk list preserved by this generation starts at the record's first phys.</exception>
    /// <exception cref="KStateCorruptException">The record or its chunk list is inconsistent.</exception>
    /// <exception cref="ObjectDisposedException">The Kho was disposed.</exception>
    public void UnpreserveVmalloc(in KhoVmalloc preservation)
    {
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_finalized) Throw.Busy($"cannot unpreserve {preservation}: the handover is finalized (abort it first)");
            byte chunkHead = PreservationMap.HeadByte(0, range: false);
            var frames = ChunkList.Read(_mem, _layout, preservation,
                page => _map.HeadAt(page) == chunkHead && _memory.IsAllocated(page, 0),
                (page, order) => _map.HeadAt(page) == PreservationMap.HeadByte(order, range: false) && _memory.IsAllocated(page, order),
                out var chunks);
            foreach (ulong f in frames) _map.Clear(PageOf(f), preservation.Order);
            foreach (ulong page in chunks)
            {
                _map.Clear(page, 0);
                Poison(page, 0);
                _memory.Free(page, 0);
            }
            if (_vmalloc?.WithFirstFrame(frames[0]) is { } area) area.Preservation = null;
        }
    }

    /// <summary>
    /// Restores an area the previous generation preserved (<c>kho_restore_vmalloc</c>): validates the record and its
    /// whole chunk list (each phys inside the region and preserved as a chunk page or as a frame of the order, no loop,
    /// counts adding up to the pages) before claiming anything, then claims the frames (once: a second restore fails),
    /// frees the chunk pages and maps the same frames contiguously again. The area is then this generation's: preserve
    /// it again (same frames, new chunk list) or <see cref="Vfree"/> it.
    /// </summary>
    /// <exception cref="KStateNotFoundException">A cold boot, or no preserved chunk list at the record's first phys
    /// waiting to be restored (never preserved, or restored already).</exception>
    /// <exception cref="KStateCorruptException">The record or its chunk list is damaged; nothing was claimed.</exception>
    /// <exception cref="KStateOutOfMemoryException">No address space left for the mapping; nothing was claimed.</exception>
    /// <exception cref="KStateInvalidException">The region is on hugetlbfs; nothing was claimed.</exception>
    /// <exception cref="ObjectDisposedException">The Kho was disposed.</exception>
    public VmallocArea RestoreVmalloc(in KhoVmalloc preservation)
    {
        CheckVmallocBacking("restore a vmalloc area");
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            var incoming = _incoming;
            if (incoming is null) Throw.NotFound($"cannot restore {preservation}: this boot found no handover");
            byte chunkHead = PreservationMap.HeadByte(0, range: false);
            var frames = ChunkList.Read(_mem, _layout, preservation,
                page => incoming[page] == chunkHead && _memory.IsReserved(page, 0),
                (page, order) => incoming[page] == PreservationMap.HeadByte(order, range: false) && _memory.IsReserved(page, order),
                out var chunks);
            int frameOrder = preservation.Order;
            var area = AddArea(frames, frameOrder); // mapped before anything is claimed: a failure leaves all preserved
            foreach (ulong f in frames) Claim(PageOf(f), frameOrder);
            foreach (ulong page in chunks)
            {
                Claim(page, 0);
                Poison(page, 0);
                _memory.Free(page, 0);
            }
            return area;
        }
    }

    /// <summary>The live area of this generation that contains <paramref name="address"/>; false when none does.</summary>
    /// <exception cref="ObjectDisposedException">The Kho was disposed.</exception>
    public bool TryFindVmalloc(nint address, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out VmallocArea? area)
    {
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            area = _vmalloc?.Find(address);
            return area is not null;
        }
    }

    /// <summary>The phys behind an address inside a vmalloc area, or 0.</summary>
    private ulong VmallocVirtToPhys(void* virt)
    {
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            return _vmalloc?.Find((nint)virt) is { } area ? area.PhysAt((nint)virt) : 0;
        }
    }

    private void CheckArea(VmallocArea area, string what)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_vmalloc is null || !_vmalloc.Holds(area)) Throw.Invalid($"cannot {what} {area}: it is not a live vmalloc area of this Kho (freed already, or another Kho's)");
    }

    /// <summary>An area maps each 4 KiB frame at its own place, which hugetlbfs cannot do (its mappings take whole huge
    /// pages at huge-page-aligned offsets: mmap fails with EINVAL). Refused up front with the reason; a huge-page tmpfs
    /// (huge=always or within_size) maps 4 KiB-granular ranges and works.</summary>
    private void CheckVmallocBacking(string what)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (Backing.FileSystem == "hugetlbfs")
            Throw.Invalid($"cannot {what}: region {RegionPath} is on hugetlbfs, whose mappings take whole {Backing.PageSize >> 10} KiB pages, and an area maps each 4 KiB frame at its own place (use a tmpfs mounted huge=always or within_size for huge pages)");
    }
}
