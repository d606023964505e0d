using KState.Machine.Memory;
using KState.Machine.Region;

namespace KState;

/// <summary>
/// A virtually contiguous area of this process's address space over frames of the region that need not be physically
/// contiguous (<see cref="Kho.Vmalloc"/>, <see cref="Kho.RestoreVmalloc"/>). Every frame is a folio of
/// 2^<see cref="Order"/> pages; the area maps them in order. Its bytes are the frames' bytes (both mappings share the
/// region file), so what is written through the area is what <see cref="Kho.PhysSpan"/> shows at each frame's phys.
/// The address is this generation's only: keep a <see cref="KhoVmalloc"/> (from <see cref="Kho.PreserveVmalloc"/>) in
/// preserved memory, never the address.
/// </summary>
public sealed unsafe class VmallocArea
{
    private readonly RegionMemory _memory;
    private readonly ulong[] _frames;
    private volatile bool _freed;

    internal VmallocArea(RegionMemory memory, nint address, ulong[] frames, int order)
    {
        _memory = memory;
        Address = address;
        _frames = frames;
        Order = order;
    }

    /// <summary>The area's first byte in this process (until <see cref="Kho.Vfree"/> or the Kho's Dispose).</summary>
    public nint Address { get; }

    /// <summary>Order of every frame.</summary>
    public int Order { get; }

    /// <summary>Number of pages.</summary>
    public uint Pages => (uint)((ulong)_frames.Length << Order);

    /// <summary>Size in bytes.</summary>
    public ulong Size => (ulong)_frames.Length * (Layout.PageSize << Order);

    /// <summary>The phys of each frame, in the area's order.</summary>
    public ReadOnlySpan<ulong> Frames => _frames;

    internal ulong[] FrameArray => _frames;

    /// <summary>The record of this area's preservation while it is preserved (<see cref="Kho.PreserveVmalloc"/>, or a
    /// KSTATE save of a preserved field); null when it is not.</summary>
    public KhoVmalloc? Preservation { get; internal set; }

    internal bool IsFreed => _freed;

    internal void MarkFreed() => _freed = true;

    /// <summary>The whole area's bytes. Valid until <see cref="Kho.Vfree"/> or the Kho's Dispose.</summary>
    /// <exception cref="ObjectDisposedException">The area was freed, or its Kho disposed.</exception>
    /// <exception cref="KStateInvalidException">The area is larger than a span can be (2 GiB); use <see cref="Slice"/>.</exception>
    public Span<byte> Span
    {
        get
        {
            ThrowIfGone();
            if (Size > int.MaxValue) Throw.Invalid($"vmalloc area of {Size} bytes is larger than a span; use Slice");
            return new Span<byte>((void*)Address, (int)Size);
        }
    }

    /// <summary>The bytes [offset, offset + length) of the area, bounds-checked. Valid until <see cref="Kho.Vfree"/> or the Kho's Dispose.</summary>
    /// <exception cref="ObjectDisposedException">The area was freed, or its Kho disposed.</exception>
    /// <exception cref="KStateInvalidException">The range is not inside the area.</exception>
    public Span<byte> Slice(ulong offset, int length)
    {
        ThrowIfGone();
        if (length < 0 || offset > Size || (ulong)length > Size - offset) Throw.Invalid($"bytes {offset}+{length} are outside the vmalloc area of {Size} bytes");
        return new Span<byte>((byte*)Address + offset, length);
    }

    /// <summary>True when <paramref name="address"/> is inside the area.</summary>
    public bool Contains(nint address) => (ulong)address - (ulong)Address < Size;

    /// <summary>The phys of the byte at <paramref name="address"/> (inside the area): its frame's phys plus the offset in it.</summary>
    internal ulong PhysAt(nint address)
    {
        ulong offset = (ulong)address - (ulong)Address;
        int shift = Layout.PageShift + Order;
        return _frames[offset >> shift] + (offset & ((1UL << shift) - 1));
    }

    private void ThrowIfGone()
    {
        _memory.ThrowIfClosed();
        if (_freed) throw new ObjectDisposedException(nameof(VmallocArea), "the vmalloc area was freed");
    }

    /// <inheritdoc/>
    public override string ToString() => $"vmalloc area 0x{Address:x}, {Pages} pages of order {Order} frames";
}
