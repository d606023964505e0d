using System.Reflection;
using KState.Machine.Diagnostics;

namespace KState;

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
public sealed partial class KStateSessions
{
    private readonly KStateStreams _streams;
    private readonly Dictionary<string, ItemHandler> _handlers = new(StringComparer.Ordinal);
    private readonly List<ItemHandler> _handlerOrder = [];        // registration order: who is asked first
    private readonly Dictionary<string, SharedDataHandler> _sharedHandlers = new(StringComparer.Ordinal);
    private readonly List<Session> _outgoing = [];
    private readonly List<OutgoingItem> _order = [];             // every outgoing item, in preservation order
    private readonly List<SharedInUse> _outgoingShared = [];  // in order of first preservation
    private readonly List<OutgoingItem> _frozen = [];
    private readonly List<string> _written = [];                 // streams the last finalize created
    private readonly PreservationLog _preservedFolios = new();   // what the last finalize preserved for described items
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
            Throw.Exists("these streams already have their sessions (one KStateSessions per generation)");
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
            KStateMeter.Damaged(streams.Kho, "session directory", IncomingProblem);
        }
        KStateMeter.LiveUpdateCount(streams.Kho, LiveUpdateCount);
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
    internal SessionDirectory? Incoming => _incoming;

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
                Throw.Exists($"a handler is already registered as '{handler.Compatible}'");
            }
            if (handler.SharedData.Count > byte.MaxValue)
                Throw.Invalid($"handler '{handler.Compatible}' binds {handler.SharedData.Count} shared data; at most {byte.MaxValue}");
            foreach (var s in handler.SharedData)
                if (_sharedHandlers.TryGetValue(s.Compatible, out var k) && !ReferenceEquals(k, s))
                    Throw.Exists($"other shared data is already registered as '{s.Compatible}'");
            _handlers.Add(handler.Compatible, handler);
            _handlerOrder.Add(handler);
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
            foreach (var h in _handlerOrder)
                if (h.CanPreserve(item)) return h;
            return null;
        }
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
