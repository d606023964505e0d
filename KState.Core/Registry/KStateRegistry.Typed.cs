using KState.Core.Records;

namespace KState;

// The typed overloads: a description of T with a ref T or a KStateBox<T>, so that callers need no unsafe code.
public sealed unsafe partial class KStateRegistry
{
    /// <summary>Saves the value in <paramref name="box"/> at finalize, from where it lies then (the box must not be
    /// disposed before: finalize fails if it is).</summary>
    /// <exception cref="KStateExistsException">(description, instance) is already registered.</exception>
    /// <exception cref="KStateBusyException">The handover is finalized, or being finalized (a pre_save registering).</exception>
    /// <exception cref="KStateInvalidException">The box is disposed.</exception>
    public void Register<T>(KStateDescription<T> description, KStateBox<T> box, ulong instanceId) where T : unmanaged
    {
        ArgumentNullException.ThrowIfNull(description);
        ArgumentNullException.ThrowIfNull(box);
        if (box.IsDisposed) Throw.Invalid($"register of '{description.Name}' instance {instanceId}: the box is disposed");
        Add(description, 0, instanceId, box);
    }

    /// <summary>Stops saving a box at finalize.</summary>
    /// <exception cref="KStateNotFoundException">It was not registered (with this box).</exception>
    /// <exception cref="KStateBusyException">The handover is finalized, or being finalized (a pre_save unregistering).</exception>
    public void Unregister<T>(KStateDescription<T> description, KStateBox<T> box, ulong instanceId) where T : unmanaged
    {
        ArgumentNullException.ThrowIfNull(box);
        Remove(description, 0, instanceId, box);
    }

    /// <summary>Saves <paramref name="obj"/> into the outgoing stream now (it may be anywhere: it is pinned while it
    /// is saved); saving the same (description, instance) again replaces it.</summary>
    /// <exception cref="KStateBusyException">The handover is finalized, or being finalized (a pre_save saving).</exception>
    /// <exception cref="KStateException">The save failed (a pre_save hook refused, a bad folio, no room); the
    /// stream is as it was.</exception>
    public void Save<T>(KStateDescription<T> description, ref T obj, ulong instanceId) where T : unmanaged
    {
        fixed (T* p = &obj) Save(description, p, instanceId);
    }

    /// <summary>Restores into <paramref name="obj"/> the object the previous generation saved under
    /// (<paramref name="description"/>, <paramref name="instanceId"/>). Fields newer than the record keep their
    /// value; a failed restore leaves <paramref name="obj"/> as it was.</summary>
    /// <exception cref="KStateNotFoundException">No handover, no KSTATE stream, or no such record.</exception>
    /// <exception cref="KStateVersionException">The record's version is outside the description's range.</exception>
    /// <exception cref="KStateCorruptException">The record is damaged or does not match.</exception>
    public void Restore<T>(KStateDescription<T> description, ref T obj, ulong instanceId) where T : unmanaged
    {
        fixed (T* p = &obj) Restore(description, p, instanceId);
    }

    /// <summary>At finalize: saves a registered box from its address, holding it (and its Kho's mapping) meanwhile.</summary>
    private void SaveBoxed(KStateDescription d, IKStateBox box, RecordWriter writer, ulong instance)
    {
        byte* obj = box.Acquire($"registered object '{d.Name}' instance {instance}");
        try
        {
            d.Save(writer, obj, instance, _streams.Kho, _finalizePreserved);
        }
        finally
        {
            box.Release();
        }
    }
}
