using KState.Core.Sessions;

namespace KState;

/// <summary>
/// An outgoing session (LUO's session): named items, each under a 64-bit token, saved with the handover when it
/// is finalized. Create one with <see cref="KStateSessions.Create"/>; the next generation gets it back with
/// <see cref="KStateSessions.Retrieve"/>. Thread-safe.
/// </summary>
public sealed unsafe partial class Session
{
    private readonly KStateSessions _owner;
    private readonly List<OutgoingItem> _items = [];                // in preservation order
    private readonly Dictionary<ulong, OutgoingItem> _byToken = [];

    internal Session(KStateSessions owner, string name, ulong ordinal)
    {
        _owner = owner;
        Name = name;
        Ordinal = ordinal;
    }

    /// <summary>The session's name.</summary>
    public string Name { get; }

    internal ulong Ordinal { get; }

    internal string StreamName => SessionDirectory.SessionStreamPrefix + Ordinal.ToString(System.Globalization.CultureInfo.InvariantCulture);

    internal List<OutgoingItem> Items => _items;

    /// <summary>True after <see cref="Close"/>.</summary>
    public bool IsClosed { get; internal set; }

    /// <summary>The tokens of its items, in preservation order.</summary>
    public IReadOnlyList<ulong> Tokens
    {
        get { lock (_owner.Gate) return [.. _items.Select(i => i.Token)]; }
    }

    /// <summary>Preserves <paramref name="item"/> under <paramref name="token"/> with the first registered handler
    /// that can preserve it.</summary>
    /// <exception cref="KStateInvalidException">No registered handler can preserve it, or the session is closed.</exception>
    /// <exception cref="KStateExistsException">The token is taken in this session.</exception>
    /// <exception cref="KStateBusyException">The handover is finalized.</exception>
    public void Preserve(ulong token, object item)
    {
        ArgumentNullException.ThrowIfNull(item);
        var handler = _owner.HandlerFor(item) ?? throw new KStateInvalidException($"no registered handler can preserve a {item.GetType().Name}");
        Preserve(token, item, handler);
    }

    /// <summary>Preserves <paramref name="item"/> under <paramref name="token"/> with <paramref name="handler"/>,
    /// which must be registered. Shared data the handler binds is preserved first when this is its first item.</summary>
    /// <exception cref="KStateInvalidException">The handler is not registered or refuses the item, or the session is closed.</exception>
    /// <exception cref="KStateExistsException">The token is taken in this session.</exception>
    /// <exception cref="KStateBusyException">The handover is finalized.</exception>
    public void Preserve(ulong token, object item, ItemHandler handler)
    {
        ArgumentNullException.ThrowIfNull(item);
        ArgumentNullException.ThrowIfNull(handler);
        lock (_owner.Gate)
        {
            CheckOpen(token);
            if (!ReferenceEquals(_owner.FindHandler(handler.Compatible), handler))
                Throw.Invalid($"handler '{handler.Compatible}' is not registered");
            if (!handler.CanPreserve(item)) Throw.Invalid($"handler '{handler.Compatible}' cannot preserve a {item.GetType().Name}");
            var entry = new OutgoingItem(this, token, ItemKind.Handler, handler.Compatible, KState.Core.Ids.KStateId.FromName(handler.Compatible))
            {
                Handler = handler,
                Context = new ItemContext(_owner, Name, token, item, incoming: false),
                Shared = [.. handler.SharedData],
            };
            _owner.Bind(entry.Shared);
            try
            {
                handler.Preserve(entry.Context);
            }
            catch
            {
                _owner.Unbind(entry.Shared);
                throw;
            }
            Add(entry);
        }
    }

    /// <summary>Preserves a described object under <paramref name="token"/>: its state is saved, as the description
    /// says, when the handover is finalized, so the object must stay at its address until then (native memory,
    /// or pinned), as with <see cref="KStateRegistry.Register"/>.</summary>
    /// <exception cref="KStateInvalidException">A null object, a description name longer than 63 UTF-8 bytes (the
    /// directory's limit for compatible strings), or the session is closed.</exception>
    /// <exception cref="KStateExistsException">The token is taken in this session.</exception>
    /// <exception cref="KStateBusyException">The handover is finalized.</exception>
    public void SaveState(KStateDescription description, void* obj, ulong token)
    {
        ArgumentNullException.ThrowIfNull(description);
        if (obj == null) Throw.Invalid($"session '{Name}': item {token} ('{description.Name}') is a null object");
        SessionNames.Check(description.Name, $"session '{Name}': item {token}'s description name"); // the directory lists it as the item's compatible string
        lock (_owner.Gate)
        {
            CheckOpen(token);
            Add(new OutgoingItem(this, token, ItemKind.Description, description.Name, description.Id)
            {
                Description = description,
                Obj = (nint)obj,
                Context = new ItemContext(_owner, Name, token, null, incoming: false),
            });
        }
    }

    /// <summary>Takes an item out of the session (its handler unpreserves it; shared data goes with its last item).</summary>
    /// <exception cref="KStateNotFoundException">No item has that token.</exception>
    /// <exception cref="KStateBusyException">The handover is finalized.</exception>
    public void Unpreserve(ulong token)
    {
        lock (_owner.Gate)
        {
            _owner.CheckNotFinalized();
            if (!_byToken.TryGetValue(token, out var item)) Throw.NotFound($"session '{Name}' has no item {token}");
            _owner.Unpreserve(item, () =>
            {
                _byToken.Remove(token);
                _items.Remove(item);
            });
        }
    }

    /// <summary>Closes the session: every item is unpreserved, last preserved first, and the session is not saved.</summary>
    /// <exception cref="KStateBusyException">The handover is finalized.</exception>
    public void Close()
    {
        lock (_owner.Gate)
        {
            if (IsClosed) return;
            _owner.CheckNotFinalized();
            try
            {
                for (int i = _items.Count - 1; i >= 0; i--)
                {
                    var item = _items[i];
                    _owner.Unpreserve(item, () =>
                    {
                        _byToken.Remove(item.Token);
                        _items.RemoveAt(i);
                    }, keepInOrder: true);
                }
                _owner.Remove(this);
                IsClosed = true;
            }
            finally
            {
                _owner.SyncOrder(this); // one pass over the order, even when a handler failed half-way
            }
        }
    }

    private void CheckOpen(ulong token)
    {
        if (IsClosed) Throw.Invalid($"session '{Name}' is closed");
        _owner.CheckNotFinalized();
        if (_byToken.ContainsKey(token)) Throw.Exists($"session '{Name}' already has an item {token}");
    }

    private void Add(OutgoingItem item)
    {
        _items.Add(item);
        _byToken.Add(item.Token, item);
        _owner.Preserved(item);
    }

    /// <inheritdoc/>
    public override string ToString() => $"session '{Name}' ({_items.Count} items)";
}

/// <summary>An item of an outgoing session.</summary>
internal sealed class OutgoingItem(Session session, ulong token, ItemKind kind, string compatible, ulong recordId)
{
    public Session Session { get; } = session;
    public ulong Token { get; } = token;
    public ItemKind Kind { get; } = kind;
    public string Compatible { get; } = compatible;
    public ulong RecordId { get; } = recordId;
    public ItemHandler? Handler { get; init; }
    public KStateDescription? Description { get; init; }
    public nint Obj { get; init; }
    public IKStateBox? Box { get; init; } // saved from the box's address instead of Obj
    public required ItemContext Context { get; init; }
    public SharedDataHandler[] Shared { get; init; } = [];

}
