using KState.Core.Records;
using KState.Machine.Diagnostics;

namespace KState;

/// <summary>
/// Objects to save at finalize, and the way back after boot (the C ABI's <c>kstate_register</c>,
/// <c>kstate_unregister</c>, <c>kstate_save_state</c>, <c>kstate_restore</c>). Objects live in the "main" stream,
/// keyed by (description's state id, instance id). Registered objects must stay at their address (native memory,
/// or pinned; a <see cref="KStateBox{T}"/> does) until finalize. Thread-safe.
/// </summary>
public sealed unsafe partial class KStateRegistry
{
    /// <summary>The stream the registry uses.</summary>
    public const string StreamName = "main";

    private readonly Lock _lock = new();
    private readonly KStateStreams _streams;
    private readonly List<(KStateDescription Description, nint Obj, ulong Instance, IKStateBox? Box)> _registered = []; // Obj 0: the box's
    private readonly Dictionary<ulong, KStateDescription> _saved = [];
    private readonly PreservationLog _finalizePreserved = new(); // what the finalize step preserved: taken back by its undo
    private Dictionary<ulong, KStateDescription>? _savedBefore;
    private StreamMark? _beforeFinalize;                     // where "main" ended before the finalize step (null: it created "main")
    private bool _saving;                                    // the finalize step is running (a pre_save may call back)
    private bool _finalized;                                 // the step ran and is not undone: the objects are in the handover

    /// <summary>A registry over a generation's streams; it saves its objects when the handover is finalized.</summary>
    public KStateRegistry(KStateStreams streams)
    {
        _streams = streams;
        streams.Steps.Add(new FinalizeStep(SaveRegistered, UndoFinalize, this));
    }

    /// <summary>Allocator for null pointer fields on restore (native memory by default).</summary>
    public IPointerAllocator Allocator { get; init; } = NativeAllocator.Instance;

    /// <summary>Descriptions saved so far in this generation (for the schema), by state id.</summary>
    public IReadOnlyCollection<KStateDescription> SavedDescriptions
    {
        get { lock (_lock) return [.. _saved.Values]; }
    }

    /// <summary>Saves <paramref name="obj"/> at finalize.</summary>
    /// <exception cref="KStateExistsException">(description, instance) is already registered.</exception>
    /// <exception cref="KStateBusyException">The handover is finalized, or being finalized (a pre_save registering).</exception>
    public void Register(KStateDescription description, void* obj, ulong instanceId)
    {
        ArgumentNullException.ThrowIfNull(description);
        if (obj == null) Throw.Invalid($"register of '{description.Name}' instance {instanceId}: null object");
        Add(description, (nint)obj, instanceId, null);
    }

    private void Add(KStateDescription description, nint obj, ulong instanceId, IKStateBox? box)
    {
        lock (_lock)
        {
            CheckNotFinalized("register");
            foreach (var r in _registered)
                if (r.Description.Id == description.Id && r.Instance == instanceId)
                    Throw.Exists($"'{description.Name}' instance {instanceId} is already registered");
            _registered.Add((description, obj, instanceId, box));
        }
    }

    /// <summary>Stops saving an object at finalize.</summary>
    /// <exception cref="KStateNotFoundException">It was not registered (with this object).</exception>
    /// <exception cref="KStateBusyException">The handover is finalized, or being finalized (a pre_save unregistering).</exception>
    public void Unregister(KStateDescription description, void* obj, ulong instanceId) => Remove(description, (nint)obj, instanceId, null);

    private void Remove(KStateDescription description, nint obj, ulong instanceId, IKStateBox? box)
    {
        ArgumentNullException.ThrowIfNull(description);
        lock (_lock)
        {
            CheckNotFinalized("unregister");
            int i = _registered.FindIndex(r => r.Description.Id == description.Id && r.Instance == instanceId && r.Obj == obj && r.Box == box);
            if (i < 0) Throw.NotFound($"'{description.Name}' instance {instanceId} is not registered");
            _registered.RemoveAt(i);
        }
    }

    /// <summary>Saves an object into the outgoing stream now; saving the same (description, instance) again replaces it.</summary>
    /// <exception cref="KStateBusyException">The handover is finalized, or being finalized (a pre_save saving).</exception>
    public void Save(KStateDescription description, void* obj, ulong instanceId)
    {
        ArgumentNullException.ThrowIfNull(description);
        lock (_lock)
        {
            CheckNotFinalized("save");
            var writer = _streams.Set.GetOrCreate(StreamName);
            description.Save(writer, (byte*)obj, instanceId, _streams.Kho);
            Remember(description, writer);
        }
    }

    /// <summary>Restores an object saved by the previous generation.</summary>
    /// <exception cref="KStateNotFoundException">No handover, no KSTATE stream, or no such record.</exception>
    /// <exception cref="KStateVersionException">The record's version is outside the description's range.</exception>
    /// <exception cref="KStateCorruptException">The record is damaged or does not match.</exception>
    public void Restore(KStateDescription description, void* obj, ulong instanceId)
    {
        ArgumentNullException.ThrowIfNull(description);
        long started = System.Diagnostics.Stopwatch.GetTimestamp();
        if (!TryIncoming(out var reader))
            Throw.NotFound(_streams.Kho.IsKhoBoot ? "the handover carries no KSTATE objects" : "no handover: this was a cold boot");
        description.Restore(reader, (byte*)obj, instanceId, _streams.Kho, Allocator);
        KStateMeter.Restored("registry", description.Size, started);
    }

    private void CheckNotFinalized(string what)
    {
        if (_saving) Throw.Busy($"cannot {what} while the handover is being finalized (from a pre_save hook?)");
        if (_finalized) Throw.Busy($"cannot {what}: the handover is finalized (abort it to change the registry)");
    }

    /// <summary>At finalize: saves every registered object, then the schema of everything saved. A failure takes
    /// back what this step wrote and preserved, and fails the finalize.</summary>
    private void SaveRegistered()
    {
        lock (_lock)
        {
            if (_saving || _finalized) Throw.Busy("the registry is already saved for this handover");
            _saving = true;
            try
            {
                bool existed = _streams.Set.OutgoingStreams.Contains(StreamName);
                var writer = _streams.Set.GetOrCreate(StreamName);
                _beforeFinalize = existed ? writer.Mark() : null;
                _savedBefore = new Dictionary<ulong, KStateDescription>(_saved);
                try
                {
                    foreach (var (d, obj, instance, box) in _registered)
                    {
                        if (box is null) d.Save(writer, (byte*)obj, instance, _streams.Kho, _finalizePreserved);
                        else SaveBoxed(d, box, writer, instance);
                        Remember(d, writer);
                    }
                    if (_saved.Count > 0) KStateSchema.Of(_saved.Values).WriteTo(writer);
                }
                catch
                {
                    writer.AbandonOpenRecord();
                    TakeBack();
                    throw;
                }
                _finalized = true;
            }
            finally
            {
                _saving = false;
            }
        }
    }

    /// <summary>The finalize failed after this step, or was aborted: the records, names and preservations the step
    /// made go, so the next finalize saves the registry as it is then.</summary>
    private void UndoFinalize()
    {
        lock (_lock)
        {
            if (!_finalized) return;
            TakeBack();
            _finalized = false;
        }
    }

    private void TakeBack()
    {
        if (_beforeFinalize is { } mark) _streams.Set.GetOrCreate(StreamName).RollBack(mark);
        else _streams.Set.DropOutgoing(StreamName);
        _beforeFinalize = null;
        _finalizePreserved.TakeBack(_streams.Kho);
        if (_savedBefore is not null)
        {
            _saved.Clear();
            foreach (var (id, d) in _savedBefore) _saved.Add(id, d);
            _savedBefore = null;
        }
    }

    /// <summary>The schema the previous generation saved its objects with, or null (cold boot, or nothing saved).</summary>
    /// <exception cref="KStateCorruptException">The schema record is damaged.</exception>
    public KStateSchema? IncomingSchema
    {
        get
        {
            lock (_lock)
            {
                if (_streams.IncomingProblem is { } problem) throw problem;
                if (!_streams.Set.HasIncoming(StreamName)) return null;
                return _streams.Set.Open(StreamName).TryGetSchema(out var rec) ? KStateSchema.Read(rec) : null;
            }
        }
    }

    private void Remember(KStateDescription d, RecordWriter writer)
    {
        if (_saved.TryGetValue(d.Id, out var known) && !ReferenceEquals(known, d) && known.Name != d.Name)
            Throw.Exists($"id collision: descriptions '{known.Name}' and '{d.Name}' both have state id 0x{d.Id:x16}");
        _saved[d.Id] = d;
        writer.DefineName(d.Id, d.Name);
    }
}
