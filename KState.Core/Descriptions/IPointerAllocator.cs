using System.Runtime.InteropServices;

namespace KState;

/// <summary>Where restore gets memory for a pointer field that is null in the object.</summary>
public unsafe interface IPointerAllocator
{
    /// <summary>Returns <paramref name="bytes"/> bytes, or throws.</summary>
    void* Allocate(nuint bytes);
}

/// <summary>Native memory (<c>malloc</c>): the default, and what C callers free with <c>free</c>.</summary>
public sealed unsafe class NativeAllocator : IPointerAllocator
{
    /// <summary>The one instance.</summary>
    public static NativeAllocator Instance { get; } = new();

    /// <inheritdoc/>
    public void* Allocate(nuint bytes) => NativeMemory.Alloc(bytes);
}
