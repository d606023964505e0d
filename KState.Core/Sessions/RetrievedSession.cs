using KState.Core.Records;
using KState.Machine.Diagnostics;

namespace KState;

/// <summary>
/// A session the previous generation saved, retrieved after boot (<see cref="KStateSessions.Retrieve"/>): its
/// items come back by token, in any order, each once (retrieving again returns the same object); then
/// <see cref="Finish"/> makes them this generation's own. Thread-safe.
/// </summary>
public sealed unsafe partial class RetrievedSession
{
    private readonly KStateSessions _owner;
    private readonly RecordReader _reader;
    private readonly IncomingItem[] _items; // in preservation order
    private readonly Dictionary<ulong, IncomingItem> _byToken;

    internal RetrievedSession(KStateSessions owner, SessionEntry entry, RecordReader reader)
    {
        _owner = owner;
        _reader = reader;
        Entry = entry;
        _items = [.. entry.Items.Select(e => new IncomingItem(e))];
        _byToken = _items.ToDictionary(i => i.Entry.Token); // tokens are unique: the directory reader checked
        foreach (var item in entry.Items)
            if (!reader.TryFind(item.RecordId, item.Token, out _))
                Throw.Corrupt($"session '{entry.Name}': item {item.Token} ('{item.Compatible}') is listed but its record is missing");
    }

    internal SessionEntry Entry { get; }

    /// <summary>The session's name.</summary>
    public string Name => Entry.Name;

    /// <summary>Records in the session's stream (its items' records, schema and names), as <c>kstate inspect</c> lists them.</summary>
    public int StreamRecords => _reader.RecordCount;

    /// <summary>Its items as the previous generation listed them, in preservation order.</summary>
    public IReadOnlyList<ItemEntry> Items => Entry.Items;

    /// <summary>True after <see cref="Finish"/>.</summary>
    public bool IsFinished { get; private set; }

    /// <summary>The items not retrieved (or restored) yet; discarded items are not listed: they were given up on purpose.</summary>
    public IReadOnlyList<ItemEntry> Unretrieved
    {
        get { lock (_owner.Gate) return [.. _items.Where(i => !i.Done && !i.Discarded).Select(i => i.Entry)]; }
    }

    /// <summary>The schema of the described items, or null when there are none.</summary>
    /// <exception cref="KStateCorruptException">The schema record is damaged.</exception>
    /// <exception cref="KStateInvalidException">The session is finished (its stream is released).</exception>
    public KStateSchema? ItemSchema
    {
        get
        {
            lock (_owner.Gate)
            {
                if (IsFinished) Throw.Invalid($"session '{Name}' is finished; its stream is released");
                return _reader.TryGetSchema(out var rec) ? KStateSchema.Read(rec) : null;
            }
        }
    }

    /// <summary>Retrieves the item saved under <paramref name="token"/> through its handler (once; the same object
    /// afterwards).</summary>
    /// <exception cref="KStateNotFoundException">No item has that token.</exception>
    /// <exception cref="KStateVersionException">No handler for its compatible string is registered here.</exception>
    /// <exception cref="KStateInvalidException">It is a described object (use <see cref="Restore"/>), or the session is finished.</exception>
    /// <exception cref="KStateCorruptException">Its record is damaged.</exception>
    public object Retrieve(ulong token)
    {
        lock (_owner.Gate)
        {
            var item = Find(token);
            if (item.Object is { } done) return done;
            if (item.Discarded) Throw.Invalid($"session '{Name}': item {token} was discarded");
            if (item.Entry.Kind != ItemKind.Handler)
                Throw.Invalid($"session '{Name}': item {token} is a '{item.Entry.Compatible}' object; restore it with its description");
            var handler = _owner.FindHandler(item.Entry.Compatible)
                ?? throw new KStateVersionException($"session '{Name}': item {token} needs handler '{item.Entry.Compatible}', which this program has not registered");
            var rec = _reader.Find(item.Entry.RecordId, token);
            item.Context = new ItemContext(_owner, Name, token, null, incoming: true);
            var obj = handler.Retrieve(item.Context, rec.Cursor, rec.Version)
                ?? throw new KStateInvalidException($"handler '{handler.Compatible}' retrieved null for item {token}");
            item.Context.Item = obj;
            item.Handler = handler;
            item.Object = obj;
            return obj;
        }
    }

    /// <summary>Retrieves the item saved under <paramref name="token"/> as a <typeparamref name="T"/>.</summary>
    /// <exception cref="KStateInvalidException">The item is not a <typeparamref name="T"/>.</exception>
    public T Retrieve<T>(ulong token) where T : class =>
        Retrieve(token) as T ?? throw new KStateInvalidException($"session '{Name}': item {token} is not a {typeof(T).Name}");

    /// <summary>Restores the described object saved under <paramref name="token"/> into <paramref name="obj"/>.
    /// Restoring again into the same object does nothing; into another is refused. A restore that fails (a damaged
    /// record, a post_load that refuses) changes neither the object nor KHO: the item stays still to restore.</summary>
    /// <exception cref="KStateNotFoundException">No item has that token.</exception>
    /// <exception cref="KStateInvalidException">The item was saved with another description, or is not a described object.</exception>
    /// <exception cref="KStateBusyException">It was restored into another object.</exception>
    /// <exception cref="KStateVersionException">Its version is outside the description's range.</exception>
    /// <exception cref="KStateCorruptException">Its record is damaged.</exception>
    public void Restore(KStateDescription description, void* obj, ulong token)
    {
        ArgumentNullException.ThrowIfNull(description);
        if (obj == null) Throw.Invalid($"session '{Name}': restore of item {token} into a null object");
        long started = System.Diagnostics.Stopwatch.GetTimestamp();
        lock (_owner.Gate)
        {
            var item = Find(token);
            if (item.Entry.Kind != ItemKind.Description)
                Throw.Invalid($"session '{Name}': item {token} was preserved by handler '{item.Entry.Compatible}'; retrieve it");
            if (item.Entry.Compatible != description.Name || item.Entry.RecordId != description.Id)
                Throw.Invalid($"session '{Name}': item {token} was saved as '{item.Entry.Compatible}', not '{description.Name}'");
            if (item.Discarded) Throw.Invalid($"session '{Name}': item {token} was discarded");
            if (item.RestoredInto == (nint)obj) return;
            if (item.RestoredInto != 0) Throw.Busy($"session '{Name}': item {token} is already restored into another object");
            description.Restore(_reader, (byte*)obj, token, _owner.Kho, _owner.Allocator);
            item.RestoredInto = (nint)obj;
        }
        KStateMeter.Restored("session", description.Size, started);
    }

    /// <summary>
    /// Gives up an item that is not retrieved (its handler is unknown here, or its record is damaged), so that the
    /// session can finish. Its memory is not restored: it stays with KHO's leak report (<see cref="Kho.ListUnrestored"/>).
    /// </summary>
    /// <exception cref="KStateNotFoundException">No item has that token.</exception>
    /// <exception cref="KStateInvalidException">It is already retrieved, or the session is finished.</exception>
    public void Discard(ulong token)
    {
        lock (_owner.Gate)
        {
            var item = Find(token);
            if (item.Done) Throw.Invalid($"session '{Name}': item {token} is retrieved; it is finished with the session");
            if (item.Discarded) return;
            item.Discarded = true;
            _owner.ItemFinished(item.Entry); // it no longer holds its shared data
        }
    }

    /// <summary>
    /// Finishes the session, all or nothing: when every item is retrieved and its handler can finish, each is
    /// finished (last preserved first), shared data whose last item this was is finished, and the session's stream
    /// is released. Otherwise nothing changes. (A handler whose own Finish throws stops the walk; the items already
    /// finished stay so, and calling Finish again goes on from there.)
    /// </summary>
    /// <exception cref="KStateBusyException">An item is not retrieved, or its handler cannot finish it yet (all are named).</exception>
    /// <exception cref="KStateInvalidException">The session is already finished.</exception>
    public void Finish()
    {
        lock (_owner.Gate)
        {
            if (IsFinished) Throw.Invalid($"session '{Name}' is already finished");
            var notReady = new List<string>();
            foreach (var i in _items)
            {
                if (i.Discarded || i.Finished) continue;
                if (!i.Done) notReady.Add($"{i.Entry.Token} ('{i.Entry.Compatible}') is not retrieved");
                else if (i.Handler is { } h && !h.CanFinish(i.Context!)) notReady.Add($"{i.Entry.Token} ('{i.Entry.Compatible}') cannot finish yet");
            }
            if (notReady.Count > 0) Throw.Busy($"session '{Name}' cannot finish: item {string.Join("; item ", notReady)}");
            for (int k = _items.Length - 1; k >= 0; k--)
            {
                var i = _items[k];
                if (i.Discarded || i.Finished) continue;
                i.Handler?.Finish(i.Context!); // if this throws, the items after it are finished; Finish again resumes
                i.Finished = true;
                _owner.ItemFinished(i.Entry);
            }
            IsFinished = true;
            _owner.SessionFinished(this);
        }
    }

    private IncomingItem Find(ulong token)
    {
        if (IsFinished) Throw.Invalid($"session '{Name}' is finished");
        return _byToken.TryGetValue(token, out var item) ? item : throw new KStateNotFoundException($"session '{Name}' has no item {token}");
    }

    /// <inheritdoc/>
    public override string ToString() => $"retrieved session '{Name}' ({_items.Length} items)";

    private sealed class IncomingItem(ItemEntry entry)
    {
        public ItemEntry Entry { get; } = entry;
        public ItemHandler? Handler { get; set; }
        public ItemContext? Context { get; set; }
        public object? Object { get; set; }
        public nint RestoredInto { get; set; }
        public bool Discarded { get; set; }
        public bool Finished { get; set; }
        public bool Done => Object is not null || RestoredInto != 0;
    }
}
