using KState.Machine.Region;

namespace KState;

/// <summary>
/// A naturally aligned run of 2^<see cref="Order"/> pages in the region, named by its phys address (never by a
/// virtual address: the mapping moves between generations). Use <see cref="Kho.FolioSpan"/> to reach its bytes.
/// Eight bytes, phys | order, like the C ABI's <c>struct folio *</c>, so a described struct can hold one; the
/// default value is "no folio".
/// </summary>
public readonly record struct Folio
{
    private readonly ulong _handle;

    /// <summary>Creates a handle; <see cref="Kho"/> validates it on every use.</summary>
    /// <exception cref="KStateInvalidException">phys is not page aligned or the order is not 0..<see cref="Kho.MaxOrder"/>.</exception>
    public Folio(ulong phys, int order)
    {
        if ((phys & (Layout.PageSize - 1)) != 0 || (uint)order > Layout.MaxOrder) Throw.BadFolio(phys, order);
        _handle = phys | (uint)order;
    }

    private Folio(ulong handle, bool _) => _handle = handle;

    /// <summary>Phys address of the first page.</summary>
    public ulong Phys => _handle & ~(Layout.PageSize - 1);

    /// <summary>log2 of the number of pages.</summary>
    public int Order => (int)(_handle & (Layout.PageSize - 1));

    /// <summary>True for the default value, which names no folio.</summary>
    public bool IsNull => _handle == 0;

    /// <summary>Number of pages.</summary>
    public ulong Pages => 1UL << Order;

    /// <summary>Size in bytes.</summary>
    public ulong Size => Layout.PageSize << Order;

    /// <summary>The folio as one pointer-sized value (phys | order: phys is page aligned), as the C ABI hands it out.</summary>
    public ulong Handle => _handle;

    /// <summary>The inverse of <see cref="Handle"/>. Not checked (a handle may come from C): <see cref="Kho"/> refuses
    /// an order above <see cref="Kho.MaxOrder"/> on every use.</summary>
    public static Folio FromHandle(ulong handle) => new(handle, false);

    /// <inheritdoc/>
    public override string ToString() => $"folio 0x{Phys:x} order {Order}";
}
