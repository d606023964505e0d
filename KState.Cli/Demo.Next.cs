using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Text.Json;

namespace KState.Cli;

/// <summary>The demo's second generation: started by the first, it boots on the handover, restores and serves.</summary>
internal static unsafe partial class Demo
{
    private static readonly TimeSpan SuccessorWait = TimeSpan.FromMinutes(2);

    /// <summary>When this process's managed code began (before Main): the end of its process start.</summary>
    private static long _mainAt;

    [ModuleInitializer]
    [System.Diagnostics.CodeAnalysis.SuppressMessage("Usage", "CA2255", Justification = "kstate is an executable: its earliest managed moment is the process-start phase's end")]
    internal static void NoteProcessStart() => _mainAt = Stopwatch.GetTimestamp();

    /// <summary>Starts the next generation as this one runs (the native executable starts itself, `dotnet kstate.dll`
    /// starts kstate.dll). With <paramref name="wait"/> it is a successor that waits for the region: this returns
    /// once it says it is ready, so its start-up is over before this generation stops serving.</summary>
    private static Process StartNextGeneration(string region, bool wait, Handover how, Timeline t)
    {
        var psi = new ProcessStartInfo(Environment.ProcessPath!) { UseShellExecute = false, RedirectStandardOutput = true };
        if (Path.GetFileNameWithoutExtension(Environment.ProcessPath) == "dotnet") psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "kstate.dll"));
        psi.ArgumentList.Add("demo-next");
        psi.ArgumentList.Add(region);
        if (wait) psi.ArgumentList.Add("--wait");
        if (how.Copy) psi.ArgumentList.Add("--copy");
        psi.ArgumentList.Add("--integrity");
        psi.ArgumentList.Add(how.IntegrityName);
        if (how.HandOn) psi.ArgumentList.Add("--hand-on");
        t.Spawned = Stopwatch.GetTimestamp();
        var child = Process.Start(psi)!;
        if (wait && child.StandardOutput.ReadLine() is var line && line != "ready")
        {
            string rest = child.StandardOutput.ReadToEnd();
            child.WaitForExit();
            throw new KStateCorruptException($"the successor did not get ready (exit {child.ExitCode}): {line}{rest}");
        }
        return child;
    }

    /// <summary>The next generation's report (its timestamps are on this machine's monotonic clock, as ours are).</summary>
    private static Dictionary<string, object> FinishNextGeneration(Process child)
    {
        string output = child.StandardOutput.ReadToEnd();
        child.WaitForExit();
        if (child.ExitCode != 0) throw new KStateCorruptException($"the next generation failed (exit {child.ExitCode}): {output}");
        var result = new Dictionary<string, object>();
        using var doc = JsonDocument.Parse(output);
        foreach (var p in doc.RootElement.EnumerateObject())
            result[p.Name] = p.Value.ValueKind switch
            {
                JsonValueKind.True => true,
                JsonValueKind.False => false,
                JsonValueKind.Number when p.Name.EndsWith("_at", StringComparison.Ordinal) => p.Value.GetInt64(), // clock ticks, exact
                JsonValueKind.Number => p.Value.GetDouble(),
                _ => p.Value.ToString(),
            };
        return result;
    }

    /// <summary>The second generation: boot (waiting for the region when <paramref name="wait"/>), restore, serve
    /// (verify every byte), and report when each phase ended.</summary>
    /// <param name="how">How the index comes; with its HandOn: after serving, hand the same state over again, in place (the region keeps a committed
    /// handover for a further `demo-next`): the index stays at the same frames generation after generation.</param>
    public static int NextGeneration(string region, bool wait, Handover how, TextWriter stdout, TextWriter stderr)
    {
        using var copied = new CopyMeter();
        var allocator = new CountingAllocator();
        long readyAt = Stopwatch.GetTimestamp();
        if (wait)
        {
            // Ready before the handover: the predecessor stops serving only once it reads this line.
            stdout.WriteLine("ready");
            stdout.Flush();
        }
        using var kho = wait ? Kho.InitWait(region, 0, SuccessorWait) : Kho.Init(region, 0);
        long bootedAt = Stopwatch.GetTimestamp();
        if (!kho.IsKhoBoot) throw new KStateNotFoundException($"no handover: {kho.BootReport}");
        long stopAt = BitConverter.ToInt64(kho.RetrieveSubtree("kstate-demo"));

        using var streams = new KStateStreams(kho);
        var sessions = new KStateSessions(streams) { Allocator = allocator };
        var session = sessions.Retrieve(SessionName);
        var root = new CacheRoot();
        session.Restore(how.Root, &root, 0); // in place: the index stays where it is, restored through KHO
        int records = session.StreamRecords;
        if (root.FolioCount > int.MaxValue || root.EntryCount > int.MaxValue) throw new KStateCorruptException($"the index restored with {root.EntryCount} entries and {root.FolioCount} folios");
        var folios = new ReadOnlySpan<FolioSlot>(root.Folios.Value, (int)root.FolioCount);
        var values = new byte*[folios.Length];
        var restored = new Folio[folios.Length];
        for (int i = 0; i < folios.Length; i++)
        {
            if (!kho.TryRestoreFolio(folios[i].Phys, out var f) || f.Order != FolioOrder)
                throw new KStateCorruptException($"value folio {i} did not restore");
            values[i] = kho.DangerousFolioAddress(f);
            restored[i] = f;
        }
        session.Finish();
        long restoredAt = Stopwatch.GetTimestamp(); // the cache can serve from here: the blackout ends

        // Serving: every value read and checked once, which also touches every page of the restored state.
        var entries = new ReadOnlySpan<CacheEntry>(root.Entries.Value, (int)root.EntryCount);
        bool verified = Verify(entries, folios, values);
        ulong indexPhys = !how.Copy && kho.TryFindVmalloc((nint)root.Entries.Value, out var area) ? area.Frames[0] : 0;
        double warmMs = Ms(restoredAt);
        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteNumber("main_at", _mainAt);
            w.WriteNumber("ready_at", readyAt);
            w.WriteNumber("booted_at", bootedAt);
            w.WriteNumber("restored_at", restoredAt);
            w.WriteNumber("stop_at", stopAt);
            w.WriteBoolean("next_native", RunsNatively);
            w.WriteNumber("warm_ms", warmMs);
            w.WriteBoolean("verified", verified);
            w.WriteNumber("records", records);
            w.WriteNumber("live_updates", sessions.LiveUpdateCount);
            w.WriteNumber("verified_entries", entries.Length);
            w.WriteString("boot_report", kho.BootReport);
            w.WriteNumber("copied_restore_bytes", copied.Restored + allocator.Bytes);
            w.WriteNumber("copied_pointee_bytes", allocator.OutOfLine);
            if (indexPhys != 0) w.WriteNumber("next_index_phys", indexPhys);
            w.WriteEndObject();
        }
        stdout.WriteLine(System.Text.Encoding.UTF8.GetString(buffer.ToArray()));
        if (verified && how.HandOn)
        {
            foreach (var f in restored) kho.PreserveFolio(f);
            sessions.Create(SessionName).SaveState(how.Root, &root, 0); // in place: the same areas, preserved again
            kho.AddSubtree("kstate-demo", BitConverter.GetBytes(Stopwatch.GetTimestamp()));
            kho.FinalizeHandover();
        }
        return verified ? App.Ok : App.Invalid;
    }

    /// <summary>Reads every value once and checks it against <see cref="Fill"/>.</summary>
    private static bool Verify(ReadOnlySpan<CacheEntry> entries, ReadOnlySpan<FolioSlot> folios, byte*[] values)
    {
        var expected = new byte[4096];
        foreach (var e in entries)
        {
            // The index may come trusted (unchecked): check each entry before reading through it.
            if (e.Folio >= values.Length || e.Length > expected.Length) return false;
            ulong offset = e.Phys - folios[(int)e.Folio].Phys; // wraps to huge when the phys lies below its folio
            if (offset >= FolioBytes || offset + e.Length > FolioBytes) return false;
            var want = expected.AsSpan(0, (int)e.Length);
            Fill(e.Key, want);
            if (!new ReadOnlySpan<byte>(values[e.Folio] + offset, (int)e.Length).SequenceEqual(want)) return false;
        }
        return true;
    }
}
