using KState.Core.Sessions;

namespace KState;

// The typed overload: a described object in a KStateBox<T>, so that callers need no unsafe code.
public sealed partial class Session
{
    /// <summary>Preserves the value in <paramref name="box"/> under <paramref name="token"/>: it is saved, as the
    /// description says, when the handover is finalized, from where the box holds it then (the box must not be
    /// disposed before: finalize fails if it is).</summary>
    /// <exception cref="KStateInvalidException">The box is disposed, a description name longer than 63 UTF-8 bytes
    /// (the directory's limit for compatible strings), or the session is closed.</exception>
    /// <exception cref="KStateExistsException">The token is taken in this session.</exception>
    /// <exception cref="KStateBusyException">The handover is finalized.</exception>
    public void SaveState<T>(KStateDescription<T> description, KStateBox<T> box, ulong token) where T : unmanaged
    {
        ArgumentNullException.ThrowIfNull(description);
        ArgumentNullException.ThrowIfNull(box);
        if (box.IsDisposed) Throw.Invalid($"session '{Name}': item {token} ('{description.Name}') is in a disposed box");
        SessionNames.Check(description.Name, $"session '{Name}': item {token}'s description name");
        lock (_owner.Gate)
        {
            CheckOpen(token);
            Add(new OutgoingItem(this, token, ItemKind.Description, description.Name, description.Id)
            {
                Description = description,
                Box = box,
                Context = new ItemContext(_owner, Name, token, null, incoming: false),
            });
        }
    }
}
