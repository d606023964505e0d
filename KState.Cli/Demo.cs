using System.Buffers.Binary;
using System.Diagnostics;
using System.IO.Hashing;
using System.Runtime.InteropServices;
using System.Text.Json;

namespace KState.Cli;

/// <summary>One cache entry, plain values only (the same bytes mean the same in the next process): the value's key,
/// where it lives (its phys, inside the value folio numbered <see cref="Folio"/>) and its length.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct CacheEntry
{
    public ulong Key;
    public ulong Phys;      // of the value's first byte
    public uint Length;
    public uint Folio;      // index into the cache's folio table
}

/// <summary>One value folio of the cache, by its phys.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct FolioSlot
{
    public ulong Phys;
}

/// <summary>The cache's root object: its index and its folio table, as one described struct.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct CacheRoot
{
    public ulong EntryCount;
    public Ptr<CacheEntry> Entries;
    public ulong FolioCount;
    public Ptr<FolioSlot> Folios;
}

/// <summary>
/// The main job: a key-value cache whose values live in KHO folios and whose index (and folio table) lives in
/// kho_vmalloc memory builds its state, finalizes, and hands over to a new process of itself, which boots, restores,
/// verifies every byte and reports the blackout. The index is handed over in place (preserved arrays: KSTATE records
/// where it lives, copies nothing); with --copy it travels by copy through the session's records instead, for
/// comparison. By default the successor is started before the handover and waits for the region
/// (<see cref="Kho.InitWait(string, ulong, TimeSpan, KhoOptions?)"/>), as a service's binary upgrade does; with
/// --sequential it is started only after this generation has torn down. The same state is then carried by MemoryPack
/// through a /dev/shm file and by memcpy through shared memory, for comparison in the same run.
/// </summary>
internal static unsafe partial class Demo
{
    private const int FolioOrder = 9;                 // 2 MiB value folios
    private const int FolioBytes = 4096 << FolioOrder;
    private const int MaxEntries = 1 << 24;
    private const ulong Seed = 0x5EED;
    private const string SessionName = "kstate-demo/cache";

    /// <summary>The index travelling by copy (--copy): its bytes go into the session's records and out again.</summary>
    private static readonly KStateDescription CopiedRoot = KStateDescriptionBuilder<CacheRoot>.Create("kstate-demo/cache", 1, 1)
        .Base((ref CacheRoot r) => ref r.EntryCount)
        .Pointer((ref CacheRoot r) => ref r.Entries, count: MaxEntries, countMember: "EntryCount")
        .Base((ref CacheRoot r) => ref r.FolioCount)
        .Pointer((ref CacheRoot r) => ref r.Folios, count: MaxEntries, countMember: "FolioCount")
        .Build();

    private static readonly KStateDescription EntryDescription = KStateDescriptionBuilder<CacheEntry>.Create("kstate-demo/entry", 1, 1)
        .Base((ref CacheEntry e) => ref e.Key)
        .Base((ref CacheEntry e) => ref e.Phys)
        .Base((ref CacheEntry e) => ref e.Length)
        .Base((ref CacheEntry e) => ref e.Folio)
        .Build();

    private static readonly KStateDescription FolioDescription = KStateDescriptionBuilder<FolioSlot>.Create("kstate-demo/folio", 1, 1)
        .Base((ref FolioSlot f) => ref f.Phys)
        .Build();

    /// <summary>The index handed over in place: the session's record holds only where the arrays live (docs/FORMAT.md,
    /// "Preserved struct and array fields").</summary>
    private static KStateDescription InPlaceRoot(InPlaceIntegrity integrity) => KStateDescriptionBuilder<CacheRoot>.Create("kstate-demo/cache-in-place", 1, 1)
        .DefaultIntegrity(integrity)
        .PreservedArray((ref CacheRoot r) => ref r.Entries, EntryDescription, (ref CacheRoot r) => ref r.EntryCount)
        .PreservedArray((ref CacheRoot r) => ref r.Folios, FolioDescription, (ref CacheRoot r) => ref r.FolioCount)
        .Build();

    /// <summary>How the demo hands its index over: in place with either integrity, or by copy (--copy).</summary>
    internal readonly record struct Handover(bool Copy, InPlaceIntegrity Integrity, bool HandOn = false)
    {
        public KStateDescription Root => Copy ? CopiedRoot : InPlaceRoot(Integrity);

        public string Name => Copy ? "copy" : "in-place";

        public string IntegrityName => Integrity == InPlaceIntegrity.Trusted ? "trusted" : "checksum";

        /// <summary>The --integrity option's value.</summary>
        public static InPlaceIntegrity ParseIntegrity(string? value) => value switch
        {
            null or "checksum" => InPlaceIntegrity.Checksum,
            "trusted" => InPlaceIntegrity.Trusted,
            _ => throw new KStateInvalidException($"--integrity {value}: must be checksum or trusted"),
        };
    }

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

    /// <summary>The first generation: builds the cache, hands it over and reports every phase (see Demo.Phases.cs).</summary>
    /// <param name="sequential">Start the next generation only after this one has torn down (a plain restart),
    /// instead of before the handover (a successor that waits for the region).</param>
    /// <param name="baselines">Also carry the same state by MemoryPack and by memcpy, for comparison.</param>
    /// <param name="how">In place (with its integrity) or by copy; and whether the successor hands the state on again.</param>
    public static int Run(string? regionArg, bool discardHandover, long stateSize, bool sequential, bool baselines, Handover how, bool json, TextWriter stdout, TextWriter stderr)
    {
        if (how.HandOn && regionArg is null) throw new KStateInvalidException("--hand-on leaves a committed handover in the region: it needs --region");
        if (stateSize < 4096 || stateSize > (16L << 30)) throw new KStateInvalidException($"--state-size {stateSize} must be between 4 KiB and 16 GiB");
        string region = regionArg ?? $"/dev/shm/kstate-demo-{Environment.ProcessId}";
        ulong regionSize = (ulong)(stateSize + stateSize / 4 + (64L << 20)) & ~((2UL << 20) - 1); // whole huge pages: hugetlbfs maps nothing less
        if (RegionGuard.TryClear(region, discardHandover) is { } refusal)
        {
            stderr.WriteLine($"kstate: {refusal}");
            return App.UsageOrIo;
        }
        Process? next = null;
        try
        {
            var result = new Dictionary<string, object> { ["mode"] = sequential ? "sequential" : "successor", ["handover"] = how.Name };
            if (!how.Copy) result["integrity"] = how.IntegrityName;
            var t = new Timeline();
            var entries = new List<CacheEntry>();
            var kho = Kho.Init(region, regionSize);
            KStateStreams? streams = null;
            int folioCount = 0;
            using var copied = new CopyMeter();
            try
            {
                streams = new KStateStreams(kho);
                var sessions = new KStateSessions(streams) { Version = "kstate-demo 1" };
                var clock = new SavedClock();
                kho.AddParticipant(clock); // after KSTATE's own participant: it runs once the records are written
                // Progress only on a terminal: a captured or redirected writer gets no carriage-return lines.
                bool progress = !json && ReferenceEquals(stderr, Console.Error) && !Console.IsErrorRedirected;
                var folios = Build(kho, stateSize, entries, progress ? stderr : null);
                folioCount = folios.Count;
                var root = (CacheRoot*)NativeMemory.AllocZeroed((nuint)sizeof(CacheRoot));
                // The index and the folio table: in kho_vmalloc areas (scattered frames, one mapped range), handed over
                // where they are; by copy they live in the heap and travel through the records.
                var entryArray = (CacheEntry*)IndexMemory(kho, how, (ulong)entries.Count * (ulong)sizeof(CacheEntry));
                CollectionsMarshal.AsSpan(entries).CopyTo(new Span<CacheEntry>(entryArray, entries.Count));
                var folioArray = (FolioSlot*)IndexMemory(kho, how, (ulong)folios.Count * (ulong)sizeof(FolioSlot));
                for (int i = 0; i < folios.Count; i++) folioArray[i] = new FolioSlot { Phys = folios[i].Phys };
                *root = new CacheRoot { EntryCount = (ulong)entries.Count, Entries = new(entryArray), FolioCount = (ulong)folios.Count, Folios = new(folioArray) };
                result["index_bytes"] = (long)entries.Count * sizeof(CacheEntry) + (long)folios.Count * sizeof(FolioSlot);
                if (!how.Copy && kho.TryFindVmalloc((nint)entryArray, out var indexArea)) result["index_phys"] = indexArea.Frames[0];
                result["backing"] = kho.Backing.Description;
                result["backing_page_size"] = kho.BackingPageSize;

                // A successor is started while this generation still serves: its process start and runtime are off the blackout.
                if (!sequential) next = StartNextGeneration(region, wait: true, how, t);

                // The blackout starts: stop serving, preserve, save, finalize, let go.
                t.Stop = Stopwatch.GetTimestamp();
                foreach (var f in folios) kho.PreserveFolio(f);
                t.Preserved = Stopwatch.GetTimestamp();
                sessions.Create(SessionName).SaveState(how.Root, root, 0); // its records are written at finalize
                kho.AddSubtree("kstate-demo", BitConverter.GetBytes(t.Stop)); // the stop time, for the successor's own report
                kho.FinalizeHandover();
                t.Finalized = Stopwatch.GetTimestamp();
                t.Saved = clock.At;
            }
            finally
            {
                // Teardown at once: the lock goes first (the successor boots from here), then the state is unmapped page by page.
                t.LetGo = Stopwatch.GetTimestamp();
                kho.Dispose();
                t.TornDown = Stopwatch.GetTimestamp();
                streams?.Dispose();
            }
            // A plain restart: the next generation starts right after the teardown, before any of this one's bookkeeping.
            if (sequential) next = StartNextGeneration(region, wait: false, how, t);
            result["folios"] = folioCount;
            result["entries"] = entries.Count;
            result["state_bytes"] = entries.Sum(e => (long)e.Length);
            result["region_bytes"] = regionSize;
            result["native"] = RunsNatively;
            result["copied_save_bytes"] = copied.Saved;
            var successor = FinishNextGeneration(next!);
            Phases(result, t, successor);
            // Pointees above 64 KiB are blobs in data segments, which the meter's save count leaves out (it counts the
            // streams alone); they are exactly the bytes restore copied out of them again, which the successor counted.
            double pointees = (double)result["copied_pointee_bytes"];
            result.Remove("copied_pointee_bytes");
            result["copied_save_bytes"] = copied.Saved + (long)pointees;
            result["copied_bytes"] = (long)result["copied_save_bytes"] + (long)(double)result["copied_restore_bytes"];

            double kstateMs = (double)result["save_ms"] + (double)result["boot_ms"] + (double)result["restore_ms"];
            result["kstate_ms"] = kstateMs;
            // The baselines hold the state in one byte array, which .NET caps at Array.MaxLength bytes.
            if (!baselines)
            {
                result["baselines"] = "not run: --no-baselines";
            }
            else if ((long)result["state_bytes"] <= Array.MaxLength)
            {
                var (memoryPackMs, memcpyMs) = Baselines(entries);
                result["memorypack_ms"] = memoryPackMs;
                result["memcpy_ms"] = memcpyMs;
                result["kstate_vs_memorypack"] = kstateMs / memoryPackMs;
                result["kstate_vs_memcpy"] = kstateMs / memcpyMs;
                result["blackout_vs_memorypack"] = (double)result["blackout_ms"] / memoryPackMs;
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
            if (next is { HasExited: false })
            {
                next.Kill(); // this generation failed before the handover: its waiting successor has nothing to wait for
                next.WaitForExit();
            }
            next?.Dispose();
            if (regionArg is null) Kho.RemoveRegion(region);
        }
    }

    /// <summary>Memory for the index: a kho_vmalloc area in place (it need not be physically contiguous), the heap by copy.</summary>
    private static void* IndexMemory(Kho kho, Handover how, ulong bytes) =>
        how.Copy ? NativeMemory.Alloc((nuint)bytes) : (void*)kho.Vmalloc(bytes).Address;

    /// <summary>Notes when KSTATE's records are written: it runs at finalize, after KSTATE's participant, before the commit.</summary>
    private sealed class SavedClock : IKhoParticipant
    {
        public long At { get; private set; }

        public void OnFinalize(Kho kho) => At = Stopwatch.GetTimestamp();

        public void OnAbort(Kho kho) => At = 0;
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
            entries.Add(new CacheEntry { Key = key, Phys = folios[^1].Phys + (ulong)used, Length = (uint)len, Folio = (uint)(folios.Count - 1) });
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

    /// <summary>
    /// Native AOT has no JIT, so nothing was compiled at run time. (RuntimeFeature.IsDynamicCodeSupported cannot tell:
    /// PublishAot turns it off in the JIT build's runtimeconfig too.)
    /// </summary>
    private static bool RunsNatively => System.Runtime.JitInfo.GetCompiledMethodCount() == 0;

    private static double Ms(long since) => Stopwatch.GetElapsedTime(since).TotalMilliseconds;
}
