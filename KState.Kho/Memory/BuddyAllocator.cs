using KState.Machine.Region;

namespace KState.Machine.Memory;

/// <summary>
/// Buddy allocator over a set of page ranges. Page numbers are region page indices; every block is naturally
/// aligned on them. Free lists are stacks with lazy deletion: an entry is live only while the page's state byte
/// still says "free, this order", so merging a buddy never has to search a list. Not thread-safe: <see cref="Kho"/>
/// holds its lock around every call.
/// </summary>
internal sealed class BuddyAllocator
{
    private const byte FreeTag = 0x40, AllocTag = 0x80, ReservedTag = 0xC0, TagMask = 0xC0, OrderMask = 0x3F;
    private readonly ulong _totalPages;
    private PageMap _state;
    private readonly List<ulong>[] _free = new List<ulong>[Layout.MaxOrder + 1];
    // Free memory never split yet, as page ranges: boot records a region's free space in O(ranges), not O(blocks),
    // and allocation carves blocks off a range only when the free lists run dry.
    private readonly List<(ulong Start, ulong End)> _untouched = [];

    public BuddyAllocator(ulong totalPages)
    {
        _totalPages = totalPages;
        _state = new PageMap(totalPages);
        for (int i = 0; i <= Layout.MaxOrder; i++) _free[i] = [];
    }

    public ulong FreePages { get; private set; }

    /// <summary>Forgets everything: no free, allocated or reserved blocks.</summary>
    public void Reset()
    {
        _state = new PageMap(_totalPages);
        foreach (var list in _free) list.Clear();
        _untouched.Clear();
        FreePages = 0;
    }

    /// <summary>Adds [start, end) as free memory. Nothing is split until allocation needs it.</summary>
    public void AddFreeRange(ulong start, ulong end)
    {
        if (start >= end) return;
        if (_untouched.Count > 0 && _untouched[^1].End == start) _untouched[^1] = (_untouched[^1].Start, end);
        else _untouched.Add((start, end));
        FreePages += end - start;
    }

    /// <summary>Carves the largest naturally aligned block off the front of an untouched range into the free lists.</summary>
    private bool CarveUntouched()
    {
        if (_untouched.Count == 0) return false;
        var (start, end) = _untouched[^1];
        int order = LargestOrder(start, end - start);
        ulong next = start + (1UL << order);
        if (next == end) _untouched.RemoveAt(_untouched.Count - 1);
        else _untouched[^1] = (next, end);
        FreePages -= 1UL << order; // PushFree counts it again
        PushFree(start, order);
        return true;
    }

    /// <summary>The largest order of a naturally aligned block starting at <paramref name="page"/> that fits in <paramref name="pages"/>.</summary>
    public static int LargestOrder(ulong page, ulong pages)
    {
        int order = page == 0 ? Layout.MaxOrder : Math.Min(Layout.MaxOrder, System.Numerics.BitOperations.TrailingZeroCount(page));
        while ((1UL << order) > pages) order--;
        return order;
    }

    public bool TryAllocate(int order, out ulong page)
    {
        do
        {
            for (int k = order; k <= Layout.MaxOrder; k++)
            {
                if (!TryPopFree(k, out page)) continue;
                while (k > order)
                {
                    k--;
                    PushFree(page + (1UL << k), k); // the upper half goes back; keep splitting the lower one
                }
                _state[page] = (byte)(AllocTag | order);
                return true;
            }
        }
        while (CarveUntouched());
        page = 0;
        return false;
    }

    /// <summary>Frees an allocated block and merges it with free buddies.</summary>
    public void Free(ulong page, int order)
    {
        _state[page] = 0;
        while (order < Layout.MaxOrder)
        {
            ulong buddy = page ^ (1UL << order);
            if (_state[buddy] != (byte)(FreeTag | order)) break;
            _state[buddy] = 0; // its stack entry is now stale
            FreePages -= 1UL << order;
            page = Math.Min(page, buddy);
            order++;
        }
        PushFree(page, order);
    }

    public bool IsAllocated(ulong page, int order) => _state[page] == (byte)(AllocTag | order);

    public bool IsReserved(ulong page, int order) => _state[page] == (byte)(ReservedTag | order);

    /// <summary>Marks a block that is neither free nor allocated: preserved memory waiting to be restored.</summary>
    public void Reserve(ulong page, int order) => _state[page] = (byte)(ReservedTag | order);

    /// <summary>Turns a reserved block into an allocated one (a restore).</summary>
    public void ClaimReserved(ulong page, int order) => _state[page] = (byte)(AllocTag | order);

    /// <summary>True when <paramref name="page"/> lies inside an allocated block.</summary>
    public bool IsInsideAllocated(ulong page)
    {
        for (int o = 0; o <= Layout.MaxOrder; o++)
        {
            ulong head = page & ~((1UL << o) - 1);
            byte s = _state[head];
            if ((s & TagMask) == AllocTag && (s & OrderMask) >= o) return true; // heads are naturally aligned, so it covers page
        }
        return false;
    }

    /// <summary>Visits every free block (for poisoning), untouched ranges included.</summary>
    public void ForEachFree(Action<ulong, int> visit)
    {
        foreach (var (start, end) in _untouched)
            for (ulong p = start; p < end;)
            {
                int order = LargestOrder(p, end - p);
                visit(p, order);
                p += 1UL << order;
            }
        for (int k = 0; k <= Layout.MaxOrder; k++)
            foreach (ulong p in _free[k])
                if (_state[p] == (byte)(FreeTag | k)) visit(p, k);
    }

    private void PushFree(ulong page, int order)
    {
        _state[page] = (byte)(FreeTag | order);
        _free[order].Add(page);
        FreePages += 1UL << order;
    }

    private bool TryPopFree(int order, out ulong page)
    {
        var list = _free[order];
        while (list.Count > 0)
        {
            page = list[^1];
            list.RemoveAt(list.Count - 1);
            if (_state[page] != (byte)(FreeTag | order)) continue; // stale: merged or reused since it was pushed
            _state[page] = 0;
            FreePages -= 1UL << order;
            return true;
        }
        page = 0;
        return false;
    }
}
