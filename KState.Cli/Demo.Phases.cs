using System.Diagnostics;

namespace KState.Cli;

/// <summary>
/// The live update phase by phase. Every moment is a <see cref="Stopwatch"/> timestamp, which on Linux is
/// CLOCK_MONOTONIC: one clock for every process of the machine, so the two generations' moments share a time line.
/// The stop-serving moment reaches the successor through the handover itself (the "kstate-demo" subtree).
/// The phases name what a live update does, not how the demo's state is carried (records today, in place later):
/// preserve, save, finalize and teardown in the predecessor; process start, runtime ready, boot and restore in the
/// successor; the blackout runs from stop-serving to serving.
/// </summary>
internal static partial class Demo
{
    /// <summary>The first generation's moments.</summary>
    private sealed class Timeline
    {
        public long Spawned, Stop, Preserved, Saved, Finalized, LetGo, TornDown;
    }

    private static double Ms(long from, long to) => (to - from) * 1000.0 / Stopwatch.Frequency;

    /// <summary>Puts the phases of both generations into <paramref name="result"/>, from both timelines.</summary>
    private static void Phases(Dictionary<string, object> result, Timeline t, Dictionary<string, object> next)
    {
        long main = (long)next["main_at"], ready = (long)next["ready_at"], booted = (long)next["booted_at"], restored = (long)next["restored_at"];
        long stop = (long)next["stop_at"]; // as the successor read it from the handover
        if (stop != t.Stop) throw new KStateCorruptException($"the successor read stop time {stop} from the handover, not {t.Stop}");
        // Predecessor.
        result["save_ms"] = Ms(t.Stop, t.Finalized); // preserve + save + finalize, as before the phases were split
        result["preserve_ms"] = Ms(t.Stop, t.Preserved);
        result["records_ms"] = t.Saved == 0 ? 0.0 : Ms(t.Preserved, t.Saved);
        result["commit_ms"] = t.Saved == 0 ? Ms(t.Preserved, t.Finalized) : Ms(t.Saved, t.Finalized);
        result["teardown_ms"] = Ms(t.Finalized, t.TornDown);
        // Successor.
        result["process_start_ms"] = Ms(t.Spawned, main);
        result["runtime_ready_ms"] = Ms(main, ready);
        result["start_ms"] = Ms(t.Spawned, ready); // process start + runtime ready
        // Boot: from the moment it could begin (the let-go, or being ready when that came later) to Init's return.
        result["boot_ms"] = Ms(Math.Max(ready, t.LetGo), booted);
        result["restore_ms"] = Ms(booted, restored);
        // The time line from stop-serving: the let-go, the successor's boot, serving (the blackout), and the predecessor's teardown.
        result["let_go_at_ms"] = Ms(stop, t.LetGo);
        result["booted_at_ms"] = Ms(stop, booted);
        result["blackout_ms"] = Ms(stop, restored);
        result["torn_down_at_ms"] = Ms(stop, t.TornDown);
        result["spawned_at_ms"] = Ms(stop, t.Spawned);
        foreach (var key in new[] { "main_at", "ready_at", "booted_at", "restored_at", "stop_at" }) next.Remove(key);
        foreach (var (k, v) in next) result[k] = v;
    }
}
