using KState.Core.Sessions;
using KState.TestHost.Shared;
using KState.Tests.Support;

namespace KState.Tests.Sessions;

/// <summary>Session rules that need no second process: buffers, shared data counting, abort, damage.</summary>
public class SessionTests
{
    [Test]
    public void A_memfd_buffer_grows_shrinks_and_reads_back_what_was_written()
    {
        using var region = new TestRegion("memfd");
        using var kho = region.Boot(32 << 20);
        using var b = MemfdBuffer.Create(kho, "buf", 5000);
        Assert.That((b.Size, b.Capacity, b.Folios.Count), Is.EqualTo((5000L, 8192L, 1)));
        b.Write(4000, Enumerable.Repeat((byte)7, 1000).ToArray());
        b.Resize((5 << 20) + 1);
        Assert.That(b.Folios.Select(f => f.Order), Is.EqualTo(new[] { 1, 9, 9, 8 }), "2 MiB folios past the first, the last as small as it can be");
        Pattern.Fill(b, 3);
        Assert.That(Pattern.FirstMismatch(b, 3), Is.EqualTo(-1L), "writes that cross folios");
        b.Resize(4097);
        b.Resize(8192);
        var tail = new byte[8192 - 4097];
        b.Read(4097, tail);
        Assert.That(tail, Is.All.Zero, "shrinking zeroes what was cut off");
        Assert.Throws<KStateInvalidException>(() => b.Write(8000, new byte[193]));
        Assert.Throws<KStateInvalidException>(() => b.Read(-1, new byte[1]));
        Assert.Throws<KStateInvalidException>(() => MemfdBuffer.Create(kho, "", 1));
        Assert.Throws<KStateInvalidException>(() => MemfdBuffer.Create(kho, new string('m', 256), 1));
        Assert.Throws<KStateOutOfMemoryException>(() => MemfdBuffer.Create(kho, "huge", 64 << 20));
    }

    [Test]
    public void Shared_data_is_preserved_with_the_first_item_and_released_with_the_last()
    {
        using var region = new TestRegion("flb");
        var counters = new CounterHandler();
        using var generation = new SessionGeneration(region, 8 << 20, counters);
        var (kho, streams, sessions) = generation;
        ulong free = kho.FreePages;
        var s1 = sessions.Create("one");
        var s2 = sessions.Create("two");
        s1.Preserve(1, new Counter(1));
        s2.Preserve(1, new Counter(2)); // tokens are per session
        s1.Preserve(2, new Counter(3));
        s1.Unpreserve(1);
        s2.Close();
        Assert.That(counters.Log, Is.EqualTo(new[] { "pool preserve", "preserve 1", "preserve 1", "preserve 2", "unpreserve 1", "unpreserve 1" }));
        s1.Unpreserve(2);
        Assert.That(counters.Log[^2..], Is.EqualTo(new[] { "unpreserve 2", "pool unpreserve" }));
        Assert.That(kho.FreePages, Is.EqualTo(free), "the pool's folio went back");
    }

    [Test]
    public void An_aborted_handover_unfreezes_items_and_lets_sessions_change_again()
    {
        using var region = new TestRegion("abort");
        var counters = new CounterHandler();
        using var generation = new SessionGeneration(region, 8 << 20, counters);
        var (kho, streams, sessions) = generation;
        var s = sessions.Create("s");
        s.Preserve(1, new Counter(1));
        s.Preserve(2, new Counter(2));
        kho.FinalizeHandover();
        Assert.Throws<KStateBusyException>(() => s.Unpreserve(1));
        Assert.Throws<KStateBusyException>(s.Close);
        counters.Log.Clear();
        kho.AbortHandover();
        Assert.That(counters.Log, Is.EqualTo(new[] { "unfreeze 2", "unfreeze 1" }));
        s.Unpreserve(1);
        kho.FinalizeHandover(); // again, without the first attempt's streams
        Assert.That(streams.Set.OutgoingStreams, Is.EquivalentTo(new[] { SessionDirectory.StreamName, "session-1" }));
    }

    [Test]
    public void Handlers_are_registered_once_per_compatible_string()
    {
        using var region = new TestRegion("handlers");
        var memfd = new MemfdHandler();
        using var generation = new SessionGeneration(region, 8 << 20, memfd);
        var (kho, streams, sessions) = generation;
        sessions.RegisterHandler(memfd); // the same one again is fine
        Assert.Throws<KStateExistsException>(() => sessions.RegisterHandler(new MemfdHandler()));
        Assert.That(sessions.FindHandler(MemfdHandler.CompatibleString), Is.SameAs(memfd));
        var s = sessions.Create("s");
        Assert.Throws<KStateInvalidException>(() => s.Preserve(1, new Counter(1), new CounterHandler()), "an unregistered handler");
        using var b = MemfdBuffer.Create(kho, "b", 10);
        s.Preserve(1, b);
        Assert.Throws<KStateInvalidException>(() => s.Preserve(2, b), "a buffer is preserved once");
        Assert.Throws<KStateBusyException>(b.Dispose, "a preserved buffer cannot be freed");
        s.Unpreserve(1);
        Assert.That(b.IsPreserved, Is.False);
    }

    [Test]
    public void A_damaged_memfd_or_directory_is_reported_and_never_read_as_data()
    {
        using var region = new TestRegion("damaged");
        ulong dataPhys;
        using (var generation = new SessionGeneration(region, 16 << 20, new MemfdHandler()))
        {
            var (kho, streams, sessions) = generation;
            var b = MemfdBuffer.Create(kho, "b", 6000);
            Pattern.Fill(b, 9);
            dataPhys = b.Folios[0].Phys;
            sessions.Create("s").Preserve(1, b);
            kho.FinalizeHandover();
            kho.PhysSpan(dataPhys, 1)[0] ^= 0xFF; // the contents change after the checksum was taken
        }
        using (var generation = new SessionGeneration(region, 0, new MemfdHandler()))
        {
            var (kho, streams, sessions) = generation;
            var s = sessions.Retrieve("s");
            var e = Assert.Throws<KStateCorruptException>(() => s.Retrieve(1))!;
            Assert.That(e.Message, Does.Contain("checksum"));
            Assert.That(s.Unretrieved, Has.Count.EqualTo(1));
            Assert.That(kho.ListUnrestored().Any(b => b.Phys == dataPhys), Is.True, "damaged contents are never restored");
            s.Discard(1);
            s.Discard(1); // again: nothing more happens
            s.Finish();

            // The next handover's directory gets one byte changed: its sessions are unreadable, not wrong.
            sessions.Create("t");
            kho.FinalizeHandover();
            ulong dir = streams.Set.GetOrCreate(SessionDirectory.StreamName).Segments[0].Phys;
            kho.PhysSpan(dir + 120, 1)[0] ^= 0x01;
        }
        using (var generation = new SessionGeneration(region, 0))
        {
            var (kho, streams, sessions) = generation;
            Assert.That(kho.IsKhoBoot, Is.True);
            Assert.That(sessions.IncomingProblem, Is.InstanceOf<KStateCorruptException>());
            Assert.Throws<KStateCorruptException>(() => sessions.Retrieve("t"));
            Assert.That(sessions.IncomingSessions, Is.Empty);
        }
    }

    [Test]
    public void A_memfd_buffer_is_frozen_while_the_handover_is_finalized()
    {
        using var region = new TestRegion("memfd-frozen");
        using var generation = new SessionGeneration(region, 8 << 20, new MemfdHandler());
        var (kho, streams, sessions) = generation;
        var b = MemfdBuffer.Create(kho, "b", 100);
        sessions.Create("s").Preserve(1, b);
        b.Write(0, [1, 2, 3]);
        kho.FinalizeHandover();
        Assert.That(b.IsFrozen, Is.True);
        Assert.Throws<KStateBusyException>(() => b.Write(0, [9]), "its checksum is taken");
        kho.AbortHandover();
        b.Write(0, [9]);
        Assert.That(b.IsFrozen, Is.False);
    }

    [Test]
    public void Undoing_a_finalize_never_throws_and_reports_a_failing_unfreeze()
    {
        using var region = new TestRegion("undo");
        var counters = new CounterHandler();
        using var generation = new SessionGeneration(region, 8 << 20, counters);
        var (kho, streams, sessions) = generation;
        var s = sessions.Create("s");
        s.Preserve(1, new Counter(1) { FailUnfreeze = true });
        s.Preserve(2, new Counter(2));
        kho.FinalizeHandover();
        counters.Log.Clear();
        kho.AbortHandover();
        Assert.That(counters.Log, Is.EqualTo(new[] { "unfreeze 2", "unfreeze 1" }), "every item is unfrozen");
        Assert.That(sessions.UndoFailures.Single().Message, Does.Contain("item 1"));
        s.Unpreserve(2);
        kho.FinalizeHandover();
        Assert.That(sessions.UndoFailures, Is.Empty, "a new finalize starts clean");
    }

    [Test]
    public void A_second_finalize_while_the_first_runs_is_refused_and_the_first_commits_everything()
    {
        using var region = new TestRegion("two-finalizes");
        using (var generation = new SessionGeneration(region, 8 << 20, new CounterHandler()))
        {
            var (kho, streams, sessions) = generation;
            sessions.Create("s").Preserve(1, new Counter(41));
            using var gate = new Gate();
            kho.AddParticipant(gate);
            var first = new Thread(kho.FinalizeHandover);
            first.Start();
            gate.Entered.Wait();
            Assert.Throws<KStateBusyException>(kho.FinalizeHandover);
            Assert.Throws<KStateExistsException>(() => new KStateSessions(streams), "one sessions manager per generation");
            gate.Release.Set();
            first.Join();
            Assert.That(kho.IsFinalized, Is.True);
        }
        using (var generation = new SessionGeneration(region, 0, new CounterHandler()))
        {
            var (kho, streams, sessions) = generation;
            Assert.That(sessions.Retrieve("s").Retrieve<Counter>(1).Value, Is.EqualTo(41));
        }
    }

    [Test]
    public void A_finish_that_fails_in_a_handler_resumes_without_finishing_anything_twice()
    {
        using var region = new TestRegion("finish-resume");
        using (var generation = new SessionGeneration(region, 8 << 20, new CounterHandler()))
        {
            var (kho, streams, sessions) = generation;
            var s = sessions.Create("s");
            for (ulong t = 1; t <= 3; t++) s.Preserve(t, new Counter((long)t));
            kho.FinalizeHandover();
        }
        var counters = new CounterHandler();
        using (var generation = new SessionGeneration(region, 0, counters))
        {
            var (kho, streams, sessions) = generation;
            var s = sessions.Retrieve("s");
            s.Retrieve(1);
            s.Retrieve(3);
            s.Discard(2);
            s.Discard(2);
            s.Retrieve<Counter>(1).FailFinish = true;
            Assert.That(s.ItemSchema, Is.Null, "counters are not described");
            counters.Log.Clear();
            Assert.Throws<InvalidOperationException>(s.Finish);
            Assert.That(s.IsFinished, Is.False);
            s.Finish();
            Assert.That(counters.Log, Is.EqualTo(new[] { "finish 3", "finish 1", "pool finish" }), "each item and the pool finish once");
            Assert.Throws<KStateInvalidException>(() => _ = s.ItemSchema, "the stream is released");
        }
    }

    /// <summary>A participant that holds a finalize until the test lets it go.</summary>
    private sealed class Gate : IKhoParticipant, IDisposable
    {
        public ManualResetEventSlim Entered { get; } = new();
        public ManualResetEventSlim Release { get; } = new();

        public void OnFinalize(Kho kho)
        {
            Entered.Set();
            Release.Wait(TimeSpan.FromSeconds(30));
        }

        public void OnAbort(Kho kho) { }

        public void Dispose()
        {
            Entered.Dispose();
            Release.Dispose();
        }
    }
}
