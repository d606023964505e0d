using KState.Core.Sessions;
using KState.TestHost;
using KState.TestHost.Shared;
using KState.Tests.Support;

namespace KState.Tests.Sessions;

/// <summary>Sessions across real live updates: child processes save, this process boots and retrieves.</summary>
public unsafe class SessionLiveUpdateTests
{
    /// <summary>The next generation, in this process, with the handlers the child generations used.</summary>
    private static SessionGeneration Boot(TestRegion region, CounterHandler counters, bool withGone = false) =>
        withGone ? new(region, 0, new MemfdHandler(), counters, new GoneHandler()) : new(region, 0, new MemfdHandler(), counters);

    [Test]
    public void Sessions_items_shared_data_and_the_global_record_survive_a_live_update()
    {
        using var region = new TestRegion("sessions");
        var child = Child.Run("sessions-save", region.Path);
        Assert.That(child.ExitCode, Is.Zero, child.ToString());
        Assert.That(child.Stdout, Does.Contain("log: freeze 2, freeze 3, freeze 9, pool freeze"), "items are saved in preservation order, across sessions, then shared data");

        var counters = new CounterHandler();
        using (var generation = Boot(region, counters))
        {
            var (kho, streams, sessions) = generation;
            Assert.That(kho.IsKhoBoot, Is.True, kho.BootReport);
            using (Assert.EnterMultipleScope())
            {
                Assert.That(sessions.LiveUpdateCount, Is.EqualTo(1UL));
                Assert.That(sessions.Previous!.Version, Is.EqualTo("app-gen1"));
                Assert.That(sessions.Previous.FinalizedAt, Is.EqualTo(DateTimeOffset.UtcNow).Within(TimeSpan.FromMinutes(5)));
                Assert.That(sessions.IncomingSessions, Is.EqualTo(new[] { "vm-1", new string('x', 63), "vm-2" }), "the closed session is not saved");
            }

            var vm1 = sessions.Retrieve("vm-1");
            Assert.Throws<KStateBusyException>(() => sessions.Retrieve("vm-1"), "a second retrieve");
            Assert.Throws<KStateNotFoundException>(() => sessions.Retrieve("scratch"), "a closed session");
            Assert.Throws<KStateInvalidException>(() => sessions.Retrieve(new string('n', 64)), "a bad name");
            Assert.That(vm1.Items.Select(i => i.Token), Is.EqualTo(new ulong[] { 1, 2, 3 }));

            Assert.That(counters.PoolData.Retrievals, Is.Zero, "shared data waits until an item needs it");
            var c3 = vm1.Retrieve<Counter>(3); // any order
            Assert.That(counters.PoolData.Retrievals, Is.EqualTo(1));
            var ram = vm1.Retrieve<MemfdBuffer>(1);
            var c2 = vm1.Retrieve<Counter>(2);
            using (Assert.EnterMultipleScope())
            {
                Assert.That(vm1.Retrieve(3), Is.SameAs(c3), "retrieving is idempotent");
                Assert.That(counters.PoolData.Retrievals, Is.EqualTo(1), "shared data is restored once");
                Assert.That((c2.Value, c3.Value), Is.EqualTo((42L, 43L)));
                Assert.That(c2.Pool, Is.SameAs(c3.Pool));
                Assert.That(c2.Pool!.Tag, Is.EqualTo(0x600D_F00DUL));
                Assert.That(ram.Name, Is.EqualTo("guest-ram"));
                Assert.That(ram.Size, Is.EqualTo(SessionScenarios.GuestRamSize));
                Assert.That(Pattern.FirstMismatch(ram, SessionScenarios.GuestRamSeed), Is.EqualTo(-1L), "memfd contents");
            }
            Assert.Throws<KStateNotFoundException>(() => vm1.Retrieve(4));

            var vm2 = sessions.Retrieve("vm-2");
            var c9 = vm2.Retrieve<Counter>(9);
            Assert.That(c9.Pool, Is.SameAs(c2.Pool), "one pool for every session");
            var unknown = Assert.Throws<KStateVersionException>(() => vm2.Retrieve(11))!;
            Assert.That(unknown.Message, Does.Contain("kstate-test/gone-v1"));
            var missing = sessions.Unretrieved;
            Assert.That(missing.Select(m => (m.Session, m.Item.Token, m.Item.Compatible, m.SessionRetrieved, m.HandlerKnown)), Is.EquivalentTo(new[]
            {
                ("vm-2", 7UL, "a_struct", true, true),
                ("vm-2", 11UL, "kstate-test/gone-v1", true, false),
            }), "the empty session has no items; the unknown handler's item is reported");

            counters.Log.Clear();
            var busy = Assert.Throws<KStateBusyException>(vm2.Finish)!;
            Assert.That(busy.Message, Does.Contain("7").And.Contain("11"));
            Assert.That(counters.Log, Is.Empty, "finish is all or nothing");
            Assert.That(vm2.IsFinished, Is.False);

            c3.Ready = false;
            Assert.Throws<KStateBusyException>(vm1.Finish);
            Assert.That(counters.Log, Is.Empty);
            c3.Ready = true;
            vm1.Finish();
            Assert.That(counters.Log, Is.EqualTo(new[] { "finish 3", "finish 2" }), "finish runs in reverse; the pool still has a user in vm-2");
            Assert.Throws<KStateInvalidException>(() => vm1.Retrieve(2), "a finished session");

            var a = new TalkA();
            vm2.Restore(TalkDescriptions.A, &a, 7);
            Assert.That((a.I, a.PUlong.Target, a.Folio.Order), Is.EqualTo((42, DescriptionScenarios.PUlongValue, 1)));
            vm2.Restore(TalkDescriptions.A, &a, 7); // again, same object: nothing happens
            var other = (TalkA*)System.Runtime.InteropServices.NativeMemory.AllocZeroed((nuint)sizeof(TalkA));
            Assert.Throws<KStateBusyException>(() => vm2.Restore(TalkDescriptions.A, other, 7));
            Assert.Throws<KStateInvalidException>(() => vm2.Restore(TalkDescriptions.ModuleV1, other, 7), "another description");
            System.Runtime.InteropServices.NativeMemory.Free(other);
            var bytes = kho.FolioSpan(a.Folio);
            for (int i = 0; i < bytes.Length; i++)
                if (bytes[i] != DescriptionScenarios.FolioPattern(i)) Assert.Fail($"folio byte {i} differs");

            Assert.Throws<KStateBusyException>(vm2.Finish, "item 11 can never be retrieved here");
            Assert.That(sessions.Unretrieved.Single().HandlerKnown, Is.False);
            Assert.Throws<KStateInvalidException>(() => vm2.Discard(9), "a retrieved item is not discarded");
            vm2.Discard(11); // given up on purpose: its memory stays with KHO's leak report
            Assert.That(sessions.Unretrieved, Is.Empty);
            Assert.Throws<KStateInvalidException>(() => vm2.Retrieve(11));
            counters.Log.Clear();
            vm2.Finish();
            Assert.That(counters.Log, Is.EqualTo(new[] { "finish 9", "pool finish" }), "vm-2 held the pool's last user");
            System.Runtime.InteropServices.NativeMemory.Free(a.PUlong.Value);
        }
    }

    [Test]
    public void A_session_whose_handler_comes_back_finishes_and_finishes_its_shared_data_with_the_last_item()
    {
        using var region = new TestRegion("sessions-flb");
        var child = Child.Run("sessions-save", region.Path);
        Assert.That(child.ExitCode, Is.Zero, child.ToString());

        var counters = new CounterHandler();
        using (var generation = Boot(region, counters, withGone: true))
        {
            var (kho, streams, sessions) = generation;
            var vm2 = sessions.Retrieve("vm-2");
            vm2.Retrieve<Counter>(9);
            Assert.That(vm2.Retrieve<string>(11), Is.EqualTo("a string only generation 1 can handle"));
            var a = new TalkA();
            vm2.Restore(TalkDescriptions.A, &a, 7);
            counters.Log.Clear();
            vm2.Finish();
            Assert.That(counters.Log, Is.EqualTo(new[] { "finish 9" }), "vm-1's counters still hold the pool");

            var vm1 = sessions.Retrieve("vm-1");
            vm1.Retrieve(1);
            vm1.Retrieve(2);
            vm1.Retrieve(3);
            counters.Log.Clear();
            vm1.Finish();
            Assert.That(counters.Log, Is.EqualTo(new[] { "finish 3", "finish 2", "pool finish" }));
            sessions.Retrieve(new string('x', 63)).Finish();
            Assert.That(sessions.Unretrieved, Is.Empty);
            Assert.That(streams.Set.IncomingStreams.Where(s => s != "main"), Is.Empty, "finished sessions give their streams back");
            System.Runtime.InteropServices.NativeMemory.Free(a.PUlong.Value);
        }
    }

    [TestCase("exit")]
    [TestCase("retry")]
    public void A_failure_while_finalizing_one_session_rolls_back_every_session(string mode)
    {
        using var region = new TestRegion("sessions-rollback");
        var child = Child.Run("sessions-rollback", region.Path, mode);
        Assert.That(child.ExitCode, Is.Zero, child.ToString());
        Assert.That(child.Stdout, Does.Contain("log: freeze 1, freeze 2, freeze 3 fails, unfreeze 2, unfreeze 1"),
            "frozen items are unfrozen, last first");

        var counters = new CounterHandler();
        using (var generation = Boot(region, counters))
        {
            var (kho, streams, sessions) = generation;
            if (mode == "exit")
            {
                Assert.That(kho.IsKhoBoot, Is.False, "the failed handover was never committed");
                Assert.Throws<KStateNotFoundException>(() => sessions.Retrieve("x"));
                return;
            }
            Assert.That(kho.IsKhoBoot, Is.True, kho.BootReport);
            Assert.That(sessions.IncomingSessions, Is.EqualTo(new[] { "x", "y" }));
            var x = sessions.Retrieve("x");
            var y = sessions.Retrieve("y");
            Assert.That(x.Items.Select(i => i.Token), Is.EqualTo(new ulong[] { 1, 2, 5 }));
            Assert.That(y.Items.Select(i => i.Token), Is.EqualTo(new ulong[] { 3, 4 }));
            Assert.That(x.Items.Concat(y.Items).Select(i => x.Items.Contains(i) ? x.Retrieve<Counter>(i.Token).Value : y.Retrieve<Counter>(i.Token).Value),
                Is.EqualTo(new[] { 1L, 2, 5, 3, 4 }));
        }
    }

    [Test]
    public void Sessions_come_and_go_over_three_generations()
    {
        using var region = new TestRegion("sessions-chain");
        var gen1 = Child.Run("sessions-chain-1", region.Path);
        Assert.That(gen1.ExitCode, Is.Zero, gen1.ToString());
        var gen2 = Child.Run("sessions-chain-2", region.Path);
        Assert.That(gen2.ExitCode, Is.Zero, gen2.ToString());

        var counters = new CounterHandler();
        using (var generation = Boot(region, counters))
        {
            var (kho, streams, sessions) = generation;
            using (Assert.EnterMultipleScope())
            {
                Assert.That(sessions.LiveUpdateCount, Is.EqualTo(2UL));
                Assert.That(sessions.Previous!.Version, Is.EqualTo("chain-gen2"));
                Assert.That(sessions.IncomingSessions, Is.EqualTo(new[] { "a", "c" }), "b was not carried; c is new");
            }
            Assert.Throws<KStateNotFoundException>(() => sessions.Retrieve("b"));
            var a = sessions.Retrieve("a");
            Assert.That(a.Items.Select(i => i.Token), Is.EqualTo(new ulong[] { 1, 3 }));
            var log = a.Retrieve<MemfdBuffer>(1);
            using (Assert.EnterMultipleScope())
            {
                Assert.That(log.Size, Is.EqualTo(20_000));
                Assert.That(Pattern.FirstMismatch(log, 7, 0, 10_000), Is.EqualTo(-1L), "generation 1's bytes");
                Assert.That(Pattern.FirstMismatch(log, 8, 10_000), Is.EqualTo(-1L), "generation 2's bytes");
                Assert.That(a.Retrieve<Counter>(3).Value, Is.EqualTo(101));
                Assert.That(a.Retrieve<Counter>(3).Pool!.Tag, Is.EqualTo(2UL), "generation 2's pool");
                Assert.That(sessions.Retrieve("c").Retrieve<Counter>(7).Value, Is.EqualTo(700));
            }
            a.Finish();
            Assert.That(counters.Log, Does.Contain("finish 3"));
        }
    }
}
