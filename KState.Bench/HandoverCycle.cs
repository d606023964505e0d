namespace KState.Bench;

/// <summary>Where a <see cref="HandoverCycle"/> stands: the state just before the phase of the same position runs.</summary>
internal enum CycleStage
{
    /// <summary>A generation is booted and owns every folio (allocated, or restored): next is Preserve.</summary>
    Allocated,
    /// <summary>Every folio is preserved: next is Finalize.</summary>
    Preserved,
    /// <summary>The handover is committed: next is Exit (Dispose, the "kexec").</summary>
    Finalized,
    /// <summary>No generation is booted; the region holds a committed handover: next is Boot (Kho.Init).</summary>
    HandedOver,
    /// <summary>A generation booted on the handover; the folios are reserved, not yet restored: next is Restore.</summary>
    Booted,
}

/// <summary>
/// One region with <c>count</c> folios of one order that goes round the handover cycle
/// Preserve → Finalize → Exit → Boot → Restore → Preserve → ... for ever. Each benchmark measures one phase (or the
/// whole round); its iteration setup drives the cycle, unmeasured, to the stage just before that phase. The folios
/// are allocated and filled once: after a restore the same phys addresses are owned again, so the next preserve
/// starts from the same state, and the bytes never move.
/// </summary>
internal sealed class HandoverCycle : IDisposable
{
    private static readonly KhoOptions Options = new() { Poison = false };
    private readonly ulong[] _phys;
    private readonly int _order;
    private Kho? _kho;

    public string Path { get; }
    public CycleStage Stage { get; private set; }
    public int Count => _phys.Length;
    public int Order => _order;

    /// <summary>The booted generation (null between Exit and Boot).</summary>
    public Kho? Current => _kho;

    private HandoverCycle(string path, Kho kho, ulong[] phys, int order)
    {
        Path = path;
        _kho = kho;
        _phys = phys;
        _order = order;
        Stage = CycleStage.Allocated;
    }

    /// <summary>A unique region path under /dev/shm for one benchmark process.</summary>
    public static string NewRegionPath(string tag) =>
        $"/dev/shm/kstate-bench-{tag}-{Environment.ProcessId}-{Guid.NewGuid():N}";

    /// <summary>Creates a region of <paramref name="regionSize"/> bytes and allocates <paramref name="count"/> folios of
    /// <paramref name="order"/>; with <paramref name="fill"/>, writes a per-folio pattern into all of their bytes.</summary>
    public static HandoverCycle Create(string tag, ulong regionSize, int order, int count, bool fill)
    {
        string path = NewRegionPath(tag);
        Kho.RemoveRegion(path);
        var kho = Kho.Init(path, regionSize, Options);
        try
        {
            var phys = new ulong[count];
            for (int i = 0; i < count; i++)
            {
                var folio = kho.AllocFolio(order);
                phys[i] = folio.Phys;
                if (fill) Fill(kho.FolioSpan(folio), folio.Phys);
            }
            return new HandoverCycle(path, kho, phys, order);
        }
        catch
        {
            kho.Dispose();
            Kho.RemoveRegion(path);
            throw;
        }
    }

    private static void Fill(Span<byte> bytes, ulong phys)
    {
        bytes.Fill((byte)(phys >> 12));
        BitConverter.TryWriteBytes(bytes, phys);
    }

    /// <summary>Checks that every folio still holds its pattern (first 8 bytes and the last byte). Touches the data.</summary>
    public void VerifyContents()
    {
        var kho = _kho ?? throw new InvalidOperationException("no generation is booted");
        foreach (ulong p in _phys)
        {
            var span = kho.FolioSpan(new Folio(p, _order));
            if (BitConverter.ToUInt64(span) != p || span[^1] != (byte)(p >> 12))
                throw new InvalidOperationException($"folio 0x{p:x} lost its contents across the handover");
        }
    }

    /// <summary>
    /// Runs <paramref name="rounds"/> whole rounds, pauses, and runs them again, ending where it started. The pause
    /// lets the tiered JIT (which promotes a method after 30 calls and a 100 ms quiet period) install optimized code
    /// for methods called only once or a few times per round, such as the hashing in finalize and boot; otherwise
    /// the first measured iterations would run them as tier-0 code, 10 to 100 times slower.
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

    /// <summary>Runs phases (unmeasured) until the cycle stands at <paramref name="target"/>; no-op when it does already.</summary>
    public void RunUntil(CycleStage target)
    {
        while (Stage != target) Step();
    }

    /// <summary>Runs the next phase.</summary>
    public void Step()
    {
        switch (Stage)
        {
            case CycleStage.Allocated: Preserve(); break;
            case CycleStage.Preserved: FinalizeHandover(); break;
            case CycleStage.Finalized: Exit(); break;
            case CycleStage.HandedOver: Boot(); break;
            case CycleStage.Booted: Restore(); break;
        }
    }

    public void Preserve()
    {
        Expect(CycleStage.Allocated);
        var kho = _kho!;
        int order = _order;
        foreach (ulong p in _phys) kho.PreserveFolio(new Folio(p, order));
        Stage = CycleStage.Preserved;
    }

    public void FinalizeHandover()
    {
        Expect(CycleStage.Preserved);
        _kho!.FinalizeHandover();
        Stage = CycleStage.Finalized;
    }

    public void Exit()
    {
        Expect(CycleStage.Finalized);
        _kho!.Dispose();
        _kho = null;
        Stage = CycleStage.HandedOver;
    }

    public void Boot()
    {
        Expect(CycleStage.HandedOver);
        var kho = Kho.Init(Path, 0, Options);
        _kho = kho;
        // The root tree's own area is not counted in IncomingBlocks.
        if (!kho.IsKhoBoot || kho.IncomingBlocks != _phys.Length)
            throw new InvalidOperationException($"expected a kho boot with {_phys.Length} blocks, got: {kho.BootReport}");
        Stage = CycleStage.Booted;
    }

    public void Restore()
    {
        Expect(CycleStage.Booted);
        var kho = _kho!;
        int order = _order;
        foreach (ulong p in _phys)
            if (!kho.TryRestoreFolio(p, out var folio) || folio.Order != order)
                throw new InvalidOperationException($"folio 0x{p:x} could not be restored");
        Stage = CycleStage.Allocated;
    }

    /// <summary>Reads one byte of every 4 KiB page of every folio: the page faults a restored generation pays on
    /// first access to its data through the fresh mapping.</summary>
    public long TouchAll()
    {
        var kho = _kho ?? throw new InvalidOperationException("no generation is booted");
        long sum = 0;
        foreach (ulong p in _phys)
        {
            var span = kho.FolioSpan(new Folio(p, _order));
            for (int off = 0; off < span.Length; off += Kho.PageSize) sum += span[off];
        }
        return sum;
    }

    private void Expect(CycleStage stage)
    {
        if (Stage != stage) throw new InvalidOperationException($"cycle is at {Stage}, not {stage}");
    }

    public void Dispose()
    {
        _kho?.Dispose();
        _kho = null;
        Kho.RemoveRegion(Path);
    }
}
