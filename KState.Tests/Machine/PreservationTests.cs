using KState;
using KState.Tests.Support;

namespace KState.Tests.Machine;

public class PreservationTests
{
    [Test]
    public void Preserve_and_unpreserve_a_folio()
    {
        using var r = new TestRegion();
        using var kho = r.Boot(1 << 20);
        var f = kho.AllocFolio(2);
        kho.PreserveFolio(f);
        Assert.That(kho.IsPreserved(f), Is.True);
        Assert.Throws<KStateExistsException>(() => kho.PreserveFolio(f));
        kho.UnpreserveFolio(f);
        Assert.That(kho.IsPreserved(f), Is.False);
        Assert.Throws<KStateNotFoundException>(() => kho.UnpreserveFolio(f));
    }

    [Test]
    public void Only_allocated_folios_of_the_right_order_can_be_preserved()
    {
        using var r = new TestRegion();
        using var kho = r.Boot(1 << 20);
        var f = kho.AllocFolio(2);
        Assert.Throws<KStateInvalidException>(() => kho.PreserveFolio(new Folio(f.Phys, 1)));
        Assert.Throws<KStateInvalidException>(() => kho.PreserveFolio(new Folio(f.Phys + 4096, 0)));
        Assert.Throws<KStateInvalidException>(() => kho.PreserveFolio(new Folio(Kho.PhysBase, 0)), "metadata");
        Assert.Throws<KStateInvalidException>(() => kho.PreserveFolio(new Folio(f.Phys + 1, 0)));
        kho.PutFolio(f);
        Assert.Throws<KStateInvalidException>(() => kho.PreserveFolio(f), "freed");
    }

    [Test]
    public void A_range_is_split_into_aligned_blocks_and_unpreserve_mirrors_it()
    {
        using var r = new TestRegion();
        using var kho = r.Boot(4 << 20);
        var big = kho.AllocFolio(4);
        ulong phys = big.Phys + 3 * 4096; // pages 3..13: 1 + 4 + 4 + 2 pages
        kho.PreservePhys(phys, 11 * 4096);
        Assert.Throws<KStateExistsException>(() => kho.PreservePhys(phys + 4096, 4096));
        Assert.Throws<KStateNotFoundException>(() => kho.UnpreservePhys(phys, 10 * 4096), "another split");
        Assert.Throws<KStateNotFoundException>(() => kho.UnpreserveFolio(big));
        Assert.Throws<KStateExistsException>(() => kho.PreserveFolio(big), "the folio overlaps the range");
        kho.UnpreservePhys(phys, 11 * 4096);
        kho.PreserveFolio(big); // nothing of the range is left behind
    }

    [Test]
    public void Bad_ranges_are_invalid()
    {
        using var r = new TestRegion();
        using var kho = r.Boot(1 << 20);
        var f = kho.AllocFolio(1);
        Assert.Throws<KStateInvalidException>(() => kho.PreservePhys(f.Phys + 1, 4096));
        Assert.Throws<KStateInvalidException>(() => kho.PreservePhys(f.Phys, 100));
        Assert.Throws<KStateInvalidException>(() => kho.PreservePhys(f.Phys, 0));
        Assert.Throws<KStateInvalidException>(() => kho.PreservePhys(f.Phys, 4 * 4096), "runs into unallocated memory");
        Assert.Throws<KStateInvalidException>(() => kho.PreservePhys(Kho.PhysBase + kho.RegionSize, 4096));
        Assert.Throws<KStateInvalidException>(() => kho.PreservePhys(Kho.PhysBase, 4096), "metadata");
    }

    [Test]
    public void Preserving_is_busy_after_finalize_until_abort()
    {
        using var r = new TestRegion();
        using var kho = r.Boot(1 << 20);
        var f = kho.AllocFolio(0);
        var g = kho.AllocFolio(0);
        kho.PreserveFolio(f);
        kho.FinalizeHandover();
        Assert.Throws<KStateBusyException>(() => kho.PreserveFolio(g));
        Assert.Throws<KStateBusyException>(() => kho.UnpreserveFolio(f));
        Assert.Throws<KStateBusyException>(() => kho.PreservePhys(g.Phys, 4096));
        Assert.Throws<KStateBusyException>(() => kho.AddSubtree("late", [1]));
        Assert.Throws<KStateBusyException>(kho.FinalizeHandover);
        kho.AbortHandover();
        Assert.Throws<KStateInvalidException>(kho.AbortHandover);
        kho.PreserveFolio(g);
        kho.UnpreserveFolio(f);
    }
}
