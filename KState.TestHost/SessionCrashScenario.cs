using System.Globalization;
using KState.Core.Sessions;
using KState.TestHost.Shared;

namespace KState.TestHost;

/// <summary>
/// One generation of the session crash test: boots, checks that the handover it found (if any) carries exactly the
/// sessions the generation that saved it built, retrieves and finishes them, builds its own and finalizes. What a
/// generation saves is a pure function of its number, so any later process can check every byte and value.
/// Prints "found gen{h} live-update {n}: ..." or "found cold: ..." once the check is complete, "finalizing gen{g}"
/// when its sessions are built, and "committed gen{g}" once its handover is committed: the test reads these lines
/// to know which states the region can hold.
/// </summary>
public static class SessionCrashScenario
{
    public const ulong RegionSize = 16 << 20;
    public const ulong MemfdToken = 1;
    public const ulong FirstCounterToken = 100;

    /// <summary>What generation <paramref name="g"/> saves: its sessions, in creation order.</summary>
    public static IReadOnlyList<PlannedSession> Plan(int g)
    {
        var sessions = new List<PlannedSession>();
        for (int k = 0; k < g % 3 + 1; k++)
        {
            var counters = new long[(g + k) % 3]; // 0 to 2 counters: some generations bind no shared pool at all
            for (int j = 0; j < counters.Length; j++) counters[j] = g * 1_000_003L + k * 101 + j;
            long size = (g * 2_654_435_761L + k * 40_503L) % 700_001; // up to 700 KB: several folios of different orders
            sessions.Add(new PlannedSession($"s{g}-{k}", $"m{g}-{k}", size, g * 10 + k, counters, CountersFirst: g % 2 == 1));
        }
        return sessions;
    }

    /// <summary>The pool tag generation <paramref name="g"/>'s counters are bound to.</summary>
    public static ulong PoolTag(int g) => 0x7A60_0000_0000UL + (ulong)g;

    public static string VersionOf(int g) => "gen" + g.ToString(CultureInfo.InvariantCulture);

    public static int Run(string region, int generation)
    {
        using var kho = Kho.Init(region, RegionSize, new KhoOptions { Poison = true });
        using var streams = new KStateStreams(kho);
        var sessions = new KStateSessions(streams) { Version = VersionOf(generation) };
        sessions.RegisterHandler(new MemfdHandler());
        sessions.RegisterHandler(new CounterHandler(PoolTag(generation)));
        Console.WriteLine(kho.IsKhoBoot ? CheckIncoming(kho, sessions, generation) : CheckCold(kho, sessions));
        Save(kho, sessions, generation);
        Console.WriteLine($"finalizing {VersionOf(generation)}");
        kho.FinalizeHandover();
        Console.WriteLine($"committed {VersionOf(generation)}");
        return 0;
    }

    private static string CheckCold(Kho kho, KStateSessions sessions)
    {
        // A torn commit slot is expected after a kill (the other slot stands); a rejected handover never is.
        Check(!kho.BootReport.Contains("rejected", StringComparison.Ordinal), $"a committed handover was rejected: {kho.BootReport}");
        Check(sessions.Previous is null && sessions.IncomingSessions.Count == 0 && sessions.IncomingProblem is null, "a cold boot that has sessions");
        return $"found cold: {kho.BootReport}";
    }

    /// <summary>Checks the incoming sessions against the plan of the generation that saved them; retrieves and
    /// finishes all of them. Throws on any difference.</summary>
    private static string CheckIncoming(Kho kho, KStateSessions sessions, int generation)
    {
        Check(sessions.IncomingProblem is null, $"the incoming sessions cannot be read: {sessions.IncomingProblem?.Message}");
        var previous = sessions.Previous ?? throw new CheckFailedException($"a kho boot without sessions: {kho.BootReport}");
        int h = previous.Version.StartsWith("gen", StringComparison.Ordinal)
            && int.TryParse(previous.Version.AsSpan(3), NumberStyles.None, CultureInfo.InvariantCulture, out int saved) ? saved : 0;
        Check(h >= 1 && h < generation, $"global record names '{previous.Version}', not an earlier generation");
        var plan = Plan(h);
        Check(sessions.IncomingSessions.SequenceEqual(plan.Select(s => s.Name)), $"gen{h}: sessions [{string.Join(", ", sessions.IncomingSessions)}], planned [{string.Join(", ", plan.Select(s => s.Name))}]");
        bool anyCounter = plan.Any(s => s.Counters.Length > 0);
        Check(sessions.Incoming!.Shared.Count == (anyCounter ? 1 : 0), $"gen{h}: {sessions.Incoming.Shared.Count} shared data, planned {(anyCounter ? 1 : 0)}");

        long bytes = 0;
        int items = 0;
        foreach (var p in plan)
        {
            var s = sessions.Retrieve(p.Name);
            Check(s.Items.Select(i => i.Token).SequenceEqual(p.Tokens), $"{p.Name}: items [{string.Join(", ", s.Items.Select(i => i.Token))}], planned [{string.Join(", ", p.Tokens)}]");
            var buffer = s.Retrieve<MemfdBuffer>(MemfdToken);
            Check(buffer.Name == p.Memfd && buffer.Size == p.Size, $"{p.Name}: {buffer}, planned '{p.Memfd}' of {p.Size} bytes");
            long bad = Pattern.FirstMismatch(buffer, p.Seed);
            Check(bad < 0, $"{p.Name}: '{p.Memfd}' differs at byte {bad}");
            for (int j = 0; j < p.Counters.Length; j++)
            {
                var c = s.Retrieve<Counter>(FirstCounterToken + (ulong)j);
                Check(c.Value == p.Counters[j] && c.Pool!.Tag == PoolTag(h), $"{p.Name}: counter {j} is {c.Value} in pool {c.Pool?.Tag:x}, planned {p.Counters[j]} in {PoolTag(h):x}");
            }
            s.Finish();
            bytes += buffer.Size;
            items += p.Tokens.Count;
            buffer.Dispose(); // the next handover is built from fresh buffers
        }
        Check(sessions.Unretrieved.Count == 0, $"gen{h}: {sessions.Unretrieved.Count} items left unretrieved");
        Check(kho.ListUnrestored().Count == 0, $"gen{h}: {kho.ListUnrestored().Count} preserved blocks nobody restored");
        return $"found {VersionOf(h)} live-update {sessions.LiveUpdateCount}: {plan.Count} sessions, {items} items, {bytes} bytes";
    }

    private static void Save(Kho kho, KStateSessions sessions, int generation)
    {
        foreach (var p in Plan(generation))
        {
            var s = sessions.Create(p.Name);
            if (p.CountersFirst) PreserveCounters(s, p);
            var buffer = MemfdBuffer.Create(kho, p.Memfd, p.Size);
            Pattern.Fill(buffer, p.Seed);
            s.Preserve(MemfdToken, buffer);
            if (!p.CountersFirst) PreserveCounters(s, p);
        }
    }

    private static void PreserveCounters(Session s, PlannedSession p)
    {
        for (int j = 0; j < p.Counters.Length; j++) s.Preserve(FirstCounterToken + (ulong)j, new Counter(p.Counters[j]));
    }

    private static void Check(bool ok, string what)
    {
        if (!ok) throw new CheckFailedException(what);
    }
}

/// <summary>One session of a generation's plan: a memfd buffer and counters, in the order they are preserved.</summary>
public sealed record PlannedSession(string Name, string Memfd, long Size, int Seed, long[] Counters, bool CountersFirst)
{
    public IReadOnlyList<ulong> Tokens
    {
        get
        {
            var counters = Enumerable.Range(0, Counters.Length).Select(j => SessionCrashScenario.FirstCounterToken + (ulong)j);
            return CountersFirst ? [.. counters, SessionCrashScenario.MemfdToken] : [SessionCrashScenario.MemfdToken, .. counters];
        }
    }
}
