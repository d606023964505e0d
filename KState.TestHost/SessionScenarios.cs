using System.Runtime.InteropServices;
using KState.Core.Sessions;
using KState.TestHost.Shared;

namespace KState.TestHost;

/// <summary>Generations of session tests: each one runs as its own process and shares nothing but the region.</summary>
public static unsafe class SessionScenarios
{
    public const long GuestRamSize = (3 << 20) + 123;
    public const int GuestRamSeed = 1;
    public const ulong Magic = 0x5E55_1014;

    /// <summary>Generation 1 of the rules test: two sessions of counters, a memfd buffer, a described object and an
    /// item whose handler the next generation lacks; a closed session; the rules that apply before the handover.</summary>
    public static int Save(string region)
    {
        using var kho = Kho.Init(region, 32 << 20, new KhoOptions { Poison = true });
        using var streams = new KStateStreams(kho);
        var sessions = new KStateSessions(streams) { Version = "app-gen1" };
        var counters = new CounterHandler();
        sessions.RegisterHandler(new MemfdHandler());
        sessions.RegisterHandler(counters);
        sessions.RegisterHandler(new GoneHandler());
        Expect<KStateExistsException>(() => sessions.RegisterHandler(new CounterHandler()), "a second handler under the same compatible string");

        foreach (var bad in new[] { "", new string('n', 64), "nul\0inside", "é" + new string('e', 62) })
            Expect<KStateInvalidException>(() => sessions.Create(bad), $"session name of {System.Text.Encoding.UTF8.GetByteCount(bad)} bytes");
        var vm1 = sessions.Create("vm-1");
        Expect<KStateExistsException>(() => sessions.Create("vm-1"), "a second session named vm-1");
        sessions.Create(new string('x', 63)); // the longest name, with no items

        var ram = MemfdBuffer.Create(kho, "guest-ram", GuestRamSize);
        Pattern.Fill(ram, GuestRamSeed);
        vm1.Preserve(1, ram);
        Expect<KStateBusyException>(() => ram.Resize(1), "resizing a preserved buffer");
        Check(counters.Log.Count == 0, "the pool waits for the first counter");
        vm1.Preserve(2, new Counter(42));
        Check(counters.Log.SequenceEqual(["pool preserve", "preserve 2"]), "the pool is preserved with the first counter, before it");
        vm1.Preserve(3, new Counter(43));
        Expect<KStateExistsException>(() => vm1.Preserve(3, new Counter(0)), "a duplicate token");
        Expect<KStateInvalidException>(() => vm1.Preserve(4, new object()), "an item no handler can preserve");

        var scratch = sessions.Create("scratch");
        scratch.Preserve(1, new Counter(50));
        scratch.Preserve(2, new Counter(51));
        counters.Log.Clear();
        scratch.Close();
        Check(counters.Log.SequenceEqual(["unpreserve 2", "unpreserve 1"]), $"closing unpreserves in reverse: {string.Join(", ", counters.Log)}");
        Expect<KStateInvalidException>(() => scratch.Preserve(3, new Counter(0)), "preserving into a closed session");

        var vm2 = sessions.Create("vm-2");
        vm2.Preserve(9, new Counter(44));
        vm2.Preserve(11, "a string only generation 1 can handle");
        var a = NewTalk(kho);
        vm2.SaveState(TalkDescriptions.A, a, 7);
        Expect<KStateExistsException>(() => vm2.SaveState(TalkDescriptions.A, a, 7), "a duplicate token for a described object");
        vm2.Preserve(12, new Counter(45));
        vm2.Unpreserve(12);
        Expect<KStateNotFoundException>(() => vm2.Unpreserve(12), "unpreserving a token twice");

        counters.Log.Clear();
        kho.FinalizeHandover();
        Console.WriteLine("log: " + string.Join(", ", counters.Log));
        Expect<KStateBusyException>(() => sessions.Create("late"), "creating a session after finalize");
        Expect<KStateBusyException>(() => vm1.Preserve(5, new Counter(0)), "preserving after finalize");
        return 0;
    }

    /// <summary>A talk struct with a pointer and a folio, as in the descriptions tests.</summary>
    public static TalkA* NewTalk(Kho kho)
    {
        var a = (TalkA*)NativeMemory.AllocZeroed((nuint)sizeof(TalkA));
        a->I = 42;
        a->PUlong = new Ptr<ulong>((ulong*)NativeMemory.Alloc(8));
        *a->PUlong.Value = DescriptionScenarios.PUlongValue;
        "kstate!"u8.CopyTo(a->S);
        a->Folio = kho.AllocFolio(1);
        var bytes = kho.FolioSpan(a->Folio);
        for (int i = 0; i < bytes.Length; i++) bytes[i] = DescriptionScenarios.FolioPattern(i);
        return a;
    }

    /// <summary>A finalize in which one session's item fails to freeze: every session is rolled back and the
    /// handover stays uncommitted. With "retry", the item is fixed and the handover finalized again.</summary>
    public static int Rollback(string region, string mode)
    {
        using var kho = Kho.Init(region, 16 << 20, new KhoOptions { Poison = true });
        using var streams = new KStateStreams(kho);
        var sessions = new KStateSessions(streams) { Version = "rollback" };
        var counters = new CounterHandler();
        sessions.RegisterHandler(counters);
        var x = sessions.Create("x");
        x.Preserve(1, new Counter(1));
        x.Preserve(2, new Counter(2));
        var y = sessions.Create("y");
        var bad = new Counter(3) { FailFreeze = true };
        y.Preserve(3, bad);
        y.Preserve(4, new Counter(4));
        counters.Log.Clear();
        Expect<KStateInvalidException>(kho.FinalizeHandover, "a finalize whose item fails to freeze");
        Console.WriteLine("log: " + string.Join(", ", counters.Log));
        Check(!kho.IsFinalized, "the handover is not finalized after the failure");
        Check(streams.Set.OutgoingStreams.Count == 0, $"no stream is left behind: {string.Join(", ", streams.Set.OutgoingStreams)}");
        x.Preserve(5, new Counter(5)); // sessions work again
        if (mode == "retry")
        {
            bad.FailFreeze = false;
            kho.FinalizeHandover();
            Console.WriteLine("finalized on retry");
        }
        return 0;
    }

    /// <summary>Generation 1 of the chain: sessions "a" (a memfd log and a counter) and "b" (a counter).</summary>
    public static int Chain1(string region)
    {
        using var kho = Kho.Init(region, 32 << 20, new KhoOptions { Poison = true });
        using var streams = new KStateStreams(kho);
        var sessions = new KStateSessions(streams) { Version = "chain-gen1" };
        sessions.RegisterHandler(new MemfdHandler());
        sessions.RegisterHandler(new CounterHandler(poolTag: 1));
        var log = MemfdBuffer.Create(kho, "log", 10_000);
        Pattern.Fill(log, 7);
        var a = sessions.Create("a");
        a.Preserve(1, log);
        a.Preserve(2, new Counter(100));
        sessions.Create("b").Preserve(5, new Counter(500));
        kho.FinalizeHandover();
        return 0;
    }

    /// <summary>Generation 2 of the chain: finishes "a" and saves it again (the log grown, the counter moved on),
    /// leaves "b" unretrieved, and adds "c".</summary>
    public static int Chain2(string region)
    {
        using var kho = Kho.Init(region, 0, new KhoOptions { Poison = true });
        using var streams = new KStateStreams(kho);
        var sessions = new KStateSessions(streams) { Version = "chain-gen2" };
        sessions.RegisterHandler(new MemfdHandler());
        var counters = new CounterHandler(poolTag: 2);
        sessions.RegisterHandler(counters);
        Check(sessions.LiveUpdateCount == 1 && sessions.Previous?.Version == "chain-gen1", $"global record: {sessions.Previous}");
        Check(sessions.IncomingSessions.SequenceEqual(["a", "b"]), "sessions a and b came in");
        var a = sessions.Retrieve("a");
        var log = a.Retrieve<MemfdBuffer>(1);
        var counter = a.Retrieve<Counter>(2);
        Check(log.Size == 10_000 && Pattern.FirstMismatch(log, 7) < 0, "the log survived");
        Check(counter.Value == 100 && counter.Pool!.Tag == 1, "the counter and its pool survived");
        a.Finish();
        Check(sessions.Unretrieved.Count == 1 && sessions.Unretrieved[0] is { Session: "b", SessionRetrieved: false }, "b is reported unretrieved");

        log.Resize(20_000);
        Pattern.Fill(log, 8, from: 10_000);
        var again = sessions.Create("a");
        again.Preserve(1, log);
        again.Preserve(3, new Counter(counter.Value + 1));
        sessions.Create("c").Preserve(7, new Counter(700));
        kho.FinalizeHandover();
        return 0;
    }

    private static void Expect<T>(Action action, string what) where T : Exception
    {
        try
        {
            action();
        }
        catch (T)
        {
            return;
        }
        catch (Exception e)
        {
            throw new CheckFailedException($"{what}: expected {typeof(T).Name}, got {e.GetType().Name}: {e.Message}");
        }
        throw new CheckFailedException($"{what}: expected {typeof(T).Name}, nothing was thrown");
    }

    private static void Check(bool ok, string what)
    {
        if (!ok) throw new CheckFailedException(what);
    }
}

/// <summary>A check of a child generation failed.</summary>
public sealed class CheckFailedException(string message) : Exception(message);
