using System.Runtime.InteropServices;

namespace KState.Core.Records;

/// <summary>
/// Segments in one native buffer instead of KHO: phys = <see cref="PhysBase"/> + offset. For tools that read a
/// stream image from a file, and for tests that cut and damage images. Attaching works once per segment, as with
/// KHO. Freed segments are not reused.
/// </summary>
internal sealed unsafe class BufferSegmentMemory : ISegmentMemory, IDisposable
{
    /// <summary>Phys address of the buffer's first byte.</summary>
    public const ulong PhysBase = 0x1_0000_0000;

    private readonly HashSet<ulong> _attached = [];
    private byte* _buffer;
    private readonly int _capacity;
    private int _next;

    /// <summary>An empty buffer of <paramref name="capacity"/> bytes to write streams into.</summary>
    public BufferSegmentMemory(int capacity)
    {
        _capacity = capacity;
        _buffer = (byte*)NativeMemory.AlignedAlloc((nuint)Math.Max(capacity, 1), 4096);
        new Span<byte>(_buffer, capacity).Clear();
    }

    /// <summary>A buffer holding <paramref name="image"/>, to read streams from (its length bounds every read).</summary>
    public BufferSegmentMemory(ReadOnlySpan<byte> image) : this(image.Length)
    {
        image.CopyTo(new Span<byte>(_buffer, _capacity));
        _next = image.Length;
    }

    /// <summary>The bytes written so far.</summary>
    public ReadOnlySpan<byte> Image => new(_buffer, _next);

    /// <inheritdoc/>
    public Span<byte> Allocate(int order, out ulong phys)
    {
        int size = Kho.PageSize << order;
        int at = (_next + size - 1) & ~(size - 1); // naturally aligned, like a folio
        if (at > _capacity - size) Throw.OutOfMemory($"buffer of {_capacity} bytes has no room for a segment of {size}");
        _next = at + size;
        phys = PhysBase + (ulong)at;
        return new Span<byte>(_buffer + at, size);
    }

    /// <inheritdoc/>
    public void Free(ulong phys, int order) { }

    /// <inheritdoc/>
    public bool TryAttach(ulong phys, out ReadOnlySpan<byte> segment)
    {
        segment = default;
        if (phys < PhysBase || phys - PhysBase >= (ulong)_next || (phys & (Kho.PageSize - 1)) != 0 || !_attached.Add(phys)) return false;
        int off = (int)(phys - PhysBase);
        segment = new ReadOnlySpan<byte>(_buffer + off, _next - off);
        return true;
    }

    /// <summary>Forgets every segment: the buffer is empty again (writers initialize what they reuse).</summary>
    public void Reset()
    {
        _next = 0;
        _attached.Clear();
    }

    /// <summary>Frees the buffer.</summary>
    public void Dispose()
    {
        if (_buffer != null) NativeMemory.AlignedFree(_buffer);
        _buffer = null;
    }
}
