using KState.Machine.Diagnostics;
using KState.Machine.Memory;
using KState.Machine.Preservation;

namespace KState;

// What the "KState" meter reads from a generation (docs/METRICS.md): the memory preserved now, and the generation
// of the handover a finalize committed or an abort withdrew.
public sealed partial class Kho
{
    /// <summary>Blocks and bytes preserved now for the outgoing handover; false once disposed. Runs only when a
    /// listener observes the gauges, so it costs nothing otherwise: a copy of the touched map pages, counted.</summary>
    internal bool TryCountPreserved(out long blocks, out long bytes)
    {
        blocks = bytes = 0;
        lock (_lock)
        {
            if (_disposed) return false;
            var copy = new PageMap(_layout.TotalPages);
            _map.CopyTo(copy);
            foreach (var b in PreservationMap.Blocks(copy))
            {
                blocks++;
                bytes += (long)b.Size;
            }
            return true;
        }
    }

    /// <summary>True once disposed (the gauges skip it).</summary>
    internal bool IsDisposed
    {
        get { lock (_lock) return _disposed; }
    }

    /// <summary>The generation of the newest commit slot (the handover just committed or aborted), or 0.</summary>
    private long NewestGenerationForReport()
    {
        lock (_lock) return _disposed ? 0 : (long)NewestGeneration();
    }

    private void ReportFinalized(long started) => KStateMeter.Finalized(this, NewestGenerationForReport(), started);

    private void ReportAborted() => KStateMeter.Aborted(this, NewestGenerationForReport());
}
