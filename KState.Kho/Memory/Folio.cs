using KState.Machine.Region;

namespace KState;

/// <summary>
/// A naturally aligned run of 2^<see cref="Order"/> pages in the region, named by its phys address (never by a
/// virtual address: the mapping moves between generations). Use <see cref="Kho.FolioSpan"/> to reach its bytes.
/// </summary>
public readonly record struct Folio
{
    /// <summary>Creates a handle; <see cref="Kho"/> validates it on every use.</summary>
    public Folio(ulong phys, int order)
    {
        Phys = phys;
        Order = order;
    }

    /// <summary>Phys address of the first page.</summary>
    public ulong Phys { get; }

    /// <summary>log2 of the number of pages.</summary>
    public int Order { get; }

    /// <summary>Number of pages.</summary>
    public ulong Pages => 1UL << Order;

    /// <summary>Size in bytes.</summary>
    public ulong Size => Layout.PageSize << Order;

    /// <summary>The folio as one pointer-sized value (phys | order: phys is page aligned), as the C ABI hands it out.</summary>
    public ulong Handle => Phys | (uint)Order;

    /// <summary>The inverse of <see cref="Handle"/>.</summary>
    public static Folio FromHandle(ulong handle) => new(handle & ~(Layout.PageSize - 1), (int)(handle & (Layout.PageSize - 1)));

    /// <inheritdoc/>
    public override string ToString() => $"folio 0x{Phys:x} order {Order}";
}
