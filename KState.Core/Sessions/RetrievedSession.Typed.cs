namespace KState;

// The typed overload: restore into a ref T, so that callers need no unsafe code.
public sealed unsafe partial class RetrievedSession
{
    /// <summary>Restores the described object saved under <paramref name="token"/> into <paramref name="obj"/> (pinned
    /// while it is restored). Restoring again into the same object (at the same address: a local, a
    /// <see cref="KStateBox{T}"/>'s value) does nothing; into another is refused. A restore that fails changes
    /// neither the object nor KHO: the item stays still to restore.</summary>
    /// <exception cref="KStateNotFoundException">No item has that token.</exception>
    /// <exception cref="KStateInvalidException">The item was saved with another description, or is not a described object.</exception>
    /// <exception cref="KStateBusyException">It was restored into another object.</exception>
    /// <exception cref="KStateVersionException">Its version is outside the description's range.</exception>
    /// <exception cref="KStateCorruptException">Its record is damaged.</exception>
    public void Restore<T>(KStateDescription<T> description, ref T obj, ulong token) where T : unmanaged
    {
        fixed (T* p = &obj) Restore(description, p, token);
    }
}
