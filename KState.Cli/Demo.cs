using System.Buffers.Binary;
using System.Diagnostics;
using System.IO.Hashing;
using System.Runtime.InteropServices;
using System.Text.Json;

namespace KState.Cli;

/// <summary>One cache entry: where its value lives. The index is an array of these behind a described pointer.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct CacheEntry
{
    public ulong Key;
    public uint Folio;      // index into the cache's folios
    public uint Offset;     // in that folio
    public uint Length;
    public uint Pad;
}

/// <summary>The cache's root object: its entries and its folios, as one described struct.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct CacheRoot
{
    public ulong EntryCount;
    public Ptr<CacheEntry> Entries;
    public ulong FolioCount;
    public Ptr<Folio> Folios;
}

/// <summary>
/// The main job: a key-value cache whose values live in KHO folios and whose index is a described struct builds its
/// state, finalizes, and hands over to a new process of itself, which boots, restores, verifies every byte and
/// reports the blackout. The same state is then carried by MemoryPack through a /dev/shm file and by memcpy through
/// shared memory, for comparison in the same run.
/// </summary>
internal static unsafe partial class Demo
{
    private const int FolioOrder = 9;                 // 2 MiB value folios
    private const int FolioBytes = 4096 << FolioOrder;
    private const int MaxEntries = 1 << 24;
    private const ulong Seed = 0x5EED;
    private const string SessionName = "kstate-demo/cache";

    private static readonly KStateDescription RootV1 = KStateDescriptionBuilder<CacheRoot>.Create("kstate-demo/cache", 1, 1)
        .Base((ref CacheRoot r) => ref r.EntryCount)
        .Pointer((ref CacheRoot r) => ref r.Entries, count: MaxEntries, countMember: "EntryCount")
        .Base((ref CacheRoot r) => ref r.FolioCount)
        .Pointer((ref CacheRoot r) => ref r.Folios, count: MaxEntries, countMember: "FolioCount")
        .Build();

    /// <summary>Value bytes of a key: a function of the key alone, so the next process can check every byte.</summary>
    private static void Fill(ulong key, Span<byte> value)
    {
        ulong x = key * 0x9E3779B97F4A7C15UL ^ Seed;
        var words = MemoryMarshal.Cast<byte, ulong>(value[..(value.Length & ~7)]);
        for (int i = 0; i < words.Length; i++)
        {
            x ^= x << 13; x ^= x >> 7; x ^= x << 17;
            words[i] = x;
        }
        for (int i = words.Length * 8; i < value.Length; i++) value[i] = (byte)(key + (ulong)i);
    }

    private static int ValueLength(ulong key) => 256 + (int)(key * 2654435761UL % 3841); // 256 B .. 4 KiB

    public static int Run(string? regionArg, bool discardHandover, long stateSize, bool json, TextWriter stdout, TextWriter stderr)
    {
        if (stateSize < 4096 || stateSize > (16L << 30)) throw new KStateInvalidException($"--state-size {stateSize} must be between 4 KiB and 16 GiB");
        string region = regionArg ?? $"/dev/shm/kstate-demo-{Environment.ProcessId}";
        ulong regionSize = (ulong)(stateSize + stateSize / 4 + (64L << 20)) & ~4095UL;
        if (RegionGuard.TryClear(region, discardHandover) is { } refusal)
        {
            stderr.WriteLine($"kstate: {refusal}");
            return App.UsageOrIo;
        }
        try
        {
            var result = new Dictionary<string, object>();
            long saveStart, finalized;
            var entries = new List<CacheEntry>();
            using (var kho = Kho.Init(region, regionSize))
            {
                using var streams = new KStateStreams(kho);
                var sessions = new KStateSessions(streams) { Version = "kstate-demo 1" };
                // Progress only on a terminal: a captured or redirected writer gets no carriage-return lines.
                bool progress = !json && ReferenceEquals(stderr, Console.Error) && !Console.IsErrorRedirected;
                var folios = Build(kho, stateSize, entries, progress ? stderr : null);
                var root = (CacheRoot*)NativeMemory.AllocZeroed((nuint)sizeof(CacheRoot));
                var entryArray = (CacheEntry*)NativeMemory.Alloc((nuint)(entries.Count * sizeof(CacheEntry)));
                CollectionsMarshal.AsSpan(entries).CopyTo(new Span<CacheEntry>(entryArray, entries.Count));
                var folioArray = (Folio*)NativeMemory.Alloc((nuint)(folios.Count * sizeof(Folio)));
                CollectionsMarshal.AsSpan(folios).CopyTo(new Span<Folio>(folioArray, folios.Count));
                *root = new CacheRoot { EntryCount = (ulong)entries.Count, Entries = new(entryArray), FolioCount = (ulong)folios.Count, Folios = new(folioArray) };

                // The blackout starts: preserve, save, finalize, exit.
                saveStart = Stopwatch.GetTimestamp();
                foreach (var f in folios) kho.PreserveFolio(f);
                sessions.Create(SessionName).SaveState(RootV1, root, 0); // saved at finalize
                kho.AddSubtree("kstate-demo", BitConverter.GetBytes(saveStart));
                kho.FinalizeHandover();
                finalized = Stopwatch.GetTimestamp();
                result["save_ms"] = Ms(saveStart);
                result["folios"] = folios.Count;
                result["entries"] = entries.Count;
                result["state_bytes"] = entries.Sum(e => (long)e.Length);
                result["region_bytes"] = regionSize;
            }

            // Teardown: closing the region unmaps the state, page by page; the successor starts after it.
            result["teardown_ms"] = Ms(finalized);
            result["native"] = RunsNatively;
            long spawned = Stopwatch.GetTimestamp();
            var next = RunNextGeneration(region, stderr);
            // The successor's process start: from spawning it to its demo-next running (runtime and command line ready).
            result["start_ms"] = (double)next["entered_ms"] - Stopwatch.GetElapsedTime(saveStart, spawned).TotalMilliseconds;
            next.Remove("entered_ms");
            foreach (var (k, v) in next) result[k] = v;
            result["blackout_ms"] = (double)result["restore_done_ms"];
            result.Remove("restore_done_ms");

            double kstateMs = (double)result["save_ms"] + (double)result["boot_ms"] + (double)result["restore_ms"];
            result["kstate_ms"] = kstateMs;
            // The baselines hold the state in one byte array, which .NET caps at Array.MaxLength bytes.
            if ((long)result["state_bytes"] <= Array.MaxLength)
            {
                var (memoryPackMs, memcpyMs) = Baselines(entries);
                result["memorypack_ms"] = memoryPackMs;
                result["memcpy_ms"] = memcpyMs;
                result["kstate_vs_memorypack"] = kstateMs / memoryPackMs;
                result["kstate_vs_memcpy"] = kstateMs / memcpyMs;
            }
            else
            {
                result["baselines"] = $"not run: {(long)result["state_bytes"]} bytes is more than one .NET array holds ({Array.MaxLength})";
            }
            Report(result, json, stdout);
            return result["verified"] is true ? App.Ok : App.Invalid;
        }
        finally
        {
            if (regionArg is null) Kho.RemoveRegion(region);
        }
    }

    private static List<Folio> Build(Kho kho, long stateSize, List<CacheEntry> entries, TextWriter? progress)
    {
        var folios = new List<Folio>();
        long built = 0;
        int lastPercent = -1;
        Span<byte> current = default;
        int used = FolioBytes;
        for (ulong key = 1; built < stateSize; key++)
        {
            int len = (int)Math.Min(ValueLength(key), stateSize - built);
            if (used + len > FolioBytes)
            {
                folios.Add(kho.AllocFolio(FolioOrder));
                current = kho.FolioSpan(folios[^1]);
                used = 0;
            }
            Fill(key, current.Slice(used, len));
            entries.Add(new CacheEntry { Key = key, Folio = (uint)(folios.Count - 1), Offset = (uint)used, Length = (uint)len });
            used += len;
            built += len;
            int percent = (int)(built * 100 / stateSize);
            if (progress is not null && percent != lastPercent && percent % 10 == 0)
            {
                progress.Write($"\rbuilding cache state: {percent,3}% ({built >> 20} MiB)");
                lastPercent = percent;
            }
        }
        progress?.WriteLine();
        return folios;
    }

    private static Dictionary<string, object> RunNextGeneration(string region, TextWriter stderr)
    {
        // The next generation runs as this one does: the native executable starts itself, `dotnet kstate.dll` starts kstate.dll.
        var psi = new ProcessStartInfo(Environment.ProcessPath!) { UseShellExecute = false, RedirectStandardOutput = true };
        if (Path.GetFileNameWithoutExtension(Environment.ProcessPath) == "dotnet") psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "kstate.dll"));
        psi.ArgumentList.Add("demo-next");
        psi.ArgumentList.Add(region);
        using var child = Process.Start(psi)!;
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
                JsonValueKind.Number => p.Value.GetDouble(),
                _ => p.Value.ToString(),
            };
        return result;
    }

    /// <summary>The second generation: boot, restore, serve (verify every byte), and say how long each took.</summary>
    public static int NextGeneration(string region, TextWriter stdout, TextWriter stderr)
    {
        long start = Stopwatch.GetTimestamp();
        using var kho = Kho.Init(region, 0);
        double bootMs = Ms(start);
        if (!kho.IsKhoBoot) throw new KStateNotFoundException($"no handover: {kho.BootReport}");
        long saveStart = BitConverter.ToInt64(kho.RetrieveSubtree("kstate-demo"));
        // The monotonic clock is the machine's, so both generations' timestamps share one time line.
        double enteredMs = Stopwatch.GetElapsedTime(saveStart, start).TotalMilliseconds;

        long restoreStart = Stopwatch.GetTimestamp();
        using var streams = new KStateStreams(kho);
        var sessions = new KStateSessions(streams);
        var session = sessions.Retrieve(SessionName);
        var root = new CacheRoot();
        session.Restore(RootV1, &root, 0);
        int records = session.StreamRecords;
        var folios = new Span<Folio>(root.Folios.Value, (int)root.FolioCount);
        var values = new byte*[folios.Length];
        for (int i = 0; i < folios.Length; i++)
        {
            if (!kho.TryRestoreFolio(folios[i].Phys, out var f) || f.Order != FolioOrder)
                throw new KStateCorruptException($"value folio {i} did not restore");
            values[i] = kho.DangerousFolioAddress(f);
        }
        session.Finish();
        double restoreMs = Ms(restoreStart);
        double restoreDoneMs = Ms(saveStart); // the cache can serve from here: the blackout ends

        // Serving: every value read and checked once, which also touches every page of the restored state.
        long warmStart = Stopwatch.GetTimestamp();
        var entries = new ReadOnlySpan<CacheEntry>(root.Entries.Value, (int)root.EntryCount);
        var expected = new byte[4096];
        bool verified = true;
        foreach (var e in entries)
        {
            // The index came through a checksummed record, but check it before reading through it all the same.
            if (e.Folio >= values.Length || e.Length > expected.Length || (ulong)e.Offset + e.Length > FolioBytes)
            {
                verified = false;
                break;
            }
            var want = expected.AsSpan(0, (int)e.Length);
            Fill(e.Key, want);
            if (!new ReadOnlySpan<byte>(values[e.Folio] + e.Offset, (int)e.Length).SequenceEqual(want))
            {
                verified = false;
                break;
            }
        }
        double warmMs = Ms(warmStart);
        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteNumber("entered_ms", enteredMs);
            w.WriteBoolean("next_native", RunsNatively);
            w.WriteNumber("boot_ms", bootMs);
            w.WriteNumber("restore_ms", restoreMs);
            w.WriteNumber("restore_done_ms", restoreDoneMs);
            w.WriteNumber("warm_ms", warmMs);
            w.WriteBoolean("verified", verified);
            w.WriteNumber("records", records);
            w.WriteNumber("live_updates", sessions.LiveUpdateCount);
            w.WriteNumber("verified_entries", entries.Length);
            w.WriteString("boot_report", kho.BootReport);
            w.WriteEndObject();
        }
        stdout.WriteLine(System.Text.Encoding.UTF8.GetString(buffer.ToArray()));
        return verified ? App.Ok : App.Invalid;
    }

    /// <summary>
    /// Native AOT has no JIT, so nothing was compiled at run time. (RuntimeFeature.IsDynamicCodeSupported cannot tell:
    /// PublishAot turns it off in the JIT build's runtimeconfig too.)
    /// </summary>
    private static bool RunsNatively => System.Runtime.JitInfo.GetCompiledMethodCount() == 0;

    private static double Ms(long since) => Stopwatch.GetElapsedTime(since).TotalMilliseconds;

    private static void Report(Dictionary<string, object> r, bool json, TextWriter stdout)
    {
        if (json)
        {
            using var buffer = new MemoryStream();
            using (var w = new Utf8JsonWriter(buffer))
            {
                w.WriteStartObject();
                foreach (var (k, v) in r)
                {
                    switch (v)
                    {
                        case bool b: w.WriteBoolean(k, b); break;
                        case string s: w.WriteString(k, s); break;
                        default: w.WriteNumber(k, Convert.ToDouble(v, System.Globalization.CultureInfo.InvariantCulture)); break;
                    }
                }
                w.WriteEndObject();
            }
            stdout.WriteLine(System.Text.Encoding.UTF8.GetString(buffer.ToArray()));
            return;
        }
        stdout.WriteLine($"live update of a key-value cache: {r["entries"]} entries, {(long)r["state_bytes"] >> 20} MiB of values in {r["folios"]} folios of 2 MiB, index and schema in session '{SessionName}' (a KSTATE stream of {r["records"]} records)");
        stdout.WriteLine($"  generation 1: preserve + save + finalize  {r["save_ms"],10:F2} ms");
        stdout.WriteLine($"  generation 1: teardown (unmap, close)     {r["teardown_ms"],10:F2} ms");
        stdout.WriteLine($"  generation 2: process start, runtime ready{r["start_ms"],10:F2} ms   ({((bool)r["native"] && (bool)r["next_native"] ? "Native AOT" : "JIT or ReadyToRun")})");
        stdout.WriteLine($"  generation 2: boot                        {r["boot_ms"],10:F2} ms   ({r["boot_report"]})");
        stdout.WriteLine($"  generation 2: restore                     {r["restore_ms"],10:F2} ms");
        stdout.WriteLine($"  blackout (save start to serving, process start included) {r["blackout_ms"],8:F2} ms");
        stdout.WriteLine($"  warm (every value read and checked)       {r["warm_ms"],10:F2} ms   verified: {r["verified"]}");
        if (r.TryGetValue("baselines", out var skipped))
        {
            stdout.WriteLine($"  same state by MemoryPack and by memcpy: {skipped}");
            return;
        }
        stdout.WriteLine($"  same state by MemoryPack via /dev/shm     {r["memorypack_ms"],10:F2} ms   (KState save+boot+restore is {r["kstate_vs_memorypack"]:F2}x of it)");
        stdout.WriteLine($"  same state by memcpy via shared memory    {r["memcpy_ms"],10:F2} ms   (KState is {r["kstate_vs_memcpy"]:F2}x of it)");
    }
}
