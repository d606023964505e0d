using KState.Tests.Support;

namespace KState.Tests.Machine;

/// <summary>
/// Both generations alive at once: once the predecessor has finalized and let go, the successor owns the region.
/// The predecessor can no longer write into it, preserve, allocate or boot it again: each is an error, and the
/// successor's memory stays as the handover left it.
/// </summary>
[NonParallelizable]
public class SuccessorOverlapTests
{
    [Test]
    public unsafe void A_predecessor_that_let_go_cannot_write_preserve_allocate_or_boot_while_its_successor_runs()
    {
        using var r = new TestRegion("overlap");
        var old = r.Boot(4 << 20);
        var folio = old.AllocFolio(1);
        old.FolioSpan(folio).Fill(0x3C);
        old.PreserveFolio(folio);
        var spare = old.AllocFolio(0);
        old.FinalizeHandover();
        var successor = Task.Run(() => Kho.InitWait(r.Path, 0, TimeSpan.FromSeconds(60)));
        old.Dispose(); // the let-go
        using var kho = successor.GetAwaiter().GetResult();
        Assert.That(kho.TryRestoreFolio(folio.Phys, out var restored), Is.True, kho.BootReport);
        using (Assert.EnterMultipleScope())
        {
            Assert.That(() => old.FolioSpan(folio), Throws.TypeOf<ObjectDisposedException>(), "writing the handed-over folio");
            Assert.That(() => old.PhysSpan(spare.Phys, 4096), Throws.TypeOf<ObjectDisposedException>(), "writing memory it had allocated");
            Assert.That(() => old.DangerousFolioAddress(folio), Throws.TypeOf<ObjectDisposedException>(), "taking a raw pointer");
            Assert.That(() => old.PreserveFolio(spare), Throws.TypeOf<ObjectDisposedException>());
            Assert.That(() => old.AllocFolio(0), Throws.TypeOf<ObjectDisposedException>());
            Assert.That(() => old.FinalizeHandover(), Throws.TypeOf<ObjectDisposedException>());
            Assert.That(() => Kho.Init(r.Path, 0), Throws.TypeOf<KStateBusyException>(), "booting the region again");
            Assert.That(kho.FolioSpan(restored).ContainsAnyExcept((byte)0x3C), Is.False, "the successor's folio as handed over");
        }
    }

    [Test]
    public void A_finalized_predecessor_that_has_not_let_go_keeps_its_successor_waiting_and_cannot_preserve_more()
    {
        using var r = new TestRegion("overlap-finalized");
        var old = r.Boot(4 << 20);
        var extra = old.AllocFolio(0);
        old.FinalizeHandover();
        try
        {
            using (Assert.EnterMultipleScope())
            {
                Assert.That(() => old.PreserveFolio(extra), Throws.TypeOf<KStateBusyException>());
                Assert.That(() => Kho.InitWait(r.Path, 0, TimeSpan.Zero), Throws.TypeOf<KStateTimeoutException>(), "no successor boots before the let-go");
            }
        }
        finally
        {
            old.Dispose();
        }
        using var kho = Kho.InitWait(r.Path, 0, TimeSpan.Zero);
        Assert.That(kho.IsKhoBoot, Is.True, kho.BootReport);
        Assert.That(kho.TryRestoreFolio(extra.Phys, out _), Is.False, "what was not preserved is not handed over");
    }
}
