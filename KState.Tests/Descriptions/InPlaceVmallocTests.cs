using System.Buffers.Binary;
using KState.Core.Records;
using KState.TestHost.Shared;
using KState.Tests.Support;
using static KState.TestHost.Shared.InPlaceDescriptions;

namespace KState.Tests.Descriptions;

/// <summary>Preserved arrays in kho_vmalloc memory (scattered frames, one mapped range), handed over in place.</summary>
public unsafe class InPlaceVmallocTests
{
    private const int N = 600_000; // 9.6 MB of entries: more than the largest folio
    private const ulong Region = 64 << 20;

    private static bool s_failPostLoad;

    private static readonly KStateDescription Refusing = KStateDescriptionBuilder<Table>.Create(TableName, 1, 1)
        .Base((ref Table t) => ref t.Generation)
        .PreservedArray((ref Table t) => ref t.Items, EntryV1, (ref Table t) => ref t.Count)
        .PreservedStruct((ref Table t) => ref t.Head, EntryV1)
        .PostLoad((ref Table _, int _) => s_failPostLoad ? -1 : 0)
        .Build();

    /// <summary>Generation 1: the entries in a vmalloc area (preserved by the save), the head from AllocPreserve.</summary>
    private static ulong SaveFirst(TestRegion region, KStateDescription d, int n = N, Action<Kho, Table>? afterFinalize = null, Action<RecordWriter, byte[]>? more = null)
    {
        using var kho = region.Boot(Region);
        using var streams = new KStateStreams(kho);
        var area = kho.Vmalloc((ulong)n * 16);
        var t = new Table { Items = new Ptr<Entry>((Entry*)area.Address), Count = (uint)n, Generation = 1 };
        for (int i = 0; i < n; i++) t.Items.Value[i] = Expected(i, 1);
        t.Head = new Ptr<Entry>((Entry*)kho.DangerousFolioAddress(kho.AllocPreserve(16)));
        var w = streams.Set.GetOrCreate("main");
        d.Save(w, (byte*)&t, 1, kho);
        if (more is not null)
        {
            using var mem = new BufferSegmentMemory(1 << 20);
            var scratch = new RecordWriter(mem, "scratch");
            d.Save(scratch, (byte*)&t, 1, kho); // the same area: recorded again, not preserved twice
            var info = scratch.Complete();
            more(w, RecordReader.Open(mem, info.FirstSegment, "scratch").Find(d.Id, 1).Payload.ToArray());
        }
        KStateSchema.Of([d]).WriteTo(w);
        kho.FinalizeHandover();
        afterFinalize?.Invoke(kho, t);
        return area.Frames[0];
    }

    private static Exception? RestoreOf(Kho kho, KStateStreams streams, KStateDescription d, ulong instance, out Table t)
    {
        t = new Table();
        try
        {
            fixed (Table* p = &t) new KStateRegistry(streams).Restore(d, p, instance);
            return null;
        }
        catch (Exception e)
        {
            return e;
        }
    }

    [Test]
    public void An_array_larger_than_a_folio_is_handed_over_in_place_at_the_same_frames_for_four_generations()
    {
        using var region = new TestRegion("inplace-vm-gens");
        var d = Table(InPlaceIntegrity.Trusted);
        ulong first = SaveFirst(region, d);
        for (int g = 2; g <= 5; g++)
        {
            using var kho = region.Boot(Region);
            using var streams = new KStateStreams(kho);
            Assert.That(RestoreOf(kho, streams, d, 1, out var t), Is.Null);
            Assert.That(kho.TryFindVmalloc((nint)t.Items.Value, out var area) && area.Address == (nint)t.Items.Value, Is.True, "a vmalloc area again");
            Assert.That(area!.Frames[0], Is.EqualTo(first), $"generation {g}: the same frames");
            Assert.That(streams.Set.Open("main").Find(d.Id, 1).Payload.Length, Is.EqualTo(4 + 2 * InPlaceRecord.Bytes), "no element in the stream");
            for (int i = 0; i < N; i += 997)
                if (!t.Items.Value[i].Equals(Expected(i, g - 1))) Assert.Fail($"generation {g}: entry {i} differs");
            for (int i = 0; i < N; i++) t.Items.Value[i].Value = Expected(i, g).Value;
            for (int i = 0; i < N; i++) t.Items.Value[i].Flags = (uint)g;
            t.Generation = (uint)g;
            new KStateRegistry(streams).Save(d, &t, 1);
            kho.FinalizeHandover();
        }
    }

    [Test]
    public void A_changed_layout_in_a_vmalloc_area_is_converted_into_a_new_area_and_the_old_one_freed()
    {
        using var region = new TestRegion("inplace-vm-convert");
        ulong first = SaveFirst(region, Table(InPlaceIntegrity.Checksum), n: 100_000);
        using var kho = region.Boot(Region);
        using var streams = new KStateStreams(kho);
        var t = new TableV2();
        new KStateRegistry(streams).Restore(TableV2(InPlaceIntegrity.Checksum), &t, 1);
        using (Assert.EnterMultipleScope())
        {
            Assert.That(kho.TryFindVmalloc((nint)t.Items.Value, out var area), Is.True, "converted into vmalloc memory");
            Assert.That(area!.Frames[0], Is.Not.EqualTo(first));
            Assert.That(kho.TryFindFolio(first, out _) || kho.CanRestoreFolio(first, out _), Is.False, "the old area was restored and freed");
            Assert.That(t.Count, Is.EqualTo(100_000));
        }
        for (int i = 0; i < 100_000; i++)
        {
            var x = Expected(i, 1);
            var e = t.Items.Value[i];
            if ((e.Key, e.Value, e.Flags, e.Added) != (x.Key, x.Value, x.Flags, 0UL)) Assert.Fail($"entry {i} converted wrongly");
        }
    }

    [TestCase(InPlaceIntegrity.Checksum)]
    [TestCase(InPlaceIntegrity.Trusted)]
    public void Damaged_contents_of_an_area_are_refused_with_a_checksum_and_handed_over_when_trusted(InPlaceIntegrity integrity)
    {
        using var region = new TestRegion("inplace-vm-sum");
        var d = Table(integrity);
        SaveFirst(region, d, n: 50_000, afterFinalize: (_, t) => t.Items.Value[49_999].Value ^= 1);
        using var kho = region.Boot(Region);
        using var streams = new KStateStreams(kho);
        var e = RestoreOf(kho, streams, d, 1, out var restored);
        if (integrity == InPlaceIntegrity.Trusted)
        {
            Assert.That(e, Is.Null);
            Assert.That(restored.Items.Value[49_999].Value, Is.EqualTo(Expected(49_999, 1).Value ^ 1));
            return;
        }
        Assert.That(e, Is.TypeOf<KStateCorruptException>().With.Message.Contains("checksum"));
        Assert.That(RestoreOf(kho, streams, d, 1, out _), Is.TypeOf<KStateCorruptException>().With.Message.Contains("checksum"), "a retry finds the same damage");
    }

    [Test]
    public void A_restore_whose_post_load_fails_can_be_retried_and_a_second_restore_is_refused()
    {
        using var region = new TestRegion("inplace-vm-retry");
        SaveFirst(region, Refusing, n: 1000);
        using var kho = region.Boot(Region);
        using var streams = new KStateStreams(kho);
        s_failPostLoad = true;
        try
        {
            Assert.That(RestoreOf(kho, streams, Refusing, 1, out var failed), Is.TypeOf<KStateHookException>());
            Assert.That(failed.Items.IsNull, Is.True, "the object is as it was");
        }
        finally
        {
            s_failPostLoad = false;
        }
        Assert.That(RestoreOf(kho, streams, Refusing, 1, out var t), Is.Null, "the retry gets the area");
        Assert.That(t.Items.Value[999].Equals(Expected(999, 1)), Is.True);
        Assert.That(RestoreOf(kho, streams, Refusing, 1, out _), Is.TypeOf<KStateCorruptException>().With.Message.Contains("claimed twice"));
    }

    private static void U64(byte[] b, int at, ulong v) => BinaryPrimitives.WriteUInt64LittleEndian(b.AsSpan(at), v);

    [Test]
    public void Damaged_vmalloc_places_are_clean_errors_and_the_area_stays_restorable()
    {
        const int place = 4 + 48;
        var damages = new (string Name, Action<byte[]> Damage)[]
        {
            ("first chunk + a page", b => U64(b, place, BinaryPrimitives.ReadUInt64LittleEndian(b.AsSpan(place)) + Kho.PageSize)),
            ("first chunk unaligned", b => U64(b, place, BinaryPrimitives.ReadUInt64LittleEndian(b.AsSpan(place)) + 8)),
            ("first chunk outside the region", b => U64(b, place, 0xFFFF_FFFF_FFFF_F000)),
            ("first chunk at a frame", b => U64(b, place, BinaryPrimitives.ReadUInt64LittleEndian(b.AsSpan(place)) - Kho.PageSize)),
            ("more pages", b => BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(place + 8), BinaryPrimitives.ReadUInt32LittleEndian(b.AsSpan(place + 8)) + 1)),
            ("fewer pages", b => BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(place + 8), 1)),
            ("unknown flags", b => BinaryPrimitives.WriteUInt16LittleEndian(b.AsSpan(place + 12), 3)),
            ("another order", b => BinaryPrimitives.WriteUInt16LittleEndian(b.AsSpan(place + 14), 1)),
            ("a huge order", b => BinaryPrimitives.WriteUInt16LittleEndian(b.AsSpan(place + 14), 40)),
            ("count beyond the area", b => U64(b, 4 + 8, 10_000_000)),
        };
        using var region = new TestRegion("inplace-vm-damage");
        var d = Table(InPlaceIntegrity.Trusted);
        SaveFirst(region, d, n: 3000, more: (w, good) =>
        {
            ulong instance = 2;
            foreach (var (_, damage) in damages)
            {
                var bad = (byte[])good.Clone();
                damage(bad);
                w.WriteRecord(d.Id, instance++, 1, bad);
            }
        });
        using var kho = region.Boot(Region);
        using var streams = new KStateStreams(kho);
        for (int i = 0; i < damages.Length; i++)
            Assert.That(RestoreOf(kho, streams, d, (ulong)i + 2, out _), Is.TypeOf<KStateCorruptException>(), damages[i].Name);
        Assert.That(RestoreOf(kho, streams, d, 1, out var t), Is.Null, "none of them claimed the area");
        Assert.That(t.Items.Value[2999].Equals(Expected(2999, 1)), Is.True);
    }
}
