using KState.Core.Records;
using KState.TestHost.Shared;
using KState.Tests.Support;
using static KState.TestHost.Shared.InPlaceDescriptions;

namespace KState.Tests.Descriptions;

/// <summary>Preserved structs and arrays handed over in place (issue 13, item 2): the same memory, at the same phys,
/// generation after generation; converted only when the element layout changes.</summary>
public unsafe class InPlaceTests
{
    private const int N = 100;

    /// <summary>Generation 1: entries from AllocPreserve, a head folio the save preserves, saved and finalized.</summary>
    internal static (ulong Items, ulong Head) SaveFirst(TestRegion region, InPlaceIntegrity integrity, int n = N, Action<Kho, ulong>? afterFinalize = null)
    {
        using var kho = region.Boot(16 << 20);
        using var streams = new KStateStreams(kho);
        var t = NewTable(kho, n);
        new KStateRegistry(streams).Save(Table(integrity), &t, 1);
        kho.FinalizeHandover();
        ulong items = kho.DangerousVirtToPhys(t.Items.Value);
        afterFinalize?.Invoke(kho, items);
        return (items, kho.DangerousVirtToPhys(t.Head.Value));
    }

    internal static Table NewTable(Kho kho, int n)
    {
        var items = kho.AllocPreserve((ulong)(n * sizeof(Entry)));
        var t = new Table { Items = new Ptr<Entry>((Entry*)kho.DangerousFolioAddress(items)), Count = (uint)n, Generation = 1 };
        for (int i = 0; i < n; i++) t.Items.Value[i] = Expected(i, 1);
        t.Head = new Ptr<Entry>((Entry*)kho.DangerousFolioAddress(kho.AllocFolio(0)));
        *t.Head.Value = Expected(-1, 1);
        return t;
    }

    [Test]
    public void The_same_layout_is_handed_over_in_place_at_the_same_phys_for_four_generations()
    {
        using var region = new TestRegion("inplace-gens");
        var (items, head) = SaveFirst(region, InPlaceIntegrity.Checksum);
        var d = Table(InPlaceIntegrity.Checksum);
        for (int g = 2; g <= 5; g++)
        {
            using var kho = region.Boot(16 << 20);
            using var streams = new KStateStreams(kho);
            var registry = new KStateRegistry(streams);
            var t = new Table();
            registry.Restore(d, &t, 1);
            using (Assert.EnterMultipleScope())
            {
                Assert.That(kho.DangerousVirtToPhys(t.Items.Value), Is.EqualTo(items), $"generation {g}: the same entries");
                Assert.That(kho.DangerousVirtToPhys(t.Head.Value), Is.EqualTo(head), $"generation {g}: the same head");
                Assert.That((t.Count, t.Generation), Is.EqualTo(((uint)N, (uint)g - 1)));
                Assert.That(kho.CanRestoreFolio(items, out _), Is.False, "restored through KHO: owned by this generation");
                // The record holds the generation and two 64-byte places: no element byte travelled through the stream.
                Assert.That(streams.Set.Open("main").Find(d.Id, 1).Payload.Length, Is.EqualTo(4 + 2 * InPlaceRecord.Bytes));
            }
            for (int i = 0; i < N; i++)
                if (!t.Items.Value[i].Equals(Expected(i, g - 1))) Assert.Fail($"generation {g}: entry {i} differs");
            Assert.That(t.Head.Value->Equals(Expected(-1, g - 1)), Is.True);
            for (int i = 0; i < N; i++) t.Items.Value[i] = Expected(i, g);
            *t.Head.Value = Expected(-1, g);
            t.Generation = (uint)g;
            registry.Save(d, &t, 1);
            kho.FinalizeHandover();
        }
    }

    [Test]
    public void Three_processes_hand_the_same_entries_over_in_place_at_the_same_phys()
    {
        using var region = new TestRegion("inplace-procs");
        var places = new List<string>();
        for (int g = 1; g <= 3; g++)
        {
            var child = Child.Run("inplace-kstate-gen", region.Path, g.ToString(), "1000");
            Assert.That(child.ExitCode, Is.Zero, child.ToString());
            places.Add(child.Stdout.Trim());
        }
        Assert.That(places.Distinct().Count(), Is.EqualTo(1), string.Join("\n", places));

        using var kho = Kho.Init(region.Path, 64 << 20, new KhoOptions { Poison = true });
        using var streams = new KStateStreams(kho);
        var t = new Table();
        new KStateRegistry(streams).Restore(Table(InPlaceIntegrity.Checksum), &t, 1);
        Assert.That($"items=0x{kho.DangerousVirtToPhys(t.Items.Value):x} head=0x{kho.DangerousVirtToPhys(t.Head.Value):x}", Is.EqualTo(places[0]));
        for (int i = 0; i < 1000; i++)
            if (!t.Items.Value[i].Equals(Expected(i, 3))) Assert.Fail($"entry {i} differs");
    }

    [Test]
    public void A_changed_element_layout_is_converted_with_the_new_field_at_its_default_and_the_old_memory_freed()
    {
        using var region = new TestRegion("inplace-convert");
        var (items, head) = SaveFirst(region, InPlaceIntegrity.Checksum);
        ulong converted;
        using (var kho = region.Boot(16 << 20))
        using (var streams = new KStateStreams(kho))
        {
            var registry = new KStateRegistry(streams);
            var t = new TableV2();
            registry.Restore(TableV2(InPlaceIntegrity.Checksum), &t, 1);
            converted = kho.DangerousVirtToPhys(t.Items.Value);
            using (Assert.EnterMultipleScope())
            {
                Assert.That(converted, Is.Not.EqualTo(items), "new memory for the new layout");
                Assert.That(t.Count, Is.EqualTo(N));
                Assert.That(kho.CanRestoreFolio(items, out _) || kho.TryFindFolio(items, out _), Is.False, "the old entries were restored and freed");
                Assert.That(kho.CanRestoreFolio(head, out _) || kho.TryFindFolio(head, out _), Is.False, "the old head too");
                Assert.That(kho.TryFindFolio(converted, out var f) && kho.IsPreserved(f), Is.True, "the new memory is preserved for the next handover");
            }
            for (int i = 0; i < N; i++)
            {
                var e = t.Items.Value[i];
                var x = Expected(i, 1);
                if ((e.Key, e.Value, e.Flags, e.Added) != (x.Key, x.Value, x.Flags, 0UL)) Assert.Fail($"entry {i} converted wrongly");
                t.Items.Value[i].Added = (ulong)i;
            }
            Assert.That((t.Head.Value->Key, t.Head.Value->Added), Is.EqualTo((Expected(-1, 1).Key, 0UL)));
            registry.Save(TableV2(InPlaceIntegrity.Checksum), &t, 1);
            kho.FinalizeHandover();
        }

        using var next = region.Boot(16 << 20);
        using var incoming = new KStateStreams(next);
        var u = new TableV2();
        new KStateRegistry(incoming).Restore(TableV2(InPlaceIntegrity.Checksum), &u, 1);
        Assert.That(next.DangerousVirtToPhys(u.Items.Value), Is.EqualTo(converted), "converted once, then in place again");
        Assert.That(u.Items.Value[N - 1].Added, Is.EqualTo((ulong)(N - 1)));
    }

    [Test]
    public void Elements_of_a_version_outside_the_range_are_refused_and_nothing_is_claimed()
    {
        using var region = new TestRegion("inplace-version");
        var (items, head) = SaveFirst(region, InPlaceIntegrity.Checksum);
        var onlyV2 = KStateDescriptionBuilder<EntryV2>.Create(EntryName, 2, 2)
            .Base((ref EntryV2 e) => ref e.Key).Base((ref EntryV2 e) => ref e.Value).Base((ref EntryV2 e) => ref e.Flags).Base((ref EntryV2 e) => ref e.Added, versionId: 2)
            .Build();
        var d = KStateDescriptionBuilder<TableV2>.Create(TableName, 1, 1)
            .Base((ref TableV2 t) => ref t.Generation)
            .PreservedArray((ref TableV2 t) => ref t.Items, onlyV2, (ref TableV2 t) => ref t.Count)
            .PreservedStruct((ref TableV2 t) => ref t.Head, onlyV2)
            .Build();
        using var kho = region.Boot(16 << 20);
        using var streams = new KStateStreams(kho);
        var t = new TableV2();
        nint p = (nint)(&t);
        Assert.Throws<KStateVersionException>(() => new KStateRegistry(streams).Restore(d, (void*)p, 1));
        Assert.That(kho.CanRestoreFolio(items, out _) && kho.CanRestoreFolio(head, out _), Is.True, "nothing claimed");
    }

    [Test]
    public void In_place_memory_cannot_be_restored_twice()
    {
        using var region = new TestRegion("inplace-twice");
        SaveFirst(region, InPlaceIntegrity.Trusted);
        using var kho = region.Boot(16 << 20);
        using var streams = new KStateStreams(kho);
        var registry = new KStateRegistry(streams);
        var d = Table(InPlaceIntegrity.Trusted);
        var first = new Table();
        registry.Restore(d, &first, 1);
        var second = new Table();
        nint p = (nint)(&second);
        var e = Assert.Throws<KStateCorruptException>(() => registry.Restore(d, (void*)p, 1));
        Assert.That(e!.Message, Does.Contain("claimed twice"));
        Assert.That(second.Items.IsNull, Is.True, "the second object is untouched");
    }

    [TestCase(InPlaceIntegrity.Checksum)]
    [TestCase(InPlaceIntegrity.Trusted)]
    public void Damaged_contents_are_refused_with_a_checksum_and_not_checked_when_trusted(InPlaceIntegrity integrity)
    {
        using var region = new TestRegion("inplace-sum");
        var (items, _) = SaveFirst(region, integrity, afterFinalize: (kho, phys) => kho.PhysSpan(phys, 1)[0] ^= 0xFF);
        using var next = region.Boot(16 << 20);
        using var streams = new KStateStreams(next);
        var t = new Table();
        nint p = (nint)(&t);
        var d = Table(integrity);
        if (integrity == InPlaceIntegrity.Checksum)
        {
            var e = Assert.Throws<KStateCorruptException>(() => new KStateRegistry(streams).Restore(d, (void*)p, 1));
            Assert.That(e!.Message, Does.Contain("checksum"));
            Assert.That(next.CanRestoreFolio(items, out _), Is.True, "nothing claimed");
        }
        else
        {
            new KStateRegistry(streams).Restore(d, &t, 1);
            Assert.That(t.Items.Value[0].Key, Is.EqualTo(Expected(0, 1).Key ^ 0xFF), "trusted: the data is handed over as it is");
        }
    }

    [Test]
    public void Null_members_restore_as_null_with_a_zero_count()
    {
        using var region = new TestRegion("inplace-null");
        var d = Table(InPlaceIntegrity.Checksum);
        using (var kho = region.Boot())
        using (var streams = new KStateStreams(kho))
        {
            var t = new Table { Generation = 9 };
            new KStateRegistry(streams).Save(d, &t, 1);
            kho.FinalizeHandover();
        }
        using var next = region.Boot();
        using var incoming = new KStateStreams(next);
        var u = new Table { Count = 5, Items = new Ptr<Entry>((Entry*)8), Head = new Ptr<Entry>((Entry*)8) };
        new KStateRegistry(incoming).Restore(d, &u, 1);
        Assert.That((u.Items.IsNull, u.Head.IsNull, u.Count, u.Generation), Is.EqualTo((true, true, 0u, 9u)));
    }
}
