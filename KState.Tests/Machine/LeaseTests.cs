using System.Runtime.InteropServices;
using KState.Core.Records;
using KState.Inspection;
using KState.TestHost.Shared;
using KState.Tests.Support;

namespace KState.Tests.Machine;

/// <summary>
/// One owner of region memory: after Kho.Dispose every public entry point above it throws ObjectDisposedException
/// (it used to read the unmapped region: AccessViolationException, exit 134), and a Dispose while another thread is
/// inside a call defers the unmap to the end of that call.
/// </summary>
public unsafe class LeaseTests
{
    [StructLayout(LayoutKind.Sequential)]
    private struct Pair
    {
        public long A;
        public long B;
    }

    private static readonly KStateDescription PairDescription = KStateDescriptionBuilder<Pair>.Create("kstate-test/lease-pair", 1, 1)
        .Base((ref Pair p) => ref p.A)
        .Base((ref Pair p) => ref p.B)
        .Build();

    /// <summary>Generation 1 saves a pair (registry, instance 1) and a session "s" with a described pair (token 1)
    /// and a counter (token 2), and finalizes.</summary>
    private static void HandOver(TestRegion region)
    {
        using var kho = region.Boot(16 << 20);
        using var streams = new KStateStreams(kho);
        var registry = new KStateRegistry(streams);
        var sessions = new KStateSessions(streams) { Version = "test" };
        sessions.RegisterHandler(new CounterHandler());
        var p = (Pair*)NativeMemory.Alloc((nuint)sizeof(Pair));
        try
        {
            *p = new Pair { A = 11, B = 22 };
            registry.Register(PairDescription, p, 1);
            var s = sessions.Create("s");
            s.SaveState(PairDescription, p, 1);
            s.Preserve(2, new Counter(5));
            kho.FinalizeHandover();
        }
        finally
        {
            NativeMemory.Free(p);
        }
    }

    [Test]
    public void Registry_save_after_the_kho_is_disposed_throws_ObjectDisposed()
    {
        using var region = new TestRegion("lease-save");
        var kho = region.Boot();
        var streams = new KStateStreams(kho);
        var registry = new KStateRegistry(streams);
        var p = new Pair { A = 1, B = 2 };
        var pp = &p;
        registry.Save(PairDescription, pp, 1); // the stream's writer exists now
        kho.Dispose();
        Assert.Throws<ObjectDisposedException>(() => registry.Save(PairDescription, pp, 2));
    }

    private static Kho? s_disposeInPreSave;

    private static readonly KStateDescription DisposingPair = KStateDescriptionBuilder<Pair>.Create("kstate-test/lease-disposing", 1, 1)
        .Base((ref Pair p) => ref p.A)
        .PreSave((ref Pair _) =>
        {
            s_disposeInPreSave?.Dispose();
            return 0;
        })
        .Build();

    [Test]
    public void A_finalize_whose_pre_save_disposes_the_kho_fails_and_takes_nothing_back_from_unmapped_memory()
    {
        using var region = new TestRegion("lease-finalize-dispose");
        var kho = region.Boot();
        var streams = new KStateStreams(kho);
        var registry = new KStateRegistry(streams);
        var p = new Pair { A = 1, B = 2 };
        var pp = &p;
        registry.Save(PairDescription, pp, 1); // the stream exists, so the failed step rolls it back
        registry.Register(DisposingPair, pp, 2);
        s_disposeInPreSave = kho;
        try
        {
            Assert.Throws<ObjectDisposedException>(() => kho.FinalizeHandover());
        }
        finally
        {
            s_disposeInPreSave = null;
        }
    }

    [Test]
    public void Registry_restore_after_the_kho_is_disposed_throws_ObjectDisposed()
    {
        using var region = new TestRegion("lease-restore");
        HandOver(region);
        var kho = region.Boot(0);
        var streams = new KStateStreams(kho);
        var registry = new KStateRegistry(streams);
        var p = new Pair();
        var pp = &p;
        registry.Restore(PairDescription, pp, 1); // the stream's reader is open now
        Assert.That((p.A, p.B), Is.EqualTo((11L, 22L)));
        p = default;
        kho.Dispose();
        Assert.Throws<ObjectDisposedException>(() => registry.Restore(PairDescription, pp, 1));
        Assert.That((p.A, p.B), Is.EqualTo((0L, 0L)), "nothing restored");
    }

    [Test]
    public void A_retrieved_session_after_the_kho_is_disposed_throws_ObjectDisposed()
    {
        using var region = new TestRegion("lease-session");
        HandOver(region);
        var kho = region.Boot(0);
        var streams = new KStateStreams(kho);
        var sessions = new KStateSessions(streams) { Version = "test" };
        sessions.RegisterHandler(new CounterHandler());
        var s = sessions.Retrieve("s");
        var p = new Pair();
        var pp = &p;
        kho.Dispose();
        Assert.Throws<ObjectDisposedException>(() => s.Restore(PairDescription, pp, 1));
        Assert.Throws<ObjectDisposedException>(() => s.Retrieve(2));
    }

    [Test]
    public void A_reader_and_a_record_obtained_before_the_kho_is_disposed_throw_ObjectDisposed()
    {
        using var region = new TestRegion("lease-reader");
        HandOver(region);
        var kho = region.Boot(0);
        var streams = new KStateStreams(kho);
        var reader = streams.Set.Open(KStateRegistry.StreamName);
        Assert.That(reader.TryFind(PairDescription.Id, 1, out _), Is.True);
        using (Assert.EnterMultipleScope())
        {
            Assert.That(ReadRecordAfterDispose(reader, kho), Is.InstanceOf<ObjectDisposedException>(), "a record's payload");
            Assert.Throws<ObjectDisposedException>(() => reader.TryFind(PairDescription.Id, 1, out _));
            Assert.Throws<ObjectDisposedException>(reader.Verify);
        }
    }

    /// <summary>Finds the record, disposes the Kho, then reads through the record and through a cursor taken before.</summary>
    private static Exception? ReadRecordAfterDispose(RecordReader reader, Kho kho)
    {
        reader.TryFind(PairDescription.Id, 1, out var record);
        var cursor = record.Cursor;
        kho.Dispose();
        try
        {
            cursor.ReadUInt64();
            return null;
        }
        catch (ObjectDisposedException)
        {
        }
        try
        {
            return record.Payload[0] == 0xFF ? null : null;
        }
        catch (Exception e)
        {
            return e;
        }
    }

    [Test]
    public void A_reader_of_an_inspected_region_after_the_inspector_is_disposed_throws_ObjectDisposed()
    {
        using var region = new TestRegion("lease-inspect");
        HandOver(region);
        var inspector = KhoInspector.Open(region.Path);
        Assert.That(inspector.TryGetSubtree(KStateStreams.SubtreeName, out var root), Is.True);
        var set = new StreamSet(new InspectorSegmentMemory(inspector));
        set.LoadIncoming(root);
        var reader = set.Open(KStateRegistry.StreamName);
        Assert.That(reader.TryFind(PairDescription.Id, 1, out _), Is.True);
        inspector.Dispose();
        using (Assert.EnterMultipleScope())
        {
            Assert.Throws<ObjectDisposedException>(() => reader.TryFind(PairDescription.Id, 1, out _));
            Assert.Throws<ObjectDisposedException>(() => inspector.TryGetSubtree(KStateStreams.SubtreeName, out _));
        }
    }

    [Test]
    public void A_writer_after_the_kho_is_disposed_throws_ObjectDisposed()
    {
        using var region = new TestRegion("lease-writer");
        var kho = region.Boot();
        var writer = new RecordWriter(new KhoSegmentMemory(kho), "w");
        writer.WriteRecord(1, 1, 1, new byte[16]);
        kho.Dispose();
        using (Assert.EnterMultipleScope())
        {
            Assert.Throws<ObjectDisposedException>(() => writer.BeginRecord(1, 2, 1));
            Assert.Throws<ObjectDisposedException>(() => writer.Complete());
            Assert.Throws<ObjectDisposedException>(() => new RecordWriter(new KhoSegmentMemory(kho), "w2"));
        }
    }

    [Test]
    public void A_lease_held_across_dispose_keeps_the_region_mapped_and_locked_until_it_ends()
    {
        using var region = new TestRegion("lease-defer");
        var kho = region.Boot();
        var folio = kho.AllocFolio(0);
        kho.FolioSpan(folio).Fill(0x5A);
        var memory = kho.Memory;
        memory.AddRef(); // a call in flight on another thread
        kho.Dispose();
        using (Assert.EnterMultipleScope())
        {
            Assert.Throws<ObjectDisposedException>(() => kho.FolioSpan(folio), "no new call gets in");
            Assert.Throws<ObjectDisposedException>(memory.AddRef, "no new lease");
            Assert.That(memory.Phys(folio.Phys, Kho.PageSize).ContainsAnyExcept((byte)0x5A), Is.False, "still mapped for the call in flight");
            Assert.Throws<KStateBusyException>(() => Kho.Init(region.Path, 0), "still locked until the call ends");
        }
        memory.Release();
        using var next = Kho.Init(region.Path, 0);
        Assert.That(next.RegionPath, Is.EqualTo(region.Path), "the last release unmapped and unlocked");
    }

    [TestCase("alloc")]
    [TestCase("records")]
    public void A_dispose_racing_with_calls_in_flight_never_unmaps_under_them(string what)
    {
        using var region = new TestRegion("lease-race");
        var child = Child.Run("dispose-race", region.Path, what, "20");
        Assert.That(child.ExitCode, Is.Zero, child.ToString());
    }
}
