using KState.Core.Sessions;

namespace KState;

// Incoming sessions: retrieving them after boot, what is left unretrieved, shared data on demand, finishing.
public sealed partial class KStateSessions
{
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
            if (_retrieved.ContainsKey(name)) Throw.Busy($"session '{name}' is already retrieved");
            var entry = _incoming?.Sessions.FirstOrDefault(s => s.Name == name)
                ?? throw new KStateNotFoundException(!Kho.IsKhoBoot ? "no handover: this was a cold boot" : $"the handover has no session named '{name}'");
            if (!_streams.Set.HasIncoming(entry.Stream))
                Throw.Corrupt($"session '{name}' is listed with stream '{entry.Stream}', which the handover does not carry");
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
            var state = SessionDirectory.SharedState(_streams.Set.Open(SessionDirectory.StreamName), entry, out uint version);
            data = handler.Retrieve(Kho, state, version) ?? throw new KStateInvalidException($"shared data '{handler.Compatible}' retrieved null");
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
}
