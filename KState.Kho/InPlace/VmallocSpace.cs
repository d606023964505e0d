using KState.Machine.Region;
using Mono.Unix.Native;

namespace KState.Machine.InPlace;

/// <summary>
/// The vmalloc areas of one generation: for each, one reserved range of this process's address space with each run
/// of physically adjacent frames mapped over it from the region file (MAP_FIXED | MAP_SHARED, so both the area and
/// the region's main mapping show the same bytes). <see cref="UnmapAll"/> runs when the region is unmapped, after the
/// last call in flight (the Kho's Dispose).
/// </summary>
internal sealed unsafe class VmallocSpace(int fd)
{
    private readonly Lock _lock = new();
    private readonly List<VmallocArea> _areas = []; // sorted by address
    private bool _unmapped;

    /// <summary>Reserves a range for the frames and maps each run of them at its place; returns the range's start.</summary>
    /// <exception cref="KStateOutOfMemoryException">The address space (or the process's mapping count) is exhausted.</exception>
    public nint Map(ReadOnlySpan<ulong> frames, int order)
    {
        ulong frameBytes = Layout.PageSize << order, size = (ulong)frames.Length * frameBytes;
        nint start = Syscall.mmap(0, size, MmapProts.PROT_NONE, MmapFlags.MAP_PRIVATE | MmapFlags.MAP_ANONYMOUS | MmapFlags.MAP_NORESERVE, -1, 0);
        if (start == -1) PosixError.Throw(PosixError.Last, $"vmalloc: reserving {size} bytes of address space");
        for (int i = 0; i < frames.Length;)
        {
            int j = i + 1;
            while (j < frames.Length && frames[j] == frames[j - 1] + frameBytes) j++; // one mapping per physical run
            nint at = start + (nint)((ulong)i * frameBytes);
            nint got = Syscall.mmap(at, (ulong)(j - i) * frameBytes, MmapProts.PROT_READ | MmapProts.PROT_WRITE,
                MmapFlags.MAP_SHARED | MmapFlags.MAP_FIXED, fd, (long)(frames[i] - Layout.PhysBase));
            if (got != at)
            {
                var e = PosixError.Last;
                Syscall.munmap(start, size);
                PosixError.Throw(e, $"vmalloc: mapping frame 0x{frames[i]:x} ({j - i} frames) into the area");
            }
            i = j;
        }
        return start;
    }

    /// <summary>Records a mapped area.</summary>
    public void Add(VmallocArea area)
    {
        lock (_lock)
        {
            int i = _areas.BinarySearch(area, ByAddress.Instance);
            _areas.Insert(~i, area);
        }
    }

    /// <summary>Forgets an area and unmaps it; false when it is not one of this space's.</summary>
    public bool Remove(VmallocArea area)
    {
        lock (_lock)
        {
            int i = _areas.BinarySearch(area, ByAddress.Instance);
            if (i < 0 || !ReferenceEquals(_areas[i], area)) return false;
            _areas.RemoveAt(i);
            area.MarkFreed();
            Syscall.munmap(area.Address, area.Size);
            return true;
        }
    }

    /// <summary>True when the area is mapped here now.</summary>
    public bool Holds(VmallocArea area)
    {
        lock (_lock)
        {
            int i = _areas.BinarySearch(area, ByAddress.Instance);
            return i >= 0 && ReferenceEquals(_areas[i], area);
        }
    }

    /// <summary>The area containing <paramref name="address"/>, or null.</summary>
    public VmallocArea? Find(nint address)
    {
        lock (_lock)
        {
            int lo = 0, hi = _areas.Count - 1;
            while (lo <= hi) // the last area starting at or below the address
            {
                int mid = (lo + hi) >>> 1;
                if ((ulong)_areas[mid].Address <= (ulong)address) lo = mid + 1;
                else hi = mid - 1;
            }
            return hi >= 0 && _areas[hi].Contains(address) ? _areas[hi] : null;
        }
    }

    /// <summary>Unmaps every area (the region is going away). Idempotent.</summary>
    /// <summary>The live area whose first frame is <paramref name="phys"/>, or null.</summary>
    public VmallocArea? WithFirstFrame(ulong phys)
    {
        lock (_lock)
        {
            foreach (var area in _areas)
                if (area.Frames[0] == phys) return area;
            return null;
        }
    }

    public void UnmapAll()
    {
        lock (_lock)
        {
            if (_unmapped) return;
            _unmapped = true;
            foreach (var area in _areas)
            {
                area.MarkFreed();
                Syscall.munmap(area.Address, area.Size);
            }
            _areas.Clear();
        }
    }

    private sealed class ByAddress : IComparer<VmallocArea>
    {
        public static readonly ByAddress Instance = new();

        public int Compare(VmallocArea? x, VmallocArea? y) => ((ulong)x!.Address).CompareTo((ulong)y!.Address);
    }
}
