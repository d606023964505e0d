using System.Runtime.InteropServices;

namespace KState;

/// <summary>
/// The preservation of a vmalloc area (<see cref="Kho.PreserveVmalloc"/>), the C ABI's <c>struct kho_vmalloc</c>
/// (16 bytes): the phys of the first page of the area's chunk list, the area's pages, its flags and the order of its
/// frames. Keep it in preserved memory (or a subtree) and hand it to <see cref="Kho.RestoreVmalloc"/> in the next
/// generation, which validates every field and every chunk before it trusts any. docs/FORMAT.md, "Vmalloc chunk list".
/// </summary>
[StructLayout(LayoutKind.Sequential)]
public struct KhoVmalloc : IEquatable<KhoVmalloc>
{
    /// <summary>The one flag a preservation carries: an area from <see cref="Kho.Vmalloc"/>. Any other bit is refused.</summary>
    public const ushort FlagVmalloc = 0x0001;

    /// <summary>Phys of the first chunk page; 0 in the default value, which names no preservation.</summary>
    public ulong First;

    /// <summary>Pages of the area: the frames times 2^<see cref="Order"/>.</summary>
    public uint TotalPages;

    /// <summary><see cref="FlagVmalloc"/>.</summary>
    public ushort Flags;

    /// <summary>Order of every frame of the area.</summary>
    public ushort Order;

    /// <inheritdoc/>
    public readonly bool Equals(KhoVmalloc other) =>
        First == other.First && TotalPages == other.TotalPages && Flags == other.Flags && Order == other.Order;

    /// <inheritdoc/>
    public override readonly bool Equals(object? obj) => obj is KhoVmalloc other && Equals(other);

    /// <inheritdoc/>
    public override readonly int GetHashCode() => HashCode.Combine(First, TotalPages, Flags, Order);

    /// <summary>Field-wise equality.</summary>
    public static bool operator ==(KhoVmalloc left, KhoVmalloc right) => left.Equals(right);

    /// <summary>Field-wise inequality.</summary>
    public static bool operator !=(KhoVmalloc left, KhoVmalloc right) => !left.Equals(right);

    /// <inheritdoc/>
    public override readonly string ToString() => $"vmalloc chunks 0x{First:x}, {TotalPages} pages, order {Order}, flags 0x{Flags:x}";
}
