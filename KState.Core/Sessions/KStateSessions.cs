using System.Reflection;
using KState.Core.Descriptions;
using KState.Core.Records;

namespace KState.Core.Sessions;

/// <summary>An item the previous generation saved that this one has not retrieved.</summary>
/// <param name="Session">Its session.</param>
/// <param name="Item">The item.</param>
/// <param name="SessionRetrieved">False when its whole session was never retrieved.</param>
/// <param name="HandlerKnown">False when no handler for its compatible string is registered here (a described
/// object counts as known: its description is given at restore).</param>
public sealed record UnretrievedItem(string Session, ItemEntry Item, bool SessionRetrieved, bool HandlerKnown);

/// <summary>
/// Sessions, items and shared data of one generation, LUO-style, on the KSTATE streams: outgoing sessions are
/// saved when the handover is finalized (one substream each, plus the "sessions" directory with the global
/// live-update record); incoming ones are retrieved by name after boot. Thread-safe: one lock guards every session,
/// and handlers are called under it, so a handler must not block on another thread that uses these sessions.
/// </summary>
public sealed class KStateSessions
{
    private readonly KStateStreams _streams;
    private readonly Dictionary<string, ItemHandler> _handlers = new(StringComparer.Ordinal);
    private readonly Dictionary<string, SharedDataHandler> _sharedHandlers = new(StringComparer.Ordinal);
    private readonly List<Session> _outgoing = [];
    private readonly List<OutgoingItem> _order = [];             // every outgoing item, in preservation order
    private readonly List<SharedInUse> _outgoingShared = [];  // in order of first preservation
    private readonly List<OutgoingItem> _frozen = [];
    private readonly List<string> _written = [];                 // streams the last finalize created
    private readonly List<KStateException> _undoFailures = [];
    private readonly SessionDirectory? _incoming;
    private readonly Dictionary<string, RetrievedSession> _retrieved = new(StringComparer.Ordinal);
    private readonly Dictionary<string, uint> _sharedUsers = new(StringComparer.Ordinal);
    private readonly Dictionary<string, object> _sharedRetrieved = new(StringComparer.Ordinal);
    private ulong _nextOrdinal = 1;
    private bool _finalized;

    /// <summary>Sessions over a generation's streams: reads the incoming directory (a damaged one is kept in
    /// <see cref="IncomingProblem"/> and does not stop the generation) and saves the outgoing sessions at finalize.</summary>
    public KStateSessions(KStateStreams streams)
    {
        ArgumentNullException.ThrowIfNull(streams);
        if (streams.Steps.Any(step => step.Owner is KStateSessions))
            throw new KStateExistsException("these streams already have their sessions (one KStateSessions per generation)");
        _streams = streams;
        try
        {
            if (streams.IncomingProblem is { } problem) IncomingProblem = problem;
            else if (streams.Set.HasIncoming(SessionDirectory.StreamName))
                _incoming = SessionDirectory.Read(streams.Set.Open(SessionDirectory.StreamName));
        }
        catch (Exception e) when (e is KStateCorruptException or KStateVersionException)
        {
            IncomingProblem = (KStateException)e;
        }
        if (_incoming is not null)
            foreach (var s in _incoming.Sessions)
                foreach (var item in s.Items)
                    foreach (var compat in item.Shared)
                        _sharedUsers[compat] = _sharedUsers.GetValueOrDefault(compat) + 1;
        if (_incoming is { Sessions.Count: 0 }) streams.Set.DropIncoming(SessionDirectory.StreamName); // nothing left to retrieve
        streams.Steps.Add(new FinalizeStep(Save, Undo, this));
    }

    internal Lock Gate { get; } = new();

    /// <summary>The machine.</summary>
    public Kho Kho => _streams.Kho;

    /// <summary>Allocator for null pointer fields of described items on restore (native memory by default).</summary>
    public IPointerAllocator Allocator { get; init; } = NativeAllocator.Instance;

    /// <summary>The version string saved in the global record for the next generation (the entry assembly's by default).</summary>
    public string Version { get; set; } = DefaultVersion();

    /// <summary>Why the incoming sessions cannot be read (a damaged directory or KSTATE root), or null.</summary>
    public KStateException? IncomingProblem { get; }

    /// <summary>The global record the previous generation saved, or null (cold boot, or it saved no sessions).</summary>
    public LiveUpdateInfo? Previous => _incoming?.Global;

    /// <summary>Live updates this state has been through: 0 on a cold boot, 1 after the first live update...</summary>
    public ulong LiveUpdateCount => _incoming?.Global?.Count ?? 0;

    /// <summary>The incoming directory (sessions, items and shared data as saved), or null.</summary>
    public SessionDirectory? Incoming => _incoming;

    // ---- handlers ----

    /// <summary>Registers an item handler (and the shared data it binds) under its compatible string.</summary>
    /// <exception cref="KStateExistsException">Another handler has that compatible string, or other shared data has
    /// the compatible string of one of its shared data.</exception>
    /// <exception cref="KStateInvalidException">It binds more than 255 shared data.</exception>
    public void RegisterHandler(ItemHandler handler)
    {
        ArgumentNullException.ThrowIfNull(handler);
        lock (Gate)
        {
            if (_handlers.TryGetValue(handler.Compatible, out var known))
            {
                if (ReferenceEquals(known, handler)) return;
                throw new KStateExistsException($"a handler is already registered as '{handler.Compatible}'");
            }
            if (handler.SharedData.Count > byte.MaxValue)
                throw new KStateInvalidException($"handler '{handler.Compatible}' binds {handler.SharedData.Count} shared data; at most {byte.MaxValue}");
            foreach (var s in handler.SharedData)
                if (_sharedHandlers.TryGetValue(s.Compatible, out var k) && !ReferenceEquals(k, s))
                    throw new KStateExistsException($"other shared data is already registered as '{s.Compatible}'");
            _handlers.Add(handler.Compatible, handler);
            foreach (var s in handler.SharedData) _sharedHandlers.TryAdd(s.Compatible, s);
        }
    }

    /// <summary>The handler registered under <paramref name="compatible"/>, or null.</summary>
    public ItemHandler? FindHandler(string compatible)
    {
        lock (Gate) return _handlers.GetValueOrDefault(compatible);
    }

    internal ItemHandler? HandlerFor(object item)
    {
        lock (Gate)
        {
            foreach (var h in _handlers.Values)
                if (h.CanPreserve(item)) return h;
            return null;
        }
    }

    // ---- outgoing ----

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
            if (_outgoing.Any(s => s.Name == name)) throw new KStateExistsException($"a session named '{name}' exists");
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
        if (_finalized) throw new KStateBusyException("the handover is finalized (abort it to change sessions)");
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
            throw new KStateInvalidException($"unpreserving shared data failed: {string.Join("; ", errors.Select(e => e.Message))}");
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
            if (_finalized) throw new KStateBusyException("the sessions are already saved for this handover");
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
                        unsafe { d.Save(w, (byte*)item.Obj, item.Token, Kho); }
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
                    if (described.Count > 0) KState.Core.Schema.KStateSchema.Of(described).WriteTo(w);
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

    /// <summary>Undoes <see cref="Save"/>: items are unfrozen, last first, and the streams it wrote are dropped.
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

    // ---- incoming ----

    /// <summary>Names of the sessions the previous generation saved.</summary>
    public IReadOnlyList<string> IncomingSessions => _incoming is null ? [] : [.. _incoming.Sessions.Select(s => s.Name)];

    /// <summary>Retrieves an incoming session by name (once).</summary>
    /// <exception cref="KStateInvalidException">The name is not a valid session name.</exception>
    /// <exception cref="KStateNotFoundException">Cold boot, or no session of that name was saved.</exception>
    /// <exception cref="KStateBusyException">It was already retrieved.</exception>
    /// <exception cref="KStateCorruptException">The directory or the session's stream is damaged.</exception>
    public RetrievedSession Retrieve(string name)
    {
        SessionNames.Check(name, "session name");
        lock (Gate)
        {
            if (IncomingProblem is { } problem) throw problem;
            if (_retrieved.ContainsKey(name)) throw new KStateBusyException($"session '{name}' is already retrieved");
            var entry = _incoming?.Sessions.FirstOrDefault(s => s.Name == name)
                ?? throw new KStateNotFoundException(!Kho.IsKhoBoot ? "no handover: this was a cold boot" : $"the handover has no session named '{name}'");
            if (!_streams.Set.HasIncoming(entry.Stream))
                throw new KStateCorruptException($"session '{name}' is listed with stream '{entry.Stream}', which the handover does not carry");
            var session = new RetrievedSession(this, entry, _streams.Set.Open(entry.Stream));
            _retrieved.Add(name, session);
            return session;
        }
    }

    /// <summary>Everything the previous generation saved that is not retrieved yet: items of sessions never
    /// retrieved and items not retrieved in retrieved sessions (finished sessions have none).</summary>
    public IReadOnlyList<UnretrievedItem> Unretrieved
    {
        get
        {
            lock (Gate)
            {
                var list = new List<UnretrievedItem>();
                if (_incoming is null) return list;
                foreach (var s in _incoming.Sessions)
                {
                    bool retrieved = _retrieved.TryGetValue(s.Name, out var r);
                    var items = retrieved ? r!.Unretrieved : s.Items;
                    foreach (var i in items)
                        list.Add(new UnretrievedItem(s.Name, i, retrieved, i.Kind == ItemKind.Description || _handlers.ContainsKey(i.Compatible)));
                }
                return list;
            }
        }
    }

    internal object RetrieveShared(SharedDataHandler handler)
    {
        lock (Gate)
        {
            if (_sharedRetrieved.TryGetValue(handler.Compatible, out var data)) return data;
            var entry = _incoming?.Shared.FirstOrDefault(s => s.Compatible == handler.Compatible)
                ?? throw new KStateNotFoundException($"the handover has no shared data '{handler.Compatible}'");
            var reader = _streams.Set.Open(SessionDirectory.StreamName);
            if (!reader.TryFind(SessionDirectory.SharedId, entry.Instance, out var rec))
                throw new KStateCorruptException($"shared data '{entry.Compatible}' is listed but its record is missing");
            var c = rec.Cursor;
            c.ReadString();
            c.ReadUInt32();
            data = handler.Retrieve(Kho, c, rec.Version) ?? throw new KStateInvalidException($"shared data '{handler.Compatible}' retrieved null");
            _sharedRetrieved.Add(handler.Compatible, data);
            return data;
        }
    }

    internal void ItemFinished(ItemEntry item)
    {
        foreach (var compat in item.Shared)
        {
            uint users = _sharedUsers.GetValueOrDefault(compat);
            if (users == 0) continue; // cannot happen: each item is finished or discarded once
            uint left = users - 1;
            _sharedUsers[compat] = left;
            if (left == 0 && _sharedRetrieved.Remove(compat, out var data)) _sharedHandlers[compat].Finish(Kho, data);
        }
    }

    internal void SessionFinished(RetrievedSession session)
    {
        _streams.Set.DropIncoming(session.Entry.Stream);
        if (_incoming!.Sessions.All(s => _retrieved.TryGetValue(s.Name, out var r) && r.IsFinished))
            _streams.Set.DropIncoming(SessionDirectory.StreamName);
    }

    private static string DefaultVersion()
    {
        var a = Assembly.GetEntryAssembly();
        if (a is null) return Path.GetFileName(Environment.ProcessPath) is { Length: > 0 } program ? program : "unknown"; // a C program using libkstate.so
        string v = a.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? a.GetName().Version?.ToString() ?? "0";
        return $"{a.GetName().Name} {v}";
    }

    private sealed class SharedInUse(SharedDataHandler handler, object data)
    {
        public SharedDataHandler Handler { get; } = handler;
        public object Data { get; } = data;
        public uint Users { get; set; }
    }
}
