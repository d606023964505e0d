using KState.Core.Sessions;

namespace KState;

/// <summary>
/// Preserves one kind of item across a live update (LUO's file handler). Registered with
/// <see cref="KStateSessions.RegisterHandler"/> under a <see cref="Compatible"/> string that the next generation
/// must know to retrieve the item. Calls come in this order: <see cref="Preserve"/> when the item joins a session,
/// <see cref="Freeze"/> at finalize (in preservation order), <see cref="Unfreeze"/> when that finalize is undone,
/// <see cref="Unpreserve"/> when the item leaves (in reverse order); after boot <see cref="Retrieve"/> once,
/// then <see cref="CanFinish"/> and <see cref="Finish"/> (in reverse order) when its session finishes.
/// </summary>
public abstract class ItemHandler
{
    /// <summary>A handler for items whose state the next generation reads under <paramref name="compatible"/>.</summary>
    /// <exception cref="KStateInvalidException">The string is empty or longer than 63 UTF-8 bytes.</exception>
    protected ItemHandler(string compatible)
    {
        SessionNames.Check(compatible, "compatible string");
        Compatible = compatible;
    }

    /// <summary>The name the item's state is saved under, with its format version ("kstate-memfd-v1").</summary>
    public string Compatible { get; }

    /// <summary>Shared data every item of this handler is bound to (LUO's file-lifecycle-bound data).</summary>
    public virtual IReadOnlyList<SharedDataHandler> SharedData => [];

    /// <summary>True when this handler can preserve <paramref name="item"/>.</summary>
    public abstract bool CanPreserve(object item);

    /// <summary>The item joins a session: preserve its memory in KHO. Throwing refuses the item.</summary>
    public abstract void Preserve(ItemContext context);

    /// <summary>The item leaves its session (or the session closes): undo <see cref="Preserve"/>.</summary>
    public abstract void Unpreserve(ItemContext context);

    /// <summary>At finalize: write the item's state into its record (the record is open). Throwing fails the
    /// finalize and undoes every session's freeze.</summary>
    public abstract void Freeze(ItemContext context, RecordWriter state);

    /// <summary>The finalize that froze the item was undone (failed or aborted): the item is live again.</summary>
    public virtual void Unfreeze(ItemContext context) { }

    /// <summary>After boot: rebuild the item from its record (called once; later retrievals get the same object).</summary>
    public abstract object Retrieve(ItemContext context, RecordCursor state, uint version);

    /// <summary>True when the retrieved item may be finished now.</summary>
    public virtual bool CanFinish(ItemContext context) => true;

    /// <summary>The session finishes: the item is the new generation's own from now on.</summary>
    public virtual void Finish(ItemContext context) { }

    /// <summary>The version written in its records and handed to <c>Retrieve</c> (1 unless the handler says otherwise).</summary>
    public virtual uint Version => 1;

    /// <inheritdoc/>
    public override string ToString() => Compatible;
}

/// <summary>What a handler call is about: the machine, the session, the item's token and the item itself.</summary>
public sealed class ItemContext
{
    private readonly KStateSessions _owner;
    private readonly bool _incoming;

    internal ItemContext(KStateSessions owner, string session, ulong token, object? item, bool incoming)
    {
        _owner = owner;
        Session = session;
        Token = token;
        Item = item;
        _incoming = incoming;
    }

    /// <summary>The machine.</summary>
    public Kho Kho => _owner.Kho;

    /// <summary>The session's name.</summary>
    public string Session { get; }

    /// <summary>The item's token in its session.</summary>
    public ulong Token { get; }

    /// <summary>The item: the preserved object before the handover, the retrieved one after (null while retrieving).</summary>
    public object? Item { get; internal set; }

    /// <summary>The shared data this item is bound to: this generation's object before the handover; after boot,
    /// the previous generation's, retrieved on first use.</summary>
    /// <exception cref="KStateNotFoundException">The handover carries no such shared data.</exception>
    public T Shared<T>(SharedDataHandler handler) where T : class =>
        (T)(_incoming ? _owner.RetrieveShared(handler) : _owner.OutgoingShared(handler));
}
