using KState.Core.Sessions;

namespace KState.TestHost.Shared;

/// <summary>A live object of the test applications: a counter bound to a shared pool.</summary>
public sealed class Counter(long value)
{
    public long Value { get; set; } = value;

    /// <summary>Makes its handler's freeze fail (to test the rollback of a finalize).</summary>
    public bool FailFreeze { get; set; }

    /// <summary>Makes its handler's next Finish fail once (to test that a finish resumes).</summary>
    public bool FailFinish { get; set; }

    /// <summary>Makes its handler's Unfreeze fail (to test that an undo never throws).</summary>
    public bool FailUnfreeze { get; set; }

    /// <summary>What its handler's CanFinish answers.</summary>
    public bool Ready { get; set; } = true;

    /// <summary>After boot: the pool it was bound to.</summary>
    public Pool? Pool { get; set; }
}

/// <summary>Shared data: one KHO folio holding a tag, preserved once for all counters.</summary>
public sealed class Pool(Folio folio, ulong tag)
{
    public Folio Folio { get; } = folio;
    public ulong Tag { get; } = tag;
}

/// <summary>
/// A handler that records every call it gets ("preserve 2", "freeze 2"...), so tests can check the order
/// sessions call handlers in. Compatible "kstate-test/counter-v1"; binds <see cref="PoolData"/>.
/// </summary>
public sealed class CounterHandler : ItemHandler
{
    public const string CompatibleString = "kstate-test/counter-v1";

    public CounterHandler(ulong poolTag = 0x600D_F00D) : base(CompatibleString) => PoolData = new PoolData(poolTag, Log);

    public List<string> Log { get; } = [];

    public PoolData PoolData { get; }

    public override IReadOnlyList<SharedDataHandler> SharedData => [PoolData];

    public override bool CanPreserve(object item) => item is Counter;

    public override void Preserve(ItemContext context) => Log.Add($"preserve {context.Token}");

    public override void Unpreserve(ItemContext context) => Log.Add($"unpreserve {context.Token}");

    public override void Freeze(ItemContext context, RecordWriter state)
    {
        var c = (Counter)context.Item!;
        if (c.FailFreeze)
        {
            Log.Add($"freeze {context.Token} fails");
            throw new KStateInvalidException($"counter {context.Token} refuses to freeze");
        }
        Log.Add($"freeze {context.Token}");
        state.PutInt64(c.Value);
        state.PutUInt64(context.Shared<Pool>(PoolData).Tag);
    }

    public override void Unfreeze(ItemContext context)
    {
        Log.Add($"unfreeze {context.Token}");
        if (((Counter)context.Item!).FailUnfreeze) throw new InvalidOperationException($"counter {context.Token} refuses to unfreeze");
    }

    public override object Retrieve(ItemContext context, RecordCursor state, uint version)
    {
        Log.Add($"retrieve {context.Token}");
        var c = new Counter(state.ReadInt64());
        ulong tag = state.ReadUInt64();
        c.Pool = context.Shared<Pool>(PoolData);
        if (c.Pool.Tag != tag) throw new KStateCorruptException($"counter {context.Token} was bound to pool {tag:x}, got {c.Pool.Tag:x}");
        return c;
    }

    public override bool CanFinish(ItemContext context) => ((Counter)context.Item!).Ready;

    public override void Finish(ItemContext context)
    {
        var c = (Counter)context.Item!;
        if (c.FailFinish)
        {
            c.FailFinish = false;
            throw new InvalidOperationException($"counter {context.Token} fails to finish");
        }
        Log.Add($"finish {context.Token}");
    }
}

/// <summary>The pool shared by counters ("kstate-test/pool-v1").</summary>
public sealed class PoolData(ulong tag, List<string> log) : SharedDataHandler("kstate-test/pool-v1")
{
    public int Retrievals { get; private set; }

    public override object Preserve(Kho kho)
    {
        log.Add("pool preserve");
        var folio = kho.AllocFolio(0);
        BitConverter.TryWriteBytes(kho.FolioSpan(folio), tag);
        kho.PreserveFolio(folio);
        return new Pool(folio, tag);
    }

    public override void Unpreserve(Kho kho, object data)
    {
        log.Add("pool unpreserve");
        var pool = (Pool)data;
        kho.UnpreserveFolio(pool.Folio);
        kho.PutFolio(pool.Folio);
    }

    public override void Freeze(Kho kho, object data, RecordWriter state)
    {
        log.Add("pool freeze");
        state.PutUInt64(((Pool)data).Folio.Handle);
    }

    public override object Retrieve(Kho kho, RecordCursor state, uint version)
    {
        log.Add("pool retrieve");
        Retrievals++;
        var handle = Folio.FromHandle(state.ReadUInt64());
        var folio = kho.RestoreFolio(handle.Phys) ?? throw new KStateCorruptException("pool folio is not preserved");
        return new Pool(folio, BitConverter.ToUInt64(kho.FolioSpan(folio)));
    }

    public override void Finish(Kho kho, object data) => log.Add("pool finish");
}

/// <summary>A handler the next generation does not have ("kstate-test/gone-v1").</summary>
public sealed class GoneHandler() : ItemHandler("kstate-test/gone-v1")
{
    public override bool CanPreserve(object item) => item is string;
    public override void Preserve(ItemContext context) { }
    public override void Unpreserve(ItemContext context) { }
    public override void Freeze(ItemContext context, RecordWriter state) => state.PutString((string)context.Item!);
    public override object Retrieve(ItemContext context, RecordCursor state, uint version) => state.ReadString();
}

/// <summary>Contents the tests write into memfd buffers and check after the update.</summary>
public static class Pattern
{
    public static byte At(long offset, int seed) => (byte)((offset * 31 + seed * 17 + (offset >> 12)) % 253);

    public static void Fill(MemfdBuffer b, int seed, long from = 0)
    {
        var chunk = new byte[64 * 1024];
        for (long off = from; off < b.Size; off += chunk.Length)
        {
            int n = (int)Math.Min(chunk.Length, b.Size - off);
            for (int i = 0; i < n; i++) chunk[i] = At(off + i, seed);
            b.Write(off, chunk.AsSpan(0, n));
        }
    }

    /// <summary>The first offset whose byte differs, or -1.</summary>
    public static long FirstMismatch(MemfdBuffer b, int seed, long from = 0, long to = -1)
    {
        if (to < 0) to = b.Size;
        var chunk = new byte[64 * 1024];
        for (long off = from; off < to; off += chunk.Length)
        {
            int n = (int)Math.Min(chunk.Length, to - off);
            b.Read(off, chunk.AsSpan(0, n));
            for (int i = 0; i < n; i++)
                if (chunk[i] != At(off + i, seed)) return off + i;
        }
        return -1;
    }
}
