using KState;
using KState.Tests.Support;

namespace KState.Tests.Machine;

/// <summary>Runs of pages and allocate-and-preserve (kho_preserve_pages, kho_alloc_preserve and their kin) in one process
/// booted twice.</summary>
public class InPlacePagesTests
{
    [Test]
    public void A_run_of_any_length_is_restored_as_exactly_that_run_once()
    {
        using var r = new TestRegion("pages");
        ulong phys;
        using (var kho = r.Boot(4 << 20))
        {
            var big = kho.AllocFolio(4);
            phys = big.Phys + 3 * 4096; // 11 pages, not a power of two, not aligned
            kho.PhysSpan(phys, 11 * 4096).Fill(0x5C);
            kho.PreservePages(phys, 11);
            Assert.Throws<KStateExistsException>(() => kho.PreservePages(phys + 4096, 1));
            kho.FinalizeHandover();
        }
        using (var kho = r.Boot(0))
        {
            using (Assert.EnterMultipleScope())
            {
                Assert.That(kho.TryRestorePages(phys, 10), Is.False, "shorter");
                Assert.That(kho.TryRestorePages(phys, 12), Is.False, "longer");
                Assert.That(kho.TryRestorePages(phys + 4096, 10), Is.False, "shifted");
                Assert.That(kho.TryRestorePages(phys, 0), Is.False, "empty");
                Assert.That(kho.TryRestoreFolio(phys, out _), Is.False, "a run is not a folio");
            }
            Assert.That(kho.TryRestorePages(phys, 11), Is.True);
            Assert.That(kho.TryRestorePages(phys, 11), Is.False, "restored twice");
            Assert.That(kho.PhysSpan(phys, 11 * 4096).ContainsAnyExcept((byte)0x5C), Is.False);
            Assert.That(kho.ListUnrestored(), Is.Empty);
        }
    }

    [Test]
    public void Unpreserve_pages_needs_the_same_run()
    {
        using var r = new TestRegion("pages-un");
        using var kho = r.Boot(4 << 20);
        var big = kho.AllocFolio(3);
        kho.PreservePages(big.Phys + 4096, 5);
        Assert.Throws<KStateNotFoundException>(() => kho.UnpreservePages(big.Phys + 4096, 4));
        Assert.Throws<KStateNotFoundException>(() => kho.UnpreservePages(big.Phys, 6));
        Assert.Throws<KStateInvalidException>(() => kho.UnpreservePages(big.Phys + 1, 5));
        kho.UnpreservePages(big.Phys + 4096, 5);
        kho.PreserveFolio(big); // nothing of the run is left behind
    }

    [Test]
    public void Bad_runs_are_refused()
    {
        using var r = new TestRegion("pages-bad");
        using var kho = r.Boot(1 << 20);
        var f = kho.AllocFolio(1);
        Assert.Throws<KStateInvalidException>(() => kho.PreservePages(f.Phys, 0), "no pages");
        Assert.Throws<KStateInvalidException>(() => kho.PreservePages(f.Phys + 1, 1), "unaligned");
        Assert.Throws<KStateInvalidException>(() => kho.PreservePages(f.Phys, 3), "past the allocated block");
        Assert.Throws<KStateInvalidException>(() => kho.PreservePages(kho.Scratch.Phys, 1), "scratch");
        Assert.Throws<KStateInvalidException>(() => kho.PreservePages(Kho.PhysBase, 1), "metadata");
        Assert.Throws<KStateInvalidException>(() => kho.PreservePages(kho.DataRange.End - 4096, 2), "past the region");
    }

    [Test]
    public void Alloc_preserve_rounds_up_to_a_zeroed_preserved_folio()
    {
        using var r = new TestRegion("allocp");
        using var kho = r.Boot(4 << 20);
        var f = kho.AllocPreserve(5 * 4096 + 1);
        using (Assert.EnterMultipleScope())
        {
            Assert.That(f.Order, Is.EqualTo(3));
            Assert.That(kho.IsPreserved(f), Is.True);
            Assert.That(kho.FolioSpan(f).ContainsAnyExcept((byte)0), Is.False);
            Assert.That(kho.AllocPreserve(1).Order, Is.Zero);
            Assert.That(kho.AllocPreserve(4096).Order, Is.Zero);
            Assert.That(kho.AllocPreserve(4097).Order, Is.EqualTo(1));
        }
        Assert.Throws<KStateInvalidException>(() => kho.AllocPreserve(0));
        Assert.Throws<KStateInvalidException>(() => kho.AllocPreserve(((ulong)Kho.PageSize << Kho.MaxOrder) + 1));
        Assert.Throws<KStateBusyException>(() => kho.PutFolio(f), "preserved memory cannot be freed");
        ulong free = kho.FreePages;
        kho.UnpreserveFree(f);
        Assert.That(kho.FreePages, Is.EqualTo(free + 8));
        Assert.Throws<KStateNotFoundException>(() => kho.UnpreserveFree(f), "twice");
    }

    [Test]
    public void Alloc_preserve_after_finalize_leaves_nothing_allocated()
    {
        using var r = new TestRegion("allocp-fin");
        using var kho = r.Boot(4 << 20);
        kho.FinalizeHandover();
        ulong free = kho.FreePages;
        Assert.Throws<KStateBusyException>(() => kho.AllocPreserve(4096));
        Assert.That(kho.FreePages, Is.EqualTo(free));
    }

    [Test]
    public void Restore_free_gives_back_a_preserved_folio_once()
    {
        using var r = new TestRegion("restfree");
        ulong kept, dropped;
        using (var kho = r.Boot(4 << 20))
        {
            kept = kho.AllocPreserve(3 * 4096).Phys;
            dropped = kho.AllocPreserve(4096).Phys;
            kho.FinalizeHandover();
        }
        using (var kho = r.Boot(0))
        {
            ulong free = kho.FreePages;
            kho.RestoreFree(dropped);
            Assert.That(kho.FreePages, Is.EqualTo(free + 1));
            Assert.Throws<KStateNotFoundException>(() => kho.RestoreFree(dropped), "twice");
            Assert.Throws<KStateNotFoundException>(() => kho.RestoreFree(kept + 4096), "not a folio's first page");
            Assert.That(kho.TryRestoreFolio(kept, out var f), Is.True);
            Assert.That(f.Order, Is.EqualTo(2));
        }
    }

    [Test]
    public void Find_folio_names_the_allocated_block_at_or_around_a_phys()
    {
        using var r = new TestRegion("find");
        using var kho = r.Boot(4 << 20);
        var f = kho.AllocFolio(3);
        var s = kho.AllocScratchFolio(0);
        using (Assert.EnterMultipleScope())
        {
            Assert.That(kho.TryFindFolio(f.Phys, out var found) ? found : default, Is.EqualTo(f));
            Assert.That(kho.TryFindFolio(f.Phys + 4096, out _), Is.False, "inside, not at the start");
            Assert.That(kho.TryFindFolioContaining(f.Phys + 5 * 4096 + 17, out var around) ? around : default, Is.EqualTo(f));
            Assert.That(kho.TryFindFolio(s.Phys, out var sf) ? sf : default, Is.EqualTo(s));
            Assert.That(kho.TryFindFolio(f.Phys + 1, out _), Is.False, "unaligned");
            Assert.That(kho.TryFindFolio(0, out _), Is.False);
            Assert.That(kho.TryFindFolioContaining(kho.DataRange.End, out _), Is.False, "past the region");
        }
        kho.PutFolio(f);
        Assert.That(kho.TryFindFolio(f.Phys, out _), Is.False, "freed");
        Assert.That(kho.TryFindFolioContaining(f.Phys + 4096, out _), Is.False, "freed");
    }
}
