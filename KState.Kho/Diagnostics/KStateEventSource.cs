using System.Diagnostics.CodeAnalysis;
using System.Diagnostics.Tracing;

namespace KState.Machine.Diagnostics;

/// <summary>The "KState" event source (docs/METRICS.md, "Events"): one event per boot, finalize, failed finalize,
/// abort, and damage found in a handover. Fed by <see cref="KStateMeter"/>.</summary>
[EventSource(Name = KStateDiagnostics.EventSourceName)]
internal sealed unsafe class KStateEventSource : EventSource
{
    public static readonly KStateEventSource Log = new();

    public const int BootId = 1, FinalizeId = 2, FinalizeFailedId = 3, AbortId = 4, DamageId = 5;

    private KStateEventSource() { }

    [Event(BootId, Level = EventLevel.Informational, Message = "{0}: boot {1}, generation {2}, {3} ms")]
    [UnconditionalSuppressMessage("Trimming", "IL2026", Justification = "Only strings, longs and doubles: primitives, which trimming keeps")]
    public void Boot(string region, string kind, long generation, double durationMs)
    {
        fixed (char* r = region)
        fixed (char* k = kind)
        {
            var data = stackalloc EventData[4];
            data[0] = Text(r, region);
            data[1] = Text(k, kind);
            data[2] = Value(&generation);
            data[3] = Value(&durationMs);
            WriteEventCore(BootId, 4, data);
        }
    }

    [Event(FinalizeId, Level = EventLevel.Informational, Message = "{0}: handover of generation {1} finalized in {2} ms")]
    [UnconditionalSuppressMessage("Trimming", "IL2026", Justification = "Only strings, longs and doubles: primitives, which trimming keeps")]
    public void Finalize(string region, long generation, double durationMs)
    {
        fixed (char* r = region)
        {
            var data = stackalloc EventData[3];
            data[0] = Text(r, region);
            data[1] = Value(&generation);
            data[2] = Value(&durationMs);
            WriteEventCore(FinalizeId, 3, data);
        }
    }

    [Event(FinalizeFailedId, Level = EventLevel.Error, Message = "{0}: finalize failed: {1}")]
    public void FinalizeFailed(string region, string error) => WriteEvent(FinalizeFailedId, region, error);

    [Event(AbortId, Level = EventLevel.Warning, Message = "{0}: handover of generation {1} aborted")]
    public void Abort(string region, long generation) => WriteEvent(AbortId, region, generation);

    [Event(DamageId, Level = EventLevel.Error, Message = "{0}: damaged {1} at offset {2}: {3}")]
    [UnconditionalSuppressMessage("Trimming", "IL2026", Justification = "Only strings, longs and doubles: primitives, which trimming keeps")]
    public void Damage(string region, string part, long offset, string reason)
    {
        fixed (char* r = region)
        fixed (char* p = part)
        fixed (char* m = reason)
        {
            var data = stackalloc EventData[4];
            data[0] = Text(r, region);
            data[1] = Text(p, part);
            data[2] = Value(&offset);
            data[3] = Text(m, reason);
            WriteEventCore(DamageId, 4, data);
        }
    }

    private static EventData Text(char* chars, string s) => new() { DataPointer = (nint)chars, Size = (s.Length + 1) * sizeof(char) };

    private static EventData Value<T>(T* value) where T : unmanaged => new() { DataPointer = (nint)value, Size = sizeof(T) };
}
