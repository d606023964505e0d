using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Runtime.CompilerServices;

namespace KState.Machine.Diagnostics;

/// <summary>
/// The "KState" meter (docs/METRICS.md), fed from the few places where things happen: a boot and a finalize or abort
/// (<see cref="Kho"/>), a restore and the bytes a finalize writes into streams (KState.Core). Every call site is one
/// line; the events of <see cref="KStateEventSource"/> go out from here too. Gauges are read from the generations
/// booted in this process and still open, only when a listener collects them.
/// </summary>
internal static class KStateMeter
{
    public const string BootKindTag = "kstate.boot.kind", OutcomeTag = "kstate.finalize.outcome", RegionTag = "kstate.region",
        SourceTag = "kstate.restore.source", DirectionTag = "kstate.direction";

    private static readonly Meter Meter = new(KStateDiagnostics.MeterName, KStateVersion.Value);
    private static readonly Counter<long> Boots = Meter.CreateCounter<long>("kstate.boots", "{boot}", "Boots of a region, by what they found");
    private static readonly Histogram<double> BootDuration = Meter.CreateHistogram<double>("kstate.boot.duration", "ms", "Boot: validating and ingesting the handover, building the allocator");
    private static readonly Counter<long> Finalizes = Meter.CreateCounter<long>("kstate.finalizes", "{finalize}", "Finalize attempts, committed or failed");
    private static readonly Histogram<double> FinalizeDuration = Meter.CreateHistogram<double>("kstate.finalize.duration", "ms", "Finalize: participants, root tree, commit");
    private static readonly Counter<long> Aborts = Meter.CreateCounter<long>("kstate.aborts", "{abort}", "Finalized handovers withdrawn");
    private static readonly Histogram<double> RestoreDuration = Meter.CreateHistogram<double>("kstate.restore.duration", "ms", "Restores of described objects");
    private static readonly Counter<long> Copied = Meter.CreateCounter<long>("kstate.copied.bytes", "By", "Bytes KSTATE copied: records written at finalize, objects restored");
    private static readonly ConditionalWeakTable<Kho, Generation> Live = new();

    static KStateMeter()
    {
        Meter.CreateObservableGauge("kstate.preserved.bytes", () => Preserved(bytes: true), "By", "Memory preserved for the outgoing handover");
        Meter.CreateObservableGauge("kstate.preserved.blocks", () => Preserved(bytes: false), "{block}", "Blocks (folios, range pieces) preserved for the outgoing handover");
        Meter.CreateObservableGauge("kstate.live_updates", LiveUpdates, "{update}", "Live updates the state of this generation has been through (0: a cold start)");
    }

    /// <summary>A boot ended (<c>Kho.Init</c>): counts it by kind, times it, tracks the generation for the gauges.</summary>
    public static void Booted(Kho kho, long started)
    {
        double ms = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
        var status = kho.BootStatus;
        var kind = new KeyValuePair<string, object?>(BootKindTag, status.KindName);
        Boots.Add(1, kind);
        BootDuration.Record(ms, kind);
        Live.AddOrUpdate(kho, new Generation());
        var events = KStateEventSource.Log;
        if (!events.IsEnabled()) return;
        events.Boot(kho.RegionPath, status.KindName, (long)status.Generation, ms);
        if (status.Kind is KhoBootKind.Damaged or KhoBootKind.Incompatible)
            events.Damage(kho.RegionPath, status.Part ?? "handover", status.Offset is { } at ? (long)at : -1, status.Reason);
    }

    public static void Finalized(Kho kho, long generation, long started)
    {
        double ms = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
        var outcome = new KeyValuePair<string, object?>(OutcomeTag, "committed");
        Finalizes.Add(1, outcome);
        FinalizeDuration.Record(ms, outcome);
        if (KStateEventSource.Log.IsEnabled()) KStateEventSource.Log.Finalize(kho.RegionPath, generation, ms);
    }

    public static void FinalizeFailed(Kho kho, long started, Exception error)
    {
        double ms = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
        var outcome = new KeyValuePair<string, object?>(OutcomeTag, "failed");
        Finalizes.Add(1, outcome);
        FinalizeDuration.Record(ms, outcome);
        if (KStateEventSource.Log.IsEnabled()) KStateEventSource.Log.FinalizeFailed(kho.RegionPath, error.Message);
    }

    public static void Aborted(Kho kho, long generation)
    {
        Aborts.Add(1);
        if (KStateEventSource.Log.IsEnabled()) KStateEventSource.Log.Abort(kho.RegionPath, generation);
    }

    /// <summary>Damage found above the machine: a KSTATE root or session directory that cannot be read.</summary>
    public static void Damaged(Kho kho, string part, KStateException error)
    {
        if (KStateEventSource.Log.IsEnabled())
            KStateEventSource.Log.Damage(kho.RegionPath, part, error is KStateCorruptException { Offset: >= 0 } c ? c.Offset : -1, error.Message);
    }

    /// <summary>A described object was restored (<paramref name="bytes"/>: its size) from <paramref name="source"/>
    /// ("registry" or "session").</summary>
    public static void Restored(string source, int bytes, long started)
    {
        if (!RestoreDuration.Enabled && !Copied.Enabled) return; // no listener: nothing to compute on the restore path
        RestoreDuration.Record(Stopwatch.GetElapsedTime(started).TotalMilliseconds, new KeyValuePair<string, object?>(SourceTag, source));
        Copied.Add(bytes, new KeyValuePair<string, object?>(DirectionTag, "restore"));
    }

    /// <summary>A finalize completed streams holding <paramref name="bytes"/> bytes of records.</summary>
    public static void Saved(long bytes) => Copied.Add(bytes, new KeyValuePair<string, object?>(DirectionTag, "save"));

    /// <summary>The live-update count of a generation, as its sessions read it from the handover.</summary>
    public static void LiveUpdateCount(Kho kho, ulong count) => Live.GetOrCreateValue(kho).LiveUpdates = (long)count;

    private static IEnumerable<Measurement<long>> Preserved(bool bytes)
    {
        foreach (var (kho, _) in Live)
            if (kho.TryCountPreserved(out long blocks, out long total))
                yield return new Measurement<long>(bytes ? total : blocks, new KeyValuePair<string, object?>(RegionTag, kho.RegionPath));
    }

    private static IEnumerable<Measurement<long>> LiveUpdates()
    {
        foreach (var (kho, g) in Live)
            if (g.LiveUpdates >= 0 && !kho.IsDisposed)
                yield return new Measurement<long>(g.LiveUpdates, new KeyValuePair<string, object?>(RegionTag, kho.RegionPath));
    }

    /// <summary>What the gauges know of one generation beyond its Kho.</summary>
    private sealed class Generation
    {
        public long LiveUpdates = -1; // -1: nothing read it yet (no sessions)
    }
}
