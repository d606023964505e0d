using KState;
using KState.Tests.Support;

namespace KState.Tests.Machine;

public class MemoryTests
{
    [Test]
    public void Folios_of_every_order_are_naturally_aligned_zeroed_and_distinct()
    {
        using var r = new TestRegion();
        using var kho = r.Boot(32 << 20);
        var seen = new List<Folio>();
        for (int order = 0; order <= Kho.MaxOrder; order++)
        {
            var f = kho.AllocFolio(order);
            var span = kho.FolioSpan(f);
            using (Assert.EnterMultipleScope())
            {
                Assert.That(f.Order, Is.EqualTo(order));
                Assert.That((f.Phys - Kho.PhysBase) % f.Size, Is.Zero, "natural alignment");
                Assert.That(span.Length, Is.EqualTo(4096 << order));
                Assert.That(span.ContainsAnyExcept((byte)0), Is.False, "zeroed");
                Assert.That(f.Phys, Is.GreaterThanOrEqualTo(kho.DataRange.Start));
            }
            span.Fill(0xEE);
            seen.Add(f);
        }
        foreach (var a in seen)
            foreach (var b in seen)
                if (a != b) Assert.That(a.Phys + a.Size <= b.Phys || b.Phys + b.Size <= a.Phys, Is.True, $"{a} overlaps {b}");
    }

    [Test]
    public void Freed_memory_is_zeroed_again_when_reallocated()
    {
        using var r = new TestRegion();
        using var kho = r.Boot(1 << 20);
        var f = kho.AllocFolio(2);
        kho.FolioSpan(f).Fill(0x11);
        kho.PutFolio(f);
        var g = kho.AllocFolio(2);
        Assert.That(kho.FolioSpan(g).ContainsAnyExcept((byte)0), Is.False);
    }

    [Test]
    public void Running_out_is_a_clear_error_and_freeing_makes_memory_usable_again()
    {
        using var r = new TestRegion();
        using var kho = r.Boot(1 << 20);
        ulong free = kho.FreePages;
        var all = new List<Folio>();
        while (kho.TryAllocFolio(0, out var f)) all.Add(f);
        Assert.That((ulong)all.Count, Is.EqualTo(free));
        var e = Assert.Throws<KStateOutOfMemoryException>(() => kho.AllocFolio(0));
        Assert.That(e!.Message, Does.Contain("no free folio"));
        foreach (var f in all) kho.PutFolio(f);
        Assert.That(kho.FreePages, Is.EqualTo(free));
        // Buddies merged back: a larger folio is available again.
        Assert.That(kho.TryAllocFolio(3, out _), Is.True);
    }

    [Test]
    public void Bad_orders_double_frees_and_wrong_orders_are_invalid()
    {
        using var r = new TestRegion();
        using var kho = r.Boot(1 << 20);
        Assert.Throws<KStateInvalidException>(() => kho.AllocFolio(-1));
        Assert.Throws<KStateInvalidException>(() => kho.AllocFolio(Kho.MaxOrder + 1));
        var f = kho.AllocFolio(1);
        Assert.Throws<KStateInvalidException>(() => kho.PutFolio(new Folio(f.Phys, 0)));
        kho.PutFolio(f);
        Assert.Throws<KStateInvalidException>(() => kho.PutFolio(f));
        Assert.Throws<KStateInvalidException>(() => kho.PutFolio(new Folio(12345, 0)));
    }

    [Test]
    public void A_preserved_folio_cannot_be_freed()
    {
        using var r = new TestRegion();
        using var kho = r.Boot(1 << 20);
        var f = kho.AllocFolio(0);
        kho.PreserveFolio(f);
        Assert.Throws<KStateBusyException>(() => kho.PutFolio(f));
        kho.UnpreserveFolio(f);
        kho.PutFolio(f);
    }

    [Test]
    public void Scratch_folios_come_from_scratch_and_cannot_be_preserved()
    {
        using var r = new TestRegion();
        using var kho = r.Boot(4 << 20);
        var s = kho.AllocScratchFolio(0);
        var (phys, size) = kho.Scratch;
        Assert.That(s.Phys, Is.InRange(phys, phys + size - 4096));
        var e = Assert.Throws<KStateInvalidException>(() => kho.PreserveFolio(s));
        Assert.That(e!.Message, Does.Contain("scratch"));
        Assert.Throws<KStateInvalidException>(() => kho.PreservePhys(phys, 4096));
        kho.PutFolio(s);
    }

    [Test]
    public void Folio_handles_round_trip()
    {
        var f = new Folio(Kho.PhysBase + 0x40000, 6);
        Assert.That(Folio.FromHandle(f.Handle), Is.EqualTo(f));
    }

    [Test]
    public void A_folio_order_above_MaxOrder_is_refused_at_construction_and_on_every_use()
    {
        Assert.Throws<KStateInvalidException>(() => new Folio(Kho.PhysBase, Kho.MaxOrder + 1));
        Assert.Throws<KStateInvalidException>(() => new Folio(Kho.PhysBase, 4095));
        using var r = new TestRegion("order");
        using var kho = r.Boot();
        var f = kho.AllocFolio(0);
        // Order 64 shifts like order 0 (shifts are taken mod 64): a handle from C must not pass for the folio.
        var wrapped = Folio.FromHandle(f.Phys | 64);
        using (Assert.EnterMultipleScope())
        {
            Assert.Throws<KStateInvalidException>(() => kho.PreserveFolio(wrapped));
            Assert.Throws<KStateInvalidException>(() => kho.PutFolio(wrapped));
            Assert.Throws<KStateInvalidException>(() => kho.FolioSpan(wrapped));
            Assert.That(kho.IsPreserved(wrapped), Is.False);
        }
        kho.PutFolio(f);
    }
}
