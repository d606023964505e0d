using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace KState;

/// <summary>
/// A pointer kept inside preserved memory, stored as the phys of its target (the kernel's KHOSER; C's
/// <c>DECLARE_KHOSER_PTR</c>): the region is mapped at another address in every generation, so a virtual address
/// would be wrong in the next one. Eight bytes, 0 for null. <see cref="Load"/> and <see cref="Ref"/> translate it
/// through the Kho, which checks the whole target lies inside the region.
/// </summary>
/// <typeparam name="T">The target's type.</typeparam>
[StructLayout(LayoutKind.Sequential)]
public unsafe struct KhoPtr<T> : IEquatable<KhoPtr<T>> where T : unmanaged
{
    /// <summary>The target's phys address; 0 for null.</summary>
    public ulong Phys;

    /// <summary>A pointer to the target at <paramref name="phys"/> (0: null). Checked when it is used.</summary>
    public KhoPtr(ulong phys) => Phys = phys;

    /// <summary>True when it points nowhere.</summary>
    public readonly bool IsNull => Phys == 0;

    /// <summary>A pointer to <paramref name="value"/> (<c>KHOSER_STORE_PTR</c>): null stays null; otherwise the target
    /// must lie in the region's mapping or in one frame of a vmalloc area of <paramref name="kho"/>.</summary>
    /// <exception cref="KStateInvalidException">The target is outside the region and its vmalloc areas, or straddles two
    /// frames of an area (its bytes are not contiguous in the region then).</exception>
    /// <exception cref="ObjectDisposedException">The Kho was disposed.</exception>
    public static KhoPtr<T> Store(Kho kho, T* value)
    {
        var p = default(KhoPtr<T>);
        p.Set(kho, value);
        return p;
    }

    /// <summary>Points this at <paramref name="value"/>, as <see cref="Store"/> does.</summary>
    /// <exception cref="KStateInvalidException">As for <see cref="Store"/>.</exception>
    /// <exception cref="ObjectDisposedException">The Kho was disposed.</exception>
    public void Set(Kho kho, T* value)
    {
        ArgumentNullException.ThrowIfNull(kho);
        if (value == null)
        {
            Phys = 0;
            return;
        }
        ulong phys = kho.DangerousVirtToPhys(value);
        if (phys == 0) Throw.Invalid($"cannot store a pointer to 0x{(nint)value:x}: it is neither in the region nor in a vmalloc area");
        if (sizeof(T) > 1 && kho.DangerousVirtToPhys((byte*)value + sizeof(T) - 1) != phys + (ulong)sizeof(T) - 1)
            Throw.Invalid($"cannot store a pointer to 0x{(nint)value:x}: its {sizeof(T)} bytes straddle two frames");
        Phys = phys;
    }

    /// <summary>The target in this generation's mapping (<c>KHOSER_LOAD_PTR</c>); null for null. Valid until the Kho's
    /// Dispose; nothing checks its use: prefer <see cref="Ref"/>.</summary>
    /// <exception cref="KStateInvalidException">The phys, or the target's bytes after it, are outside the region.</exception>
    /// <exception cref="ObjectDisposedException">The Kho was disposed.</exception>
    public readonly T* Load(Kho kho)
    {
        ArgumentNullException.ThrowIfNull(kho);
        if (Phys == 0) return null;
        fixed (byte* p = kho.PhysSpan(Phys, sizeof(T))) return (T*)p;
    }

    /// <summary>The target, through a span checked against the region.</summary>
    /// <exception cref="KStateInvalidException">The pointer is null, or the target is not entirely inside the region.</exception>
    /// <exception cref="ObjectDisposedException">The Kho was disposed.</exception>
    public readonly ref T Ref(Kho kho)
    {
        ArgumentNullException.ThrowIfNull(kho);
        if (Phys == 0) Throw.Invalid($"a null KhoPtr<{typeof(T).Name}> has no target");
        return ref Unsafe.As<byte, T>(ref MemoryMarshal.GetReference(kho.PhysSpan(Phys, sizeof(T))));
    }

    /// <inheritdoc/>
    public readonly bool Equals(KhoPtr<T> other) => Phys == other.Phys;

    /// <inheritdoc/>
    public override readonly bool Equals(object? obj) => obj is KhoPtr<T> other && Equals(other);

    /// <inheritdoc/>
    public override readonly int GetHashCode() => Phys.GetHashCode();

    /// <summary>Same target.</summary>
    public static bool operator ==(KhoPtr<T> left, KhoPtr<T> right) => left.Equals(right);

    /// <summary>Different targets.</summary>
    public static bool operator !=(KhoPtr<T> left, KhoPtr<T> right) => !left.Equals(right);

    /// <inheritdoc/>
    public override readonly string ToString() => Phys == 0 ? $"KhoPtr<{typeof(T).Name}>(null)" : $"KhoPtr<{typeof(T).Name}>(0x{Phys:x})";
}
