namespace KState;

/// <summary>
/// A typed pointer member for described structs: 8 bytes, like a C pointer, so C# and C layouts agree.
/// <see cref="KStateDescriptionBuilder{T}.Pointer{TP}"/> saves the pointee; <see cref="KStateDescriptionBuilder{T}.KhoPointer{TP}"/>
/// saves the address as phys.
/// </summary>
public unsafe struct Ptr<T> where T : unmanaged
{
    /// <summary>The address (null allowed).</summary>
    public T* Value;

    /// <summary>Wraps a pointer.</summary>
    public Ptr(T* value) => Value = value;

    /// <summary>True when null.</summary>
    public readonly bool IsNull => Value == null;

    /// <summary>The pointee.</summary>
    public readonly ref T Target => ref *Value;
}
