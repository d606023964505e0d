using KState;
using KState.Tests.Support;

namespace KState.Tests.Machine;

public class BootTests
{
    [Test]
    public void Restore_works_once_with_the_preserved_order_and_contents()
    {
        using var r = new TestRegion();
        Folio a, b;
        using (var kho = r.Boot())
        {
            a = kho.AllocFolio(3);
            b = kho.AllocFolio(0);
            kho.FolioSpan(a).Fill(0x3C);
            kho.FolioSpan(b).Fill(0x4D);
            kho.PreserveFolio(a);
            kho.PreserveFolio(b);
            kho.FinalizeHandover();
        }
        using var next = r.Boot();
        Assert.That(next.IsKhoBoot, Is.True, next.BootReport);
        Assert.That(next.IncomingBlocks, Is.EqualTo(2));
        Assert.That(next.TryRestoreFolio(a.Phys, out var ra), Is.True);
        Assert.That(ra, Is.EqualTo(a));
        Assert.That(next.FolioSpan(ra).ContainsAnyExcept((byte)0x3C), Is.False);
        Assert.That(next.TryRestoreFolio(a.Phys, out _), Is.False, "second restore");
        Assert.That(next.TryRestoreFolio(a.Phys + 4096, out _), Is.False, "a page inside a folio");
        Assert.That(next.RestoreFolio(b.Phys), Is.EqualTo(b));
        // Restored folios are owned like allocated ones: they can be preserved again or freed.
        next.PreserveFolio(ra);
        next.UnpreserveFolio(ra);
        next.PutFolio(ra);
    }

    [Test]
    public void A_cold_boot_restores_nothing()
    {
        using var r = new TestRegion();
        using var kho = r.Boot();
        var f = kho.AllocFolio(0);
        Assert.That(kho.TryRestoreFolio(f.Phys, out _), Is.False);
        Assert.That(kho.TryRestorePhys(f.Phys, 4096), Is.False);
        Assert.That(kho.ListUnrestored(), Is.Empty);
        Assert.Throws<KStateNotFoundException>(() => kho.RetrieveSubtree("kstate"));
    }

    [Test]
    public void A_range_restores_once_with_the_same_address_and_size()
    {
        using var r = new TestRegion();
        ulong phys;
        using (var kho = r.Boot())
        {
            var f = kho.AllocFolio(3);
            phys = f.Phys + 4096;
            kho.PhysSpan(phys, 6 * 4096).Fill(0x77);
            kho.PreservePhys(phys, 6 * 4096);
            kho.FinalizeHandover();
        }
        using var next = r.Boot();
        Assert.That(next.TryRestorePhys(phys, 5 * 4096), Is.False, "a different size");
        Assert.That(next.TryRestorePhys(phys, 6 * 4096), Is.True);
        Assert.That(next.PhysSpan(phys, 6 * 4096).ContainsAnyExcept((byte)0x77), Is.False);
        Assert.That(next.TryRestorePhys(phys, 6 * 4096), Is.False, "second restore");
        next.FreePhys(phys, 6 * 4096);
    }

    [Test]
    public void Released_memory_is_poisoned()
    {
        using var r = new TestRegion();
        Folio dropped;
        using (var kho = r.Boot())
        {
            dropped = kho.AllocFolio(0);
            kho.FolioSpan(dropped).Fill(0x11);
            kho.FinalizeHandover();
        }
        using var next = r.Boot();
        Assert.That(next.PhysSpan(dropped.Phys, 4096).ContainsAnyExcept(Kho.PoisonByte), Is.False);
    }

    [Test]
    public void Never_restored_blocks_are_listed_and_can_be_released()
    {
        using var r = new TestRegion();
        Folio a, b;
        using (var kho = r.Boot())
        {
            a = kho.AllocFolio(1);
            b = kho.AllocFolio(2);
            kho.PreserveFolio(a);
            kho.PreserveFolio(b);
            kho.FinalizeHandover();
        }
        using var next = r.Boot();
        next.RestoreFolio(a.Phys);
        var leaks = next.ListUnrestored();
        Assert.That(leaks, Is.EqualTo(new[] { new PreservedBlock(b.Phys, 2, false) }));
        ulong free = next.FreePages;
        Assert.That(next.ReleaseUnrestored(), Is.EqualTo(1));
        Assert.That(next.FreePages, Is.EqualTo(free + 4));
        Assert.That(next.ListUnrestored(), Is.Empty);
        Assert.That(next.TryRestoreFolio(b.Phys, out _), Is.False);
    }

    [Test]
    public void Preserved_memory_is_not_handed_out_before_it_is_restored()
    {
        using var r = new TestRegion();
        var preserved = new HashSet<ulong>();
        using (var kho = r.Boot(1 << 20))
        {
            while (kho.FreePages > 16 && kho.TryAllocFolio(0, out var f))
            {
                if (preserved.Count % 2 == 0) kho.PreserveFolio(f);
                preserved.Add(f.Phys);
            }
            kho.FinalizeHandover();
        }
        using var next = r.Boot(1 << 20);
        var leaks = next.ListUnrestored().Select(b => b.Phys).ToHashSet();
        while (next.TryAllocFolio(0, out var f)) Assert.That(leaks, Does.Not.Contain(f.Phys));
    }

    [Test]
    public void A_crash_during_boot_leaves_the_handover_for_the_next_boot()
    {
        using var r = new TestRegion();
        Folio f;
        using (var kho = r.Boot(32 << 20))
        {
            f = kho.AllocFolio(0);
            kho.FolioSpan(f).Fill(9);
            kho.PreserveFolio(f);
            kho.FinalizeHandover();
        }
        var crashed = Child.Run("kho-crash-in-boot", r.Path);
        Assert.That(crashed.ExitCode, Is.Not.Zero, crashed.ToString());
        using var next = r.Boot(32 << 20);
        Assert.That(next.IsKhoBoot, Is.True, next.BootReport);
        Assert.That(next.FolioSpan(next.RestoreFolio(f.Phys)!.Value).ContainsAnyExcept((byte)9), Is.False);
    }

    [Test]
    public void ReleaseUnrestored_counts_only_what_it_released_while_another_thread_restores()
    {
        const int Folios = 3000;
        int miscounted = 0;
        for (int round = 0; round < 10 && miscounted == 0; round++)
        {
            using var r = new TestRegion("release-count");
            var phys = new List<ulong>();
            using (var kho = r.Boot(32 << 20, poison: false))
            {
                for (int i = 0; i < Folios; i++)
                {
                    var f = kho.AllocFolio(0);
                    kho.PreserveFolio(f);
                    phys.Add(f.Phys);
                }
                kho.FinalizeHandover();
            }
            using var next = r.Boot(0, poison: false);
            int restored = 0;
            using var go = new Barrier(2);
            var restorer = new Thread(() =>
            {
                go.SignalAndWait();
                for (int i = phys.Count - 1; i >= 0; i--) // contends for the lock all through the release
                    if (next.TryRestoreFolio(phys[i], out _)) restored++;
            });
            restorer.Start();
            go.SignalAndWait();
            int released = next.ReleaseUnrestored();
            restorer.Join();
            if (released + restored != Folios) miscounted++;
        }
        Assert.That(miscounted, Is.Zero, "rounds where released + restored was not the number of preserved folios");
    }
}
