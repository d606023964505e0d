using System.IO.Hashing;
using KState.Core.Sessions;

namespace KState;

/// <summary>
/// A named, resizable byte buffer in KHO folios, like a memfd: the item <see cref="MemfdHandler"/> preserves
/// across a live update with its contents and size. Folios are at most 2 MiB (order 9), so a buffer is not
/// contiguous; read and write it by offset, or folio by folio with <see cref="Segment"/>. Not thread-safe.
/// </summary>
public sealed class MemfdBuffer : IDisposable
{
    /// <summary>The largest folio a buffer uses (2 MiB).</summary>
    public const int MaxFolioOrder = 9;

    /// <summary>The longest name, in UTF-8 bytes.</summary>
    public const int MaxNameBytes = 255;

    private readonly List<Folio> _folios;
    private readonly List<long> _starts = []; // byte offset of each folio in the buffer
    private long _capacity;
    private bool _disposed;

    private MemfdBuffer(Kho kho, string name, long size, List<Folio> folios)
    {
        Kho = kho;
        Name = name;
        Size = size;
        _folios = folios;
        foreach (var f in folios)
        {
            _starts.Add(_capacity);
            _capacity += (long)Kho.PageSize << f.Order;
        }
    }

    /// <summary>Creates a zero-filled buffer of <paramref name="size"/> bytes.</summary>
    /// <exception cref="KStateInvalidException">A bad name (empty, NUL, longer than 255 UTF-8 bytes) or a negative size.</exception>
    /// <exception cref="KStateOutOfMemoryException">The region has no room for it.</exception>
    public static MemfdBuffer Create(Kho kho, string name, long size)
    {
        ArgumentNullException.ThrowIfNull(kho);
        CheckName(name);
        if (size < 0) Throw.Invalid($"memfd '{name}': negative size {size}");
        var buffer = new MemfdBuffer(kho, name, 0, []);
        buffer.Resize(size);
        return buffer;
    }

    internal static MemfdBuffer Adopt(Kho kho, string name, long size, List<Folio> folios) => new(kho, name, size, folios);

    internal static void CheckName(string name) => SessionNames.Check(name, "memfd name", MaxNameBytes);

    /// <summary>The machine whose memory holds the buffer.</summary>
    public Kho Kho { get; }

    /// <summary>The buffer's name.</summary>
    public string Name { get; }

    /// <summary>Its size in bytes.</summary>
    public long Size { get; private set; }

    /// <summary>Bytes of folios behind it.</summary>
    public long Capacity => _capacity;

    /// <summary>Its folios, in order.</summary>
    public IReadOnlyList<Folio> Folios => _folios;

    /// <summary>True while a session preserves it: its size is then fixed (its contents are not).</summary>
    public bool IsPreserved { get; internal set; }

    /// <summary>True while a finalized handover holds it: its contents were checksummed and are frozen until the
    /// handover is aborted. <see cref="Write"/> is refused then; spans from <see cref="Segment"/> must not be written.</summary>
    public bool IsFrozen { get; internal set; }

    /// <summary>Changes the size: growing adds zeroed folios, shrinking frees whole folios past the end and zeroes
    /// the rest of the last one (so growing again reads zeros, as with ftruncate).</summary>
    /// <exception cref="KStateBusyException">The buffer is preserved.</exception>
    /// <exception cref="KStateOutOfMemoryException">No room to grow (the size is unchanged).</exception>
    public void Resize(long size)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (size < 0) Throw.Invalid($"memfd '{Name}': negative size {size}");
        if (IsPreserved) Throw.Busy($"memfd '{Name}' is preserved: its size is sealed until it is unpreserved");
        if (size > _capacity)
        {
            int added = 0;
            try
            {
                while (_capacity < size)
                {
                    long missing = size - _capacity;
                    int order = 0;
                    while (order < MaxFolioOrder && ((long)Kho.PageSize << order) < missing) order++;
                    if (!Kho.TryAllocFolio(order, out var f)) Throw.OutOfMemory($"memfd '{Name}': no free folio of order {order} to grow to {size} bytes");
                    _folios.Add(f);
                    _starts.Add(_capacity);
                    _capacity += (long)Kho.PageSize << order;
                    added++;
                }
            }
            catch
            {
                for (; added > 0; added--) DropLast();
                throw;
            }
        }
        else
        {
            while (_folios.Count > 0 && _starts[^1] >= size) DropLast();
            if (_folios.Count > 0) Segment(_folios.Count - 1)[(int)(size - _starts[^1])..].Clear();
        }
        Size = size;
    }

    private void DropLast()
    {
        var f = _folios[^1];
        _folios.RemoveAt(_folios.Count - 1);
        _starts.RemoveAt(_starts.Count - 1);
        _capacity -= (long)Kho.PageSize << f.Order;
        Kho.PutFolio(f);
    }

    /// <summary>The bytes of folio <paramref name="index"/> (its whole size; the buffer's size may end inside it).</summary>
    public Span<byte> Segment(int index)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        return Kho.FolioSpan(_folios[index]);
    }

    /// <summary>Writes <paramref name="data"/> at <paramref name="offset"/>.</summary>
    /// <exception cref="KStateInvalidException">The range is outside the buffer's size.</exception>
    /// <exception cref="KStateBusyException">The buffer is frozen in a finalized handover.</exception>
    public void Write(long offset, ReadOnlySpan<byte> data)
    {
        if (IsFrozen) Throw.Busy($"memfd '{Name}' is frozen in a finalized handover (abort it to write)");
        CheckRange(offset, data.Length);
        while (!data.IsEmpty)
        {
            var dest = At(offset);
            int n = Math.Min(dest.Length, data.Length);
            data[..n].CopyTo(dest);
            data = data[n..];
            offset += n;
        }
    }

    /// <summary>Reads into <paramref name="destination"/> from <paramref name="offset"/>.</summary>
    /// <exception cref="KStateInvalidException">The range is outside the buffer's size.</exception>
    public void Read(long offset, Span<byte> destination)
    {
        CheckRange(offset, destination.Length);
        while (!destination.IsEmpty)
        {
            var src = At(offset);
            int n = Math.Min(src.Length, destination.Length);
            src[..n].CopyTo(destination);
            destination = destination[n..];
            offset += n;
        }
    }

    /// <summary>XXH3-64 of the buffer's <see cref="Size"/> bytes.</summary>
    public ulong Checksum()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        return Checksum(Kho, _folios, Size);
    }

    /// <summary>XXH3-64 of the first <paramref name="size"/> bytes of <paramref name="folios"/>, read through their
    /// phys addresses (restored or not).</summary>
    internal static ulong Checksum(Kho kho, IReadOnlyList<Folio> folios, long size)
    {
        var h = new XxHash3();
        long left = size;
        for (int i = 0; i < folios.Count && left > 0; i++)
        {
            int n = (int)Math.Min((long)Kho.PageSize << folios[i].Order, left);
            h.Append(kho.PhysSpan(folios[i].Phys, n));
            left -= n;
        }
        return h.GetCurrentHashAsUInt64();
    }

    private Span<byte> At(long offset)
    {
        int i = _starts.BinarySearch(offset);
        if (i < 0) i = ~i - 1;
        return Segment(i)[(int)(offset - _starts[i])..];
    }

    private void CheckRange(long offset, int length)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (offset < 0 || offset > Size - length)
            Throw.Invalid($"memfd '{Name}': {length} bytes at {offset} are outside its {Size} bytes");
    }

    /// <summary>Frees its folios.</summary>
    /// <exception cref="KStateBusyException">It is preserved (unpreserve it, or close its session, first).</exception>
    public void Dispose()
    {
        if (_disposed) return;
        if (IsPreserved) Throw.Busy($"memfd '{Name}' is preserved; unpreserve it before freeing it");
        while (_folios.Count > 0) DropLast();
        _disposed = true;
    }

    /// <inheritdoc/>
    public override string ToString() => $"memfd '{Name}' ({Size} bytes in {_folios.Count} folios)";
}
