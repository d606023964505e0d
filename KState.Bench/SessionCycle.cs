using System.Runtime.InteropServices;
using KState.Core.Sessions;

namespace KState.Bench;

/// <summary>Where a <see cref="SessionCycle"/> stands: the state just before the step of the same position runs.</summary>
internal enum SessionStage
{
    /// <summary>A generation is booted and owns the state, in no session: next is Preserve.</summary>
    Live,
    /// <summary>The state is in the outgoing session: next is Finalize.</summary>
    Preserved,
    /// <summary>The handover is committed: next is Exit (Dispose, the "kexec").</summary>
    Finalized,
    /// <summary>No generation is booted; the region holds a committed handover: next is Boot.</summary>
    HandedOver,
    /// <summary>A generation booted, with its streams and sessions, handlers registered and the session retrieved:
    /// next is Retrieve (its items).</summary>
    Booted,
    /// <summary>Every item is retrieved: next is Finish (the session).</summary>
    Retrieved,
}

/// <summary>
/// One region whose state goes round the session cycle Preserve → Finalize → Exit → Boot → Retrieve → Finish →
/// Preserve → ... for ever, in one session named <see cref="SessionName"/>. Like <see cref="HandoverCycle"/>, each
/// benchmark measures a step (or several) and its iteration setup drives the cycle, unmeasured, to the stage just
/// before it. Subclasses say what the session holds.
/// </summary>
internal abstract class SessionCycle : IDisposable
{
    public const string SessionName = "bench";
    private static readonly KhoOptions Options = new() { Poison = false };
    private Kho? _kho;
    private KStateStreams? _streams;
    private KStateSessions? _sessions;
    private RetrievedSession? _retrieved;

    /// <summary>Creates the region and cold-boots the first generation (streams and sessions, no handler yet: the
    /// subclass registers its own, then creates its state).</summary>
    protected SessionCycle(string tag, ulong regionBytes)
    {
        Path = HandoverCycle.NewRegionPath(tag);
        Kho.RemoveRegion(Path);
        try
        {
            _kho = Kho.Init(Path, regionBytes, Options);
            _streams = new KStateStreams(_kho);
            _sessions = new KStateSessions(_streams);
        }
        catch
        {
            Dispose();
            throw;
        }
        Stage = SessionStage.Live;
    }

    public string Path { get; }
    public SessionStage Stage { get; private set; }

    /// <summary>The booted generation (null between Exit and Boot).</summary>
    protected Kho Kho => _kho ?? throw new InvalidOperationException("no generation is booted");

    /// <summary>The booted generation's sessions.</summary>
    protected KStateSessions Sessions => _sessions ?? throw new InvalidOperationException("no generation is booted");

    /// <summary>Registers the handlers a generation needs, as a program does at start.</summary>
    protected abstract void RegisterHandlers(KStateSessions sessions);

    /// <summary>Puts the state into the outgoing session.</summary>
    protected abstract void PreserveItems(Session session);

    /// <summary>Gets every item of the retrieved session back.</summary>
    protected abstract void RetrieveItems(RetrievedSession session);

    /// <summary>Checks that the retrieved state is what was saved. Touches the data.</summary>
    public abstract void VerifyContents();

    /// <summary>
    /// Runs <paramref name="rounds"/> whole rounds, pauses, and runs them again, ending where it started: the pause
    /// lets the tiered JIT promote the methods called once per round (see <see cref="HandoverCycle.WarmUp"/>).
    /// </summary>
    public void WarmUp(int rounds)
    {
        var start = Stage;
        for (int pass = 0; pass < 2; pass++)
        {
            for (int r = 0; r < rounds; r++)
            {
                Step();
                RunUntil(start);
            }
            if (pass == 0) Thread.Sleep(300);
        }
    }

    /// <summary>Runs steps (unmeasured) until the cycle stands at <paramref name="target"/>; no-op when it does already.</summary>
    public void RunUntil(SessionStage target)
    {
        while (Stage != target) Step();
    }

    /// <summary>Runs the next step.</summary>
    public void Step()
    {
        switch (Stage)
        {
            case SessionStage.Live: Preserve(); break;
            case SessionStage.Preserved: FinalizeHandover(); break;
            case SessionStage.Finalized: Exit(); break;
            case SessionStage.HandedOver: Boot(); break;
            case SessionStage.Booted: Retrieve(); break;
            case SessionStage.Retrieved: Finish(); break;
        }
    }

    /// <summary>Creates the session and preserves the state in it.</summary>
    public void Preserve()
    {
        Expect(SessionStage.Live);
        PreserveItems(Sessions.Create(SessionName));
        Stage = SessionStage.Preserved;
    }

    /// <summary>FinalizeHandover: the sessions save their items (handlers freeze, descriptions save), then KHO commits.</summary>
    public void FinalizeHandover()
    {
        Expect(SessionStage.Preserved);
        Kho.FinalizeHandover();
        Stage = SessionStage.Finalized;
    }

    public void Exit()
    {
        Expect(SessionStage.Finalized);
        _streams!.Dispose();
        _kho!.Dispose();
        _streams = null;
        _sessions = null;
        _kho = null;
        Stage = SessionStage.HandedOver;
    }

    /// <summary>What a new generation does before it gets its items: Kho.Init on the region, streams, sessions,
    /// handlers, and the session retrieved by name.</summary>
    public void Boot()
    {
        Expect(SessionStage.HandedOver);
        var kho = Kho.Init(Path, 0, Options);
        _kho = kho;
        if (!kho.IsKhoBoot) throw new InvalidOperationException("expected a kho boot, got: " + kho.BootReport);
        _streams = new KStateStreams(kho);
        _sessions = new KStateSessions(_streams);
        RegisterHandlers(_sessions);
        _retrieved = _sessions.Retrieve(SessionName);
        Stage = SessionStage.Booted;
    }

    public void Retrieve()
    {
        Expect(SessionStage.Booted);
        RetrieveItems(_retrieved!);
        Stage = SessionStage.Retrieved;
    }

    public void Finish()
    {
        Expect(SessionStage.Retrieved);
        _retrieved!.Finish();
        _retrieved = null;
        Stage = SessionStage.Live;
    }

    private void Expect(SessionStage stage)
    {
        if (Stage != stage) throw new InvalidOperationException($"cycle is at {Stage}, not {stage}");
    }

    public virtual void Dispose()
    {
        _streams?.Dispose();
        _kho?.Dispose();
        _streams = null;
        _sessions = null;
        _kho = null;
        Kho.RemoveRegion(Path);
    }
}

/// <summary>
/// A session holding one <see cref="MemfdBuffer"/> of 2 MiB folios, filled once with a per-folio pattern. Each
/// round hands the same folios over: the buffer retrieved in one generation is preserved again in the next.
/// </summary>
internal sealed class MemfdCycle : SessionCycle
{
    private const ulong Token = 1;
    private MemfdBuffer _buffer;

    public MemfdCycle(string tag, ulong regionBytes, long bytes) : base(tag, regionBytes)
    {
        try
        {
            RegisterHandlers(Sessions);
            _buffer = MemfdBuffer.Create(Kho, "bench-memfd", bytes);
            for (int i = 0; i < _buffer.Folios.Count; i++) Fill(_buffer.Segment(i), i);
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    private static void Fill(Span<byte> bytes, int index)
    {
        bytes.Fill(Pattern(index));
        BitConverter.TryWriteBytes(bytes, (long)index);
    }

    private static byte Pattern(int index) => (byte)(index * 37 + 11);

    protected override void RegisterHandlers(KStateSessions sessions) => sessions.RegisterHandler(new MemfdHandler());

    protected override void PreserveItems(Session session) => session.Preserve(Token, _buffer);

    // The buffer of the previous generation belongs to its unmapped Kho: it is dropped, not disposed.
    protected override void RetrieveItems(RetrievedSession session) => _buffer = session.Retrieve<MemfdBuffer>(Token);

    public override void VerifyContents()
    {
        for (int i = 0; i < _buffer.Folios.Count; i++)
        {
            var s = _buffer.Segment(i);
            if (BitConverter.ToInt64(s) != i || s[^1] != Pattern(i))
                throw new InvalidOperationException($"folio {i} of {_buffer} lost its contents across the handover");
        }
    }
}

/// <summary>
/// A session holding <see cref="Count"/> described <see cref="Item32"/> objects in native memory, each under its own
/// token (its index). They are saved from one native array and restored into another, the same every round.
/// </summary>
internal sealed unsafe class DescribedItemsCycle : SessionCycle
{
    public static readonly KStateDescription Description = KStateDescriptionBuilder<Item32>.Create("bench/item32", 1, 1)
        .Base((ref Item32 x) => ref x.A)
        .Base((ref Item32 x) => ref x.B)
        .Base((ref Item32 x) => ref x.C)
        .Base((ref Item32 x) => ref x.D)
        .Build();

    private readonly int _capacity;
    private Item32* _items;
    private Item32* _restored;
    private int _preserved;

    public DescribedItemsCycle(string tag, ulong regionBytes, int capacity) : base(tag, regionBytes)
    {
        _capacity = capacity;
        Count = capacity;
        _items = (Item32*)NativeMemory.AlignedAlloc((nuint)(capacity * sizeof(Item32)), 64);
        _restored = (Item32*)NativeMemory.AlignedAlloc((nuint)(capacity * sizeof(Item32)), 64);
        for (int i = 0; i < capacity; i++) _items[i] = new Item32 { A = i, B = -i, C = i * 3L, D = 7 };
        ClearRestored();
    }

    /// <summary>Items preserved per round, at most the capacity; changed only while the cycle is <see cref="SessionStage.Live"/>.</summary>
    public int Count { get; set; }

    public void ClearRestored() => NativeMemory.Clear(_restored, (nuint)(_capacity * sizeof(Item32)));

    protected override void RegisterHandlers(KStateSessions sessions) { } // described objects need no handler

    protected override void PreserveItems(Session session)
    {
        int n = Math.Min(Count, _capacity);
        for (int i = 0; i < n; i++) session.SaveState(Description, _items + i, (ulong)i);
        _preserved = n;
    }

    protected override void RetrieveItems(RetrievedSession session)
    {
        for (int i = 0; i < _preserved; i++) session.Restore(Description, _restored + i, (ulong)i);
    }

    public override void VerifyContents()
    {
        int bytes = _preserved * sizeof(Item32);
        if (!new ReadOnlySpan<byte>(_items, bytes).SequenceEqual(new ReadOnlySpan<byte>(_restored, bytes)))
            throw new InvalidOperationException($"{_preserved} described items did not come back as they were saved");
    }

    public override void Dispose()
    {
        base.Dispose();
        if (_items != null) NativeMemory.AlignedFree(_items);
        if (_restored != null) NativeMemory.AlignedFree(_restored);
        _items = _restored = null;
    }
}
