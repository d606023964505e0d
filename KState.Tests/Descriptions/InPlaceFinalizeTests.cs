using System.Runtime.InteropServices;
using KState.TestHost.Shared;
using KState.Tests.Support;
using static KState.TestHost.Shared.InPlaceDescriptions;

namespace KState.Tests.Descriptions;

/// <summary>In-place memory and the finalize that saves it: an abort takes back what the finalize preserved (vmalloc
/// areas too), and one block may be held by one object of a handover only.</summary>
public unsafe class InPlaceFinalizeTests
{
    private static Table* NewTable(Entry* items, uint count)
    {
        var t = (Table*)NativeMemory.AllocZeroed((nuint)sizeof(Table));
        t->Items = new Ptr<Entry>(items);
        t->Count = count;
        return t;
    }

    [Test]
    public void An_aborted_finalize_takes_back_the_vmalloc_area_it_preserved()
    {
        using var region = new TestRegion("inplace-abort");
        using var kho = region.Boot(16 << 20);
        using var streams = new KStateStreams(kho);
        var registry = new KStateRegistry(streams);
        var area = kho.Vmalloc(16 * 10);
        var folio = kho.AllocFolio(0);
        var t = NewTable((Entry*)area.Address, 10);
        t->Head = new Ptr<Entry>((Entry*)kho.DangerousFolioAddress(folio));
        try
        {
            registry.Register(Table(InPlaceIntegrity.Checksum), t, 1);
            kho.FinalizeHandover();
            kho.AbortHandover();
            Assert.That(kho.IsPreserved(folio), Is.False, "the head folio the finalize preserved");
            Assert.DoesNotThrow(() => kho.Vfree(area), "the area the finalize preserved is the program's again");
        }
        finally
        {
            NativeMemory.Free(t);
        }
    }

    [Test]
    public void A_block_held_by_two_objects_of_one_handover_is_refused_at_finalize_and_nothing_stays_preserved()
    {
        using var region = new TestRegion("inplace-shared");
        using var kho = region.Boot(16 << 20);
        using var streams = new KStateStreams(kho);
        var registry = new KStateRegistry(streams);
        var shared = kho.AllocFolio(0);
        var items = (Entry*)kho.DangerousFolioAddress(shared);
        var a = NewTable(items, 10);
        var b = NewTable(items, 10);
        try
        {
            var d = KStateDescriptionBuilder<Table>.Create(TableName, 1, 1)
                .PreservedArray((ref Table x) => ref x.Items, EntryV1, (ref Table x) => ref x.Count)
                .Build();
            registry.Register(d, a, 1);
            registry.Register(d, b, 2);
            var e = Assert.Throws<KStateInvalidException>(() => kho.FinalizeHandover());
            Assert.That(e!.Message, Does.Contain("already held by another object"));
            Assert.That(kho.IsFinalized, Is.False);
            Assert.That(kho.IsPreserved(shared), Is.False, "the failed finalize took its preservation back");
            registry.Unregister(d, b, 2);
            kho.FinalizeHandover(); // one holder: fine
        }
        finally
        {
            NativeMemory.Free(a);
            NativeMemory.Free(b);
        }
    }

    private static Kho? s_kho;
    private static ulong s_steal;

    private static readonly KStateDescription Stealing = KStateDescriptionBuilder<Table>.Create(TableName, 1, 1)
        .Base((ref Table t) => ref t.Generation)
        .PreservedArray((ref Table t) => ref t.Items, EntryV1, (ref Table t) => ref t.Count)
        .PreservedStruct((ref Table t) => ref t.Head, EntryV1)
        .PostLoad((ref Table _, int _) =>
        {
            if (s_steal != 0) s_kho!.TryRestoreFolio(s_steal, out _); // someone else takes one folio first
            s_steal = 0;
            return 0;
        })
        .Build();

    [Test]
    public void A_restore_that_loses_one_folio_to_someone_else_claims_none_of_the_others()
    {
        using var region = new TestRegion("inplace-claims");
        var (items, head) = InPlaceTests.SaveFirst(region, InPlaceIntegrity.Checksum);
        using var kho = region.Boot(16 << 20);
        using var streams = new KStateStreams(kho);
        var registry = new KStateRegistry(streams);
        s_kho = kho;
        s_steal = head;
        var t = NewTable(null, 0);
        try
        {
            Assert.Throws<KStateCorruptException>(() => registry.Restore(Stealing, t, 1));
            using (Assert.EnterMultipleScope())
            {
                Assert.That(kho.CanRestoreFolio(items, out _), Is.True, "the entries were not claimed by the failed restore");
                Assert.That(t->Items.Value == null, Is.True, "the object is as it was");
            }
        }
        finally
        {
            NativeMemory.Free(t);
        }
    }

    [Test]
    public void An_area_the_program_preserved_itself_is_recorded_by_a_preserved_field_and_restored_in_place()
    {
        using var region = new TestRegion("inplace-own");
        var d = KStateDescriptionBuilder<Table>.Create(TableName, 1, 1)
            .PreservedArray((ref Table x) => ref x.Items, EntryV1, (ref Table x) => ref x.Count)
            .Build();
        ulong first;
        using (var kho = region.Boot(16 << 20))
        using (var streams = new KStateStreams(kho))
        {
            var area = kho.Vmalloc(16 * 10);
            for (int i = 0; i < 10; i++) ((Entry*)area.Address)[i] = Expected(i, 1);
            Assert.That(area.Preservation, Is.Null);
            var record = kho.PreserveVmalloc(area);
            Assert.That(area.Preservation, Is.EqualTo(record));
            var t = new Table { Items = new Ptr<Entry>((Entry*)area.Address), Count = 10 };
            new KStateRegistry(streams).Save(d, &t, 1);
            Assert.That(area.Preservation, Is.EqualTo(record), "recorded as it is, not preserved twice");
            first = area.Frames[0];
            kho.FinalizeHandover();
        }
        using var next = region.Boot(16 << 20);
        using var s2 = new KStateStreams(next);
        var back = new Table();
        new KStateRegistry(s2).Restore(d, &back, 1);
        Assert.That(next.DangerousVirtToPhys(back.Items.Value), Is.EqualTo(first), "the same frames");
        for (int i = 0; i < 10; i++)
            if (!back.Items.Value[i].Equals(Expected(i, 1))) Assert.Fail($"entry {i} differs");
    }

    [Test]
    public void Unpreserving_an_area_clears_its_record()
    {
        using var region = new TestRegion("inplace-unrec");
        using var kho = region.Boot(16 << 20);
        var area = kho.Vmalloc(3 * 4096);
        var record = kho.PreserveVmalloc(area);
        kho.UnpreserveVmalloc(record);
        Assert.That(area.Preservation, Is.Null);
        Assert.DoesNotThrow(() => kho.Vfree(area));
    }
}
