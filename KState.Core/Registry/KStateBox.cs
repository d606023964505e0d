using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace KState;

/// <summary>
/// A <typeparamref name="T"/> at an address that stays fixed until it is disposed: in native memory (zeroed), or in a
/// KHO folio of a <see cref="Kho"/> (zeroed). What a registered object or a session's described item must be, since
/// it is saved at finalize from where it lies: <see cref="KStateRegistry.Register{T}(KStateDescription{T}, KStateBox{T}, ulong)"/>,
/// <see cref="Session.SaveState{T}(KStateDescription{T}, KStateBox{T}, ulong)"/>. Without <see cref="Dispose"/> its
/// memory stays allocated (no finalizer: a <c>ref</c> into it does not keep the box alive). Thread-safe.
/// </summary>
/// <typeparam name="T">The boxed struct.</typeparam>
public sealed unsafe class KStateBox<T> : IKStateBox, IDisposable where T : unmanaged
{
    private readonly Lock _lock = new();
    private readonly Kho? _kho;
    private readonly Folio _folio;
    private byte* _native;
    private int _leases;
    private bool _disposed;

    /// <summary>A zeroed <typeparamref name="T"/> in native memory.</summary>
    /// <exception cref="OutOfMemoryException">The allocation failed.</exception>
    public KStateBox() => _native = (byte*)NativeMemory.AllocZeroed((nuint)Unsafe.SizeOf<T>());

    /// <summary>A zeroed <typeparamref name="T"/> at the start of a KHO folio of <paramref name="kho"/> just large enough
    /// for it (not preserved: <see cref="Folio"/> names it, for those who preserve it or point at it by phys).</summary>
    /// <exception cref="KStateInvalidException"><typeparamref name="T"/> is larger than the largest folio.</exception>
    /// <exception cref="KStateOutOfMemoryException">The region has no room for it.</exception>
    /// <exception cref="ObjectDisposedException">The Kho was disposed.</exception>
    public KStateBox(Kho kho)
    {
        ArgumentNullException.ThrowIfNull(kho);
        _kho = kho;
        _folio = kho.AllocFolio(Kho.OrderFor((ulong)Unsafe.SizeOf<T>()));
    }

    /// <summary>The value, in place. The reference is valid until <see cref="Dispose"/> (and, in KHO memory, until
    /// its Kho is disposed).</summary>
    /// <exception cref="ObjectDisposedException">The box (or its Kho) was disposed.</exception>
    public ref T Value
    {
        get
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            return ref _kho is { } kho ? ref MemoryMarshal.AsRef<T>(kho.FolioSpan(_folio)) : ref Unsafe.AsRef<T>(_native);
        }
    }

    /// <summary>The folio that holds the value, or null in native memory.</summary>
    public Folio? Folio => _kho is null ? null : _folio;

    /// <summary>True after <see cref="Dispose"/>.</summary>
    public bool IsDisposed
    {
        get { lock (_lock) return _disposed; }
    }

    /// <summary>Frees the memory (when a save in flight on another thread ends, if one is). A folio that is preserved is
    /// left alone: it belongs to the handover. Idempotent.</summary>
    public void Dispose()
    {
        lock (_lock)
        {
            if (_disposed) return;
            _disposed = true;
            if (_leases == 0) Free();
        }
    }

    byte* IKStateBox.Acquire(string what)
    {
        lock (_lock)
        {
            if (_disposed) Throw.Invalid($"{what}: its KStateBox<{typeof(T).Name}> was disposed (unregister it first)");
            byte* address = _native;
            if (_kho is { } kho)
            {
                kho.Memory.AddRef(); // the mapping stays while the save reads it
                try
                {
                    address = kho.DangerousFolioAddress(_folio);
                }
                catch
                {
                    kho.Memory.Release();
                    throw;
                }
            }
            _leases++;
            return address;
        }
    }

    void IKStateBox.Release()
    {
        lock (_lock)
        {
            _kho?.Memory.Release();
            if (--_leases == 0 && _disposed) Free();
        }
    }

    int IKStateBox.Size => Unsafe.SizeOf<T>();

    private void Free()
    {
        if (_kho is null)
        {
            NativeMemory.Free(_native);
            _native = null;
        }
        else
        {
            try
            {
                if (!_kho.IsPreserved(_folio)) _kho.PutFolio(_folio);
            }
            catch (ObjectDisposedException)
            {
                // The region is unmapped, and the folio with it.
            }
        }
    }

    /// <inheritdoc/>
    public override string ToString() => $"KStateBox<{typeof(T).Name}> in {(_kho is null ? "native memory" : _folio.ToString())}{(_disposed ? " (disposed)" : "")}";
}

/// <summary>A box's memory, leased by whoever saves from it (the registry, sessions).</summary>
internal unsafe interface IKStateBox
{
    /// <summary>Its address, valid until <see cref="Release"/>.</summary>
    /// <exception cref="KStateInvalidException">The box was disposed (<paramref name="what"/> names the object).</exception>
    /// <exception cref="ObjectDisposedException">The box's Kho was disposed.</exception>
    byte* Acquire(string what);

    /// <summary>Ends the lease <see cref="Acquire"/> took.</summary>
    void Release();

    /// <summary>Bytes of the boxed value.</summary>
    int Size { get; }
}
