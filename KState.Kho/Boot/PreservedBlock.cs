namespace KState;

/// <summary>A block of preserved memory: a folio, or one naturally aligned piece of a preserved range.</summary>
/// <param name="Phys">Phys address of the first page.</param>
/// <param name="Order">log2 of its pages.</param>
/// <param name="IsRange">True when it is a piece of a range preserved with <see cref="Kho.PreservePhys"/>.</param>
public readonly record struct PreservedBlock(ulong Phys, int Order, bool IsRange)
{
    /// <summary>Size in bytes.</summary>
    public ulong Size => (ulong)Kho.PageSize << Order;
}
