using System.Diagnostics.Metrics;
using System.Runtime.InteropServices;

namespace KState.Cli;

/// <summary>What the handover copied, from KSTATE's own counters rather than from the demo's arithmetic.</summary>
internal static unsafe partial class Demo
{
    /// <summary>
    /// Listens to the KState meter's <c>kstate.copied.bytes</c> (docs/METRICS.md): at save the bytes of every stream
    /// a finalize completed, at restore the size of each object restored. Pointees copied out of a record at restore
    /// are not in that counter; <see cref="CountingAllocator"/> counts them.
    /// </summary>
    private sealed class CopyMeter : IDisposable
    {
        private readonly MeterListener _listener = new();
        private long _saved, _restored;

        public CopyMeter()
        {
            _listener.InstrumentPublished = (instrument, listener) =>
            {
                if (instrument.Meter.Name == KStateDiagnostics.MeterName && instrument.Name == "kstate.copied.bytes") listener.EnableMeasurementEvents(instrument);
            };
            _listener.SetMeasurementEventCallback<long>((_, bytes, tags, _) =>
            {
                foreach (var tag in tags)
                {
                    if (tag.Key != "kstate.direction") continue;
                    if (tag.Value as string == "save") Interlocked.Add(ref _saved, bytes);
                    else if (tag.Value as string == "restore") Interlocked.Add(ref _restored, bytes);
                }
            });
            _listener.Start();
        }

        /// <summary>Bytes of streams completed at finalize in this process.</summary>
        public long Saved => Interlocked.Read(ref _saved);

        /// <summary>Bytes of objects restored in this process (their structs, not their pointees).</summary>
        public long Restored => Interlocked.Read(ref _restored);

        public void Dispose() => _listener.Dispose();
    }

    /// <summary>Restore's memory for pointees copied out of a record (the index by copy): counted, then malloc'd.</summary>
    private sealed class CountingAllocator : IPointerAllocator
    {
        /// <summary>Blobs above this go to data segments of their own (docs/FORMAT.md, "Blobs").</summary>
        private const int BlobInlineLimit = 64 * 1024;

        public long Bytes { get; private set; }

        /// <summary>Bytes of pointees that came from blobs in data segments rather than from inside a record.</summary>
        public long OutOfLine { get; private set; }

        public void* Allocate(nuint bytes)
        {
            Bytes += (long)bytes;
            if (bytes > BlobInlineLimit) OutOfLine += (long)bytes;
            return NativeMemory.Alloc(bytes);
        }
    }
}
