using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using KState.Machine.Region;

namespace KState.Machine.Memory;

/// <summary>
/// The one owner of a region's mapping: it alone holds the base address and hands out bounds-checked spans for a
/// region offset, a phys range or a block (page, order). Reference-counted as <c>SafeHandle</c> is: a lease
/// (<see cref="AddRef"/>/<see cref="Release"/>) keeps the mapping alive, <see cref="Close"/> refuses new leases
/// (<see cref="ObjectDisposedException"/>) and the region is unmapped when the last lease is released, so a call in
/// flight on another thread never has memory unmapped under it. No finalizer: a pointer the C ABI handed out must
/// not vanish because the managed owner became unreachable.
/// </summary>
internal sealed unsafe class RegionMemory
{
    private const int ClosedBit = 1, OneRef = 2;
    private readonly ShmRegion _region;
    private readonly byte* _base;
    private int _state = OneRef; // references << 1 | closed; the owner's own reference is dropped by Close
    private Action? _afterUnmap;

    public RegionMemory(ShmRegion region)
    {
        _region = region;
        _base = region.Base;
        Size = region.Size;
    }

    /// <summary>Bytes in the mapping.</summary>
    public ulong Size { get; }

    /// <summary>The region file's path.</summary>
    public string Path => _region.Path;

    /// <summary>What backs the region (<see cref="ShmRegion.Backing"/>).</summary>
    public KhoBacking Backing => _region.Backing;

    /// <summary>True when this process created the region (a first start).</summary>
    public bool Created => _region.Created;

    /// <summary>True once <see cref="Close"/> ran: no new lease is given, whatever is still in flight.</summary>
    public bool IsClosed
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => (Volatile.Read(ref _state) & ClosedBit) != 0;
    }

    /// <summary>Takes a lease: the mapping stays until the matching <see cref="Release"/>.</summary>
    /// <exception cref="ObjectDisposedException">The owner was closed (the Kho was disposed).</exception>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void AddRef()
    {
        int s = Volatile.Read(ref _state);
        if ((s & ClosedBit) != 0 || Interlocked.CompareExchange(ref _state, s + OneRef, s) != s) AddRefSlow();
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void AddRefSlow()
    {
        while (true)
        {
            int s = Volatile.Read(ref _state);
            if ((s & ClosedBit) != 0) ThrowClosed();
            if (Interlocked.CompareExchange(ref _state, s + OneRef, s) == s) return;
        }
    }

    /// <summary>Ends a lease; the last one after <see cref="Close"/> unmaps.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Release()
    {
        if (Interlocked.Add(ref _state, -OneRef) == ClosedBit) // closed and nobody left inside
        {
            _region.Dispose();
            _afterUnmap?.Invoke();
        }
    }

    /// <summary>Runs <paramref name="action"/> when the region is unmapped (after the last lease): other mappings of
    /// the region file (vmalloc areas) go with it. Register while holding a lease or the owner's lock.</summary>
    public void AfterUnmap(Action action) => _afterUnmap += action;

    /// <summary>The region file's descriptor, for mapping parts of it elsewhere; valid while a lease is held.</summary>
    public int FileDescriptor => _region.Fd;

    /// <summary>A lease for a <c>using</c> block.</summary>
    public Lease Acquire()
    {
        AddRef();
        return new Lease(this);
    }

    /// <summary>Refuses new leases and drops the owner's reference: unmaps now, or when the last lease ends. Idempotent.</summary>
    public void Close()
    {
        if ((Interlocked.Or(ref _state, ClosedBit) & ClosedBit) == 0) Release();
    }

    /// <summary>Throws when closed: the cheap check of operations too small to pay for a lease.</summary>
    /// <exception cref="ObjectDisposedException">The owner was closed.</exception>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void ThrowIfClosed()
    {
        if (IsClosed) ThrowClosed();
    }

    [DoesNotReturn, MethodImpl(MethodImplOptions.NoInlining)]
    public static void ThrowClosed() =>
        throw new ObjectDisposedException(nameof(Kho), "the region was unmapped: its Kho (or inspector) was disposed");

    /// <summary>The bytes [offset, offset + length) of the region. The caller holds a lease or the owner's lock.</summary>
    /// <exception cref="KStateInvalidException">The range is not inside the region.</exception>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Span<byte> At(ulong offset, int length)
    {
        if (length < 0 || offset > Size || (ulong)length > Size - offset) Throw.OutsideRegion(Layout.PhysBase + offset, length);
        return new Span<byte>(_base + offset, length);
    }

    /// <summary>The bytes [phys, phys + length) of the region.</summary>
    /// <exception cref="KStateInvalidException">The range is not inside the region.</exception>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Span<byte> Phys(ulong phys, int length)
    {
        if (phys < Layout.PhysBase) Throw.OutsideRegion(phys, length);
        return At(phys - Layout.PhysBase, length);
    }

    /// <summary>The bytes of the block of 2^<paramref name="order"/> pages at <paramref name="page"/>.</summary>
    /// <exception cref="KStateInvalidException">The block is not inside the region or the order is too large.</exception>
    public Span<byte> Pages(ulong page, int order)
    {
        if ((uint)order > Layout.MaxOrder || page > Size >> Layout.PageShift) Throw.OutsideRegion(Layout.PhysBase + (page << Layout.PageShift), -1);
        return At(page << Layout.PageShift, (int)Layout.PageSize << order);
    }

    /// <summary>The address of a phys inside the mapping, or null when outside it. Raw: only for the C ABI's
    /// pointer contract (<c>kho_phys_to_virt</c>) and in-place state; valid until the owner is closed.</summary>
    public byte* DangerousPhysToVirt(ulong phys) =>
        phys >= Layout.PhysBase && phys - Layout.PhysBase < Size ? _base + (phys - Layout.PhysBase) : null;

    /// <summary>The phys of an address inside the mapping, or 0.</summary>
    public ulong DangerousVirtToPhys(void* virt)
    {
        ulong off = (ulong)virt - (ulong)_base;
        return (byte*)virt >= _base && off < Size ? Layout.PhysBase + off : 0;
    }

    /// <summary>A lease on <paramref name="owner"/> for a <c>using</c> block; none when there is no owner (memory
    /// that never goes away, such as a test buffer).</summary>
    /// <exception cref="ObjectDisposedException">The owner was closed.</exception>
    public static Lease Acquire(RegionMemory? owner)
    {
        owner?.AddRef();
        return new Lease(owner);
    }

    /// <summary>A lease as a disposable value: <c>using var lease = memory.Acquire();</c>.</summary>
    public readonly ref struct Lease(RegionMemory? owner)
    {
        public void Dispose() => owner?.Release();
    }
}
