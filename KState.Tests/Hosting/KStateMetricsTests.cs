using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Diagnostics.Tracing;
using System.Runtime.InteropServices;
using KState.Tests.Support;

namespace KState.Tests.Hosting;

/// <summary>The "KState" meter and event source around real boots, finalizes, aborts and restores (docs/METRICS.md).
/// Not run beside other tests: the counters are process-wide and would count their boots too.</summary>
[NonParallelizable]
public unsafe class KStateMetricsTests
{
    [StructLayout(LayoutKind.Sequential)]
    private struct Pair
    {
        public ulong A;
        public ulong B;
    }

    private static readonly KStateDescription PairDescription = KStateDescriptionBuilder<Pair>.Create("kstate-test/metrics-pair", 1, 1)
        .Base((ref Pair p) => ref p.A)
        .Base((ref Pair p) => ref p.B)
        .Build();

    private sealed record Measured(string Instrument, double Value, IReadOnlyDictionary<string, object?> Tags)
    {
        public object? this[string tag] => Tags.GetValueOrDefault(tag);
    }

    /// <summary>Every measurement of the "KState" meter while it lives.</summary>
    private sealed class Measurements : IDisposable
    {
        private readonly MeterListener _listener = new();
        private readonly ConcurrentQueue<Measured> _all = new();

        public Measurements()
        {
            _listener.InstrumentPublished = (instrument, l) =>
            {
                if (instrument.Meter.Name == KStateDiagnostics.MeterName) l.EnableMeasurementEvents(instrument);
            };
            _listener.SetMeasurementEventCallback<long>((i, v, tags, _) => Add(i, v, tags));
            _listener.SetMeasurementEventCallback<double>((i, v, tags, _) => Add(i, v, tags));
            _listener.Start();
        }

        private void Add(Instrument i, double v, ReadOnlySpan<KeyValuePair<string, object?>> tags)
        {
            var d = new Dictionary<string, object?>();
            foreach (var t in tags) d[t.Key] = t.Value;
            _all.Enqueue(new Measured(i.Name, v, d));
        }

        /// <summary>Reads the gauges now.</summary>
        public void Observe() => _listener.RecordObservableInstruments();

        public List<Measured> Of(string instrument) => [.. _all.Where(m => m.Instrument == instrument)];

        public void Clear() => _all.Clear();

        public void Dispose() => _listener.Dispose();
    }

    private sealed class Events : EventListener
    {
        private readonly ConcurrentQueue<EventWrittenEventArgs> _all = new(); // set before the base constructor enables sources

        protected override void OnEventSourceCreated(EventSource source)
        {
            if (source.Name == KStateDiagnostics.EventSourceName) EnableEvents(source, EventLevel.Verbose);
        }

        protected override void OnEventWritten(EventWrittenEventArgs e) => _all.Enqueue(e);

        /// <summary>The events named <paramref name="name"/> about <paramref name="region"/> (their first payload).</summary>
        public List<EventWrittenEventArgs> Of(string name, string region) =>
            [.. _all.Where(e => e.EventName == name && e.Payload is { Count: > 0 } p && (string?)p[0] == region)];
    }

    private static double Sum(IEnumerable<Measured> ms) => ms.Sum(m => m.Value);

    [Test]
    public void A_boot_finalize_and_restore_are_measured_and_reported()
    {
        using var r = new TestRegion("metrics");
        using var m = new Measurements();
        using var events = new Events();
        var pair = new Pair { A = 0xA, B = 0xB };
        long blocksBefore, blocksAfter, bytesAfter;
        List<Measured> save;
        using (var kho = r.Boot())
        {
            using var streams = new KStateStreams(kho);
            _ = new KStateSessions(streams);
            var registry = new KStateRegistry(streams);
            var folio = kho.AllocFolio(2);
            kho.PreserveFolio(folio);
            registry.Save(PairDescription, &pair, 3);
            m.Observe();
            blocksBefore = (long)Sum(m.Of("kstate.preserved.blocks").Where(x => (string?)x["kstate.region"] == r.Path));
            kho.FinalizeHandover();
            save = m.Of("kstate.copied.bytes").Where(x => (string?)x["kstate.direction"] == "save").ToList();
            m.Clear();
            m.Observe();
            blocksAfter = (long)Sum(m.Of("kstate.preserved.blocks").Where(x => (string?)x["kstate.region"] == r.Path));
            bytesAfter = (long)Sum(m.Of("kstate.preserved.bytes").Where(x => (string?)x["kstate.region"] == r.Path));
            Assert.That(Sum(m.Of("kstate.live_updates").Where(x => (string?)x["kstate.region"] == r.Path)), Is.EqualTo(0), "a cold start has been through no live update");
        }

        m.Clear();
        using (var kho = Kho.Init(r.Path, 0))
        {
            var unrestored = kho.ListUnrestored();
            using var streams = new KStateStreams(kho);
            _ = new KStateSessions(streams);
            var registry = new KStateRegistry(streams);
            var back = new Pair();
            registry.Restore(PairDescription, &back, 3);
            Assert.That(back, Is.EqualTo(pair));
            m.Observe();
            using (Assert.EnterMultipleScope())
            {
                // What the gauges said after finalize is what the next generation found: every block, plus the root tree's.
                Assert.That(blocksBefore, Is.GreaterThanOrEqualTo(2), "the folio and the stream's segment");
                Assert.That(blocksAfter - 1, Is.EqualTo(kho.IncomingBlocks));
                Assert.That(unrestored, Has.Count.EqualTo(kho.IncomingBlocks));
                long area = bytesAfter - unrestored.Sum(b => (long)b.Size);
                Assert.That(area >= Kho.PageSize && long.IsPow2(area), $"the root tree's folio: {area} bytes");
                Assert.That(Sum(m.Of("kstate.live_updates").Where(x => (string?)x["kstate.region"] == r.Path)), Is.EqualTo(1));
            }
        }
        var restore = m.Of("kstate.copied.bytes").Where(x => (string?)x["kstate.direction"] == "restore").ToList();
        var all = m.Of("kstate.boots");

        using (Assert.EnterMultipleScope())
        {
            Assert.That(Sum(save), Is.GreaterThanOrEqualTo(sizeof(Pair)), "the record and its stream's names, schema and end marker");
            Assert.That(restore.Select(x => x.Value), Is.EqualTo(new[] { (double)sizeof(Pair) }));
            Assert.That(all.Select(x => x["kstate.boot.kind"]), Is.EqualTo(new[] { "handover" }));
            Assert.That(m.Of("kstate.boot.duration").Single()["kstate.boot.kind"], Is.EqualTo("handover"));
            Assert.That(m.Of("kstate.restore.duration").Single()["kstate.restore.source"], Is.EqualTo("registry"));
            var boots = events.Of("Boot", r.Path);
            Assert.That(boots.Select(e => e.Payload![1]), Is.EqualTo(new[] { "first", "handover" }));
            Assert.That(boots[1].Payload![2], Is.EqualTo(1L), "the generation booted");
            var finalized = events.Of("Finalize", r.Path).Single();
            Assert.That(finalized.Payload![1], Is.EqualTo(1L));
            Assert.That(finalized.Payload![2], Is.TypeOf<double>().And.GreaterThanOrEqualTo(0.0));
        }
    }

    [Test]
    public void The_first_boot_and_a_committed_finalize_are_counted_with_their_kind_and_outcome()
    {
        using var r = new TestRegion("metricsfirst");
        using var m = new Measurements();
        using (var kho = r.Boot()) kho.FinalizeHandover();
        using (Assert.EnterMultipleScope())
        {
            Assert.That(m.Of("kstate.boots").Select(x => (x["kstate.boot.kind"], x.Value)), Is.EqualTo(new[] { ((object?)"first", 1.0) }));
            Assert.That(m.Of("kstate.finalizes").Select(x => (x["kstate.finalize.outcome"], x.Value)), Is.EqualTo(new[] { ((object?)"committed", 1.0) }));
            Assert.That(m.Of("kstate.finalize.duration").Single().Value, Is.GreaterThanOrEqualTo(0));
        }
    }

    private sealed class FailingParticipant : IKhoParticipant
    {
        public void OnFinalize(Kho kho) => throw new KStateInvalidException("injected finalize failure");

        public void OnAbort(Kho kho) { }
    }

    [Test]
    public void A_failed_finalize_and_an_abort_are_counted_and_reported()
    {
        using var r = new TestRegion("metricsfail");
        using var m = new Measurements();
        using var events = new Events();
        using (var kho = r.Boot())
        {
            var failing = new FailingParticipant();
            kho.AddParticipant(failing);
            Assert.That(kho.FinalizeHandover, Throws.TypeOf<KStateInvalidException>());
            kho.RemoveParticipant(failing);
            kho.FinalizeHandover();
            kho.AbortHandover();
        }
        using (Assert.EnterMultipleScope())
        {
            Assert.That(m.Of("kstate.finalizes").Select(x => x["kstate.finalize.outcome"]), Is.EqualTo(new[] { "failed", "committed" }));
            Assert.That(m.Of("kstate.finalize.duration").Select(x => x["kstate.finalize.outcome"]), Is.EqualTo(new[] { "failed", "committed" }));
            Assert.That(Sum(m.Of("kstate.aborts")), Is.EqualTo(1));
            Assert.That(events.Of("FinalizeFailed", r.Path).Single().Payload![1], Is.EqualTo("injected finalize failure"));
            Assert.That(events.Of("Abort", r.Path).Single().Payload![1], Is.EqualTo(1L));
            Assert.That(events.Of("Finalize", r.Path), Has.Count.EqualTo(1));
        }
    }

    [Test]
    public void A_damaged_handover_is_counted_as_a_damaged_boot_and_reported_with_where()
    {
        using var r = new TestRegion("metricsdamage");
        using (var kho = r.Boot()) kho.FinalizeHandover();
        using (var handle = File.OpenHandle(r.Path, FileMode.Open, FileAccess.ReadWrite))
        {
            var b = new byte[1];
            RandomAccess.Read(handle, b, 1024 + 9); // the first finalize wrote commit slot 0 (docs/FORMAT.md)
            b[0] ^= 0x40;
            RandomAccess.Write(handle, b, 1024 + 9);
        }
        using var m = new Measurements();
        using var events = new Events();
        using (var kho = Kho.Init(r.Path, 0)) Assert.That(kho.BootStatus.Kind, Is.EqualTo(KhoBootKind.Damaged), kho.BootReport);
        using (Assert.EnterMultipleScope())
        {
            Assert.That(m.Of("kstate.boots").Select(x => x["kstate.boot.kind"]), Is.EqualTo(new[] { "damaged" }));
            var damage = events.Of("Damage", r.Path).Single();
            Assert.That(damage.Payload![1], Is.EqualTo("commit slot 0"));
            Assert.That(damage.Payload![2], Is.EqualTo(1024L));
            Assert.That(events.Of("Boot", r.Path).Single().Payload![1], Is.EqualTo("damaged"));
        }
    }
}
