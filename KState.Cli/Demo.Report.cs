using System.Text.Json;

namespace KState.Cli;

/// <summary>The demo's report: one JSON object (docs/JSON.md, "kstate demo --json"), or text.</summary>
internal static partial class Demo
{
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
        bool successor = (string)r["mode"] == "successor";
        string index = (string)r["handover"] == "copy"
            ? $"its {r["index_bytes"]}-byte index copied through session '{SessionName}' (--copy)"
            : $"its {r["index_bytes"]}-byte index in kho_vmalloc memory, handed over in place ({r["integrity"]}) through session '{SessionName}'";
        stdout.WriteLine($"live update of a key-value cache: {r["entries"]} entries, {(long)r["state_bytes"] >> 20} MiB of values in {r["folios"]} folios of 2 MiB, {index} (a KSTATE stream of {r["records"]} records)");
        stdout.WriteLine($"  region backing: {r["backing"]}");
        stdout.WriteLine(successor
            ? $"  successor started {-(double)r["spawned_at_ms"]:F2} ms before stop-serving; it waits for the region (Kho.InitWait)"
            : "  sequential: the next generation starts after this one has torn down (--sequential)");
        string runtime = (bool)r["native"] && (bool)r["next_native"] ? "Native AOT" : "JIT or ReadyToRun";
        void Start(string spawned, string when)
        {
            stdout.WriteLine($"  generation 2: process start               {r["process_start_ms"],10:F2} ms   ({runtime}){spawned}{when}");
            stdout.WriteLine($"  generation 2: runtime ready               {r["runtime_ready_ms"],10:F2} ms{when}");
        }
        if (successor) Start("", "   before the blackout");
        stdout.WriteLine($"  generation 1: stop serving                      0.00 ms   (the blackout starts)");
        stdout.WriteLine($"  generation 1: preserve                    {r["preserve_ms"],10:F2} ms");
        stdout.WriteLine($"  generation 1: save (KSTATE records)       {r["records_ms"],10:F2} ms");
        stdout.WriteLine($"  generation 1: finalize (commit)           {r["commit_ms"],10:F2} ms   let go at {r["let_go_at_ms"]:F2} ms");
        stdout.WriteLine($"  generation 1: teardown (unmap, close)     {r["teardown_ms"],10:F2} ms   done at {r["torn_down_at_ms"]:F2} ms{(successor ? " (off the blackout's path)" : "")}");
        if (!successor) Start($", spawned at {r["spawned_at_ms"]:F2} ms", "");
        stdout.WriteLine($"  generation 2: boot                        {r["boot_ms"],10:F2} ms   at {r["booted_at_ms"]:F2} ms ({r["boot_report"]})");
        stdout.WriteLine($"  generation 2: restore                     {r["restore_ms"],10:F2} ms");
        stdout.WriteLine($"  blackout (stop serving to serving{(successor ? "" : ", process start included")}) {r["blackout_ms"],8:F2} ms");
        stdout.WriteLine($"  copied by KSTATE: {r["copied_bytes"]} bytes ({r["copied_save_bytes"]} at save, {r["copied_restore_bytes"]} at restore)");
        stdout.WriteLine($"  generation 2: serving, first pass (every value read and checked) {r["warm_ms"],10:F2} ms   verified: {r["verified"]}");
        if (r.TryGetValue("baselines", out var skipped))
        {
            stdout.WriteLine($"  same state by MemoryPack and by memcpy: {skipped}");
            return;
        }
        stdout.WriteLine($"  same state by MemoryPack via /dev/shm     {r["memorypack_ms"],10:F2} ms   (KState save+boot+restore is {r["kstate_vs_memorypack"]:F2}x of it; the blackout {r["blackout_vs_memorypack"]:F4}x)");
        stdout.WriteLine($"  same state by memcpy via shared memory    {r["memcpy_ms"],10:F2} ms   (KState is {r["kstate_vs_memcpy"]:F2}x of it)");
    }
}
