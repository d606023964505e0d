using KState.Core.Sessions;

namespace KState;

// Outgoing sessions: creating them, preserving and unpreserving items and shared data, and saving them all at
// finalize (or undoing that).
public sealed partial class KStateSessions
{
    /// <summary>Creates an outgoing session.</summary>
    /// <exception cref="KStateInvalidException">The name is empty, longer than 63 UTF-8 bytes, or has a NUL.</exception>
    /// <exception cref="KStateExistsException">An outgoing session has that name.</exception>
    /// <exception cref="KStateBusyException">The handover is finalized.</exception>
    public Session Create(string name)
    {
        SessionNames.Check(name, "session name");
        lock (Gate)
        {
            CheckNotFinalized();
            if (_outgoing.Any(s => s.Name == name)) Throw.Exists($"a session named '{name}' exists");
            var session = new Session(this, name, _nextOrdinal++);
            _outgoing.Add(session);
            return session;
        }
    }

    /// <summary>The outgoing sessions, in creation order.</summary>
    public IReadOnlyList<Session> Outgoing
    {
        get { lock (Gate) return [.. _outgoing]; }
    }

    internal void CheckNotFinalized()
    {
        if (_finalized) Throw.Busy("the handover is finalized (abort it to change sessions)");
    }

    internal void Preserved(OutgoingItem item) => _order.Add(item);

    /// <summary>Takes an item out: its handler first (if that throws, the item stays as it was), then the order,
    /// then its shared data (<paramref name="forget"/> drops it from its session before shared data can fail).</summary>
    internal void Unpreserve(OutgoingItem item, Action forget, bool keepInOrder = false)
    {
        item.Handler?.Unpreserve(item.Context);
        forget();
        if (!keepInOrder) _order.Remove(item);
        Unbind(item.Shared);
    }

    internal void Remove(Session session) => _outgoing.Remove(session);

    /// <summary>Drops from the preservation order the items <paramref name="session"/> no longer has.</summary>
    internal void SyncOrder(Session session)
    {
        var keep = session.Items.ToHashSet();
        _order.RemoveAll(i => i.Session == session && !keep.Contains(i));
    }

    internal void Bind(SharedDataHandler[] shared)
    {
        int bound = 0;
        try
        {
            foreach (var h in shared)
            {
                var s = _outgoingShared.Find(x => ReferenceEquals(x.Handler, h));
                if (s is null)
                {
                    var data = h.Preserve(Kho) ?? throw new KStateInvalidException($"shared data '{h.Compatible}' preserved null");
                    _outgoingShared.Add(new SharedInUse(h, data) { Users = 1 });
                }
                else s.Users++;
                bound++;
            }
        }
        catch
        {
            Unbind(shared[..bound]);
            throw;
        }
    }

    internal void Unbind(SharedDataHandler[] shared)
    {
        List<Exception>? errors = null;
        for (int i = shared.Length - 1; i >= 0; i--)
        {
            var s = _outgoingShared.Find(x => ReferenceEquals(x.Handler, shared[i]));
            if (s is null || --s.Users > 0) continue;
            try
            {
                s.Handler.Unpreserve(Kho, s.Data);
                _outgoingShared.Remove(s);
            }
            catch (Exception e)
            {
                s.Users++; // still preserved: the next item to leave tries again
                (errors ??= []).Add(e);
            }
        }
        if (errors is not null)
            Throw.Invalid($"unpreserving shared data failed: {string.Join("; ", errors.Select(e => e.Message))}");
    }

    internal object OutgoingShared(SharedDataHandler handler)
    {
        lock (Gate)
            return _outgoingShared.Find(x => ReferenceEquals(x.Handler, handler))?.Data
                ?? throw new KStateNotFoundException($"shared data '{handler.Compatible}' is not preserved (no item is bound to it)");
    }

    /// <summary>At finalize: every item's record in its session's stream, in preservation order; then the
    /// directory. A failure undoes everything this step did and fails the finalize.</summary>
    private void Save()
    {
        lock (Gate)
        {
            if (_finalized) Throw.Busy("the sessions are already saved for this handover");
            _finalized = true;
            _undoFailures.Clear();
            try
            {
                var set = _streams.Set;
                var dir = Track(set.Create(SessionDirectory.StreamName));
                SessionDirectory.WriteGlobal(dir, new LiveUpdateInfo(LiveUpdateCount + 1, Version, DateTimeOffset.UtcNow));
                var writers = new Dictionary<Session, RecordWriter>();
                foreach (var s in _outgoing) writers[s] = Track(set.Create(s.StreamName));
                foreach (var item in _order)
                {
                    var w = writers[item.Session];
                    if (item.Description is { } d)
                    {
                        if (item.Box is { } box) SaveBoxed(d, box, w, item);
                        else unsafe { d.Save(w, (byte*)item.Obj, item.Token, Kho, _preservedFolios); }
                        continue;
                    }
                    w.BeginRecord(item.RecordId, item.Token, item.Handler!.Version);
                    try
                    {
                        item.Handler!.Freeze(item.Context, w);
                        w.EndRecord();
                        _frozen.Add(item); // an item whose freeze failed is not unfrozen: it never froze
                    }
                    catch
                    {
                        w.AbandonOpenRecord();
                        throw;
                    }
                }
                foreach (var s in _outgoing)
                {
                    var w = writers[s];
                    var described = new List<KStateDescription>();
                    var named = new HashSet<ulong>();
                    foreach (var i in s.Items)
                    {
                        if (!named.Add(i.RecordId)) continue; // names and schema once per description or handler
                        w.DefineName(i.RecordId, i.Compatible);
                        if (i.Description is { } d) described.Add(d);
                    }
                    if (described.Count > 0) KStateSchema.Of(described).WriteTo(w);
                    SessionDirectory.WriteSession(dir, s);
                }
                ulong instance = 1;
                foreach (var s in _outgoingShared)
                {
                    SessionDirectory.BeginShared(dir, instance++, s.Handler.Compatible, s.Handler.Version, s.Users);
                    try
                    {
                        s.Handler.Freeze(Kho, s.Data, dir);
                        dir.EndRecord();
                    }
                    catch
                    {
                        dir.AbandonOpenRecord();
                        throw;
                    }
                }
            }
            catch
            {
                Undo();
                throw;
            }
        }
    }

    private RecordWriter Track(RecordWriter w)
    {
        _written.Add(w.Name);
        return w;
    }

    /// <summary>Undoes <see cref="Save"/>: items are unfrozen, last first, the folios described items had preserved
    /// are unpreserved, and the streams it wrote are dropped.
    /// Never throws (it runs on failure and abort paths); a handler whose unfreeze fails is kept in
    /// <see cref="UndoFailures"/>.</summary>
    private void Undo()
    {
        lock (Gate)
        {
            for (int i = _frozen.Count - 1; i >= 0; i--)
            {
                try { _frozen[i].Handler!.Unfreeze(_frozen[i].Context); }
                catch (Exception e) { _undoFailures.Add(new KStateInvalidException($"unfreeze of item {_frozen[i].Token} of session '{_frozen[i].Session.Name}' failed: {e.Message}")); }
            }
            _frozen.Clear();
            KStateDescription.Unpreserve(Kho, _preservedFolios, 0);
            foreach (var name in _written) _streams.Set.DropOutgoing(name);
            _written.Clear();
            _finalized = false;
        }
    }

    /// <summary>Handlers whose unfreeze failed when the last finalize was undone (failed or aborted).</summary>
    public IReadOnlyList<KStateException> UndoFailures
    {
        get { lock (Gate) return [.. _undoFailures]; }
    }
}
