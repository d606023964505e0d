using KState.Machine.Memory;

namespace KState.Machine.Preservation;

/// <summary>
/// Splits a page range into naturally aligned blocks, largest first. The split depends only on (start, count), so
/// unpreserve and restore of a range find exactly the blocks that preserve made.
/// </summary>
internal ref struct RangeSplit(ulong startPage, ulong pages)
{
    private ulong _page = startPage;
    private ulong _left = pages;

    public ulong Page { get; private set; }
    public int Order { get; private set; }

    public bool MoveNext()
    {
        if (_left == 0) return false;
        Page = _page;
        Order = BuddyAllocator.LargestOrder(_page, _left);
        _page += 1UL << Order;
        _left -= 1UL << Order;
        return true;
    }

    public readonly RangeSplit GetEnumerator() => this;

    public readonly (ulong Page, int Order) Current => (Page, Order);
}
