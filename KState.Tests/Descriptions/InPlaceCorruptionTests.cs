using System.Buffers.Binary;
using KState.Core.Records;
using KState.TestHost.Shared;
using KState.Tests.Support;
using static KState.TestHost.Shared.InPlaceDescriptions;

namespace KState.Tests.Descriptions;

/// <summary>Damaged in-place metadata (count, place, element size, layout, schema) is a clean error that claims
/// nothing, never a wild pointer (issue 13, item 3); and the byte format of the place is fixed.</summary>
public unsafe class InPlaceCorruptionTests
{
    private const int N = 64;
    private const int ItemsAt = 4; // the payload: generation (4 bytes), then the items' place, then the head's

    private static bool s_failPostLoad;

    /// <summary>The table's description with a post_load that can refuse: a restore that parsed then claims nothing.</summary>
    private static readonly KStateDescription Refusing = KStateDescriptionBuilder<Table>.Create(TableName, 1, 1)
        .Base((ref Table t) => ref t.Generation)
        .PreservedArray((ref Table t) => ref t.Items, EntryV1, (ref Table t) => ref t.Count)
        .PreservedStruct((ref Table t) => ref t.Head, EntryV1)
        .PostLoad((ref Table _, int _) => s_failPostLoad ? -1 : 0)
        .Build();

    /// <summary>The payload a save of <paramref name="t"/> writes (saved into a scratch stream: the memory is preserved
    /// already, so this preserves nothing more).</summary>
    private static byte[] PayloadOf(KStateDescription d, Table* t, Kho kho)
    {
        using var mem = new BufferSegmentMemory(1 << 20);
        var w = new RecordWriter(mem, "scratch");
        d.Save(w, (byte*)t, 1, kho);
        var info = w.Complete();
        return RecordReader.Open(mem, info.FirstSegment, "scratch").Find(d.Id, 1).Payload.ToArray();
    }

    /// <summary>Generation 1 saves the table as instance 1 and each damaged payload as instances 2, 3, ...; then the
    /// schema (or <paramref name="schema"/>).</summary>
    private static (ulong Items, ulong Head) SaveDamaged(TestRegion region, InPlaceIntegrity integrity, IEnumerable<Action<byte[]>> damages,
        Func<byte[], KStateSchema?>? schema = null)
    {
        using var kho = region.Boot(16 << 20);
        using var streams = new KStateStreams(kho);
        var d = Table(integrity);
        var t = InPlaceTests.NewTable(kho, N);
        var w = streams.Set.GetOrCreate("main");
        d.Save(w, (byte*)&t, 1, kho);
        var good = PayloadOf(d, &t, kho);
        ulong instance = 2;
        foreach (var damage in damages)
        {
            var bad = (byte[])good.Clone();
            damage(bad);
            w.WriteRecord(d.Id, instance++, 1, bad);
        }
        var s = schema is null ? KStateSchema.Of([d]) : schema(good);
        s?.WriteTo(w);
        kho.FinalizeHandover();
        return (kho.DangerousVirtToPhys(t.Items.Value), kho.DangerousVirtToPhys(t.Head.Value));
    }

    private static Exception? RestoreOf(KStateRegistry registry, KStateDescription d, ulong instance)
    {
        var t = new Table();
        try
        {
            registry.Restore(d, &t, instance);
            return null;
        }
        catch (Exception e)
        {
            return e;
        }
    }

    private static void U64(byte[] b, int at, ulong v) => BinaryPrimitives.WriteUInt64LittleEndian(b.AsSpan(at), v);

    private static void U32(byte[] b, int at, uint v) => BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(at), v);

    private static readonly (string Name, Action<byte[]> Damage, Type Expected)[] Damages =
    [
        ("count beyond the memory", b => U64(b, ItemsAt + 8, 1_000_000), typeof(KStateCorruptException)),
        ("count that overflows", b => U64(b, ItemsAt + 8, ulong.MaxValue), typeof(KStateCorruptException)),
        ("count beyond its member", b => U64(b, ItemsAt + 8, 1UL << 32), typeof(KStateCorruptException)),
        ("phys of the next page", b => U64(b, ItemsAt + 48, BinaryPrimitives.ReadUInt64LittleEndian(b.AsSpan(ItemsAt + 48)) + Kho.PageSize), typeof(KStateCorruptException)),
        ("phys not page aligned", b => U64(b, ItemsAt + 48, BinaryPrimitives.ReadUInt64LittleEndian(b.AsSpan(ItemsAt + 48)) + 8), typeof(KStateCorruptException)),
        ("phys outside the region", b => U64(b, ItemsAt + 48, 0xFFFF_FFFF_FFFF_F000), typeof(KStateCorruptException)),
        ("phys zero", b => U64(b, ItemsAt + 48, 0), typeof(KStateCorruptException)),
        ("wrong order", b => U32(b, ItemsAt + 56, 10), typeof(KStateCorruptException)),
        ("reserved place bytes", b => U32(b, ItemsAt + 60, 1), typeof(KStateCorruptException)),
        ("unknown memory kind", b => U32(b, ItemsAt, 7), typeof(KStateCorruptException)),
        ("no memory but a count", b => U32(b, ItemsAt, 0), typeof(KStateCorruptException)),
        ("unknown flags", b => U32(b, ItemsAt + 4, 6), typeof(KStateCorruptException)),
        ("element size zero", b => U32(b, ItemsAt + 28, 0), typeof(KStateCorruptException)),
        ("element size larger", b => U32(b, ItemsAt + 28, 1 << 20), typeof(KStateCorruptException)),
        ("element size smaller", b => U32(b, ItemsAt + 28, 8), typeof(KStateCorruptException)),
        ("another element id", b => U64(b, ItemsAt + 16, 0x1234), typeof(KStateCorruptException)),
        ("a newer element version", b => U32(b, ItemsAt + 24, 9), typeof(KStateVersionException)),
        ("another layout", b => U64(b, ItemsAt + 32, 0x1234), typeof(KStateCorruptException)),
        ("a preserved struct of two", b => U64(b, ItemsAt + 64 + 8, 2), typeof(KStateCorruptException)),
        ("the head's place is the items'", b => b.AsSpan(ItemsAt + 48, 16).CopyTo(b.AsSpan(ItemsAt + 64 + 48)), typeof(KStateCorruptException)),
    ];

    [Test]
    public void Damaged_places_counts_and_sizes_are_clean_errors_that_claim_nothing()
    {
        using var region = new TestRegion("inplace-damage");
        var (items, head) = SaveDamaged(region, InPlaceIntegrity.Trusted, Damages.Select(x => x.Damage));
        using var kho = region.Boot(16 << 20);
        using var streams = new KStateStreams(kho);
        var registry = new KStateRegistry(streams);
        var d = Table(InPlaceIntegrity.Trusted);
        for (int i = 0; i < Damages.Length; i++)
        {
            var e = RestoreOf(registry, d, (ulong)i + 2);
            Assert.That(e, Is.TypeOf(Damages[i].Expected), $"{Damages[i].Name}: {e}");
            Assert.That(kho.CanRestoreFolio(items, out _) && kho.CanRestoreFolio(head, out _), Is.True, $"{Damages[i].Name}: nothing claimed");
        }
        Assert.That(RestoreOf(registry, d, 1), Is.Null, "the undamaged record restores after all of them");
    }

    [Test]
    public void Every_bit_flip_of_a_place_is_a_clean_error_and_claims_nothing()
    {
        using var region = new TestRegion("inplace-flips");
        var flips = new List<Action<byte[]>>();
        for (int bit = 0; bit < 2 * InPlaceRecord.Bytes * 8; bit++)
        {
            int at = ItemsAt + bit / 8, mask = 1 << (bit % 8);
            flips.Add(b => b[at] ^= (byte)mask);
        }
        var (items, head) = SaveDamaged(region, InPlaceIntegrity.Checksum, flips);
        using var kho = region.Boot(16 << 20);
        using var streams = new KStateStreams(kho);
        var registry = new KStateRegistry(streams);
        int parsed = 0;
        s_failPostLoad = true; // a flip the checks cannot see (a checksum bit in trusted mode, say) still claims nothing
        try
        {
            for (int i = 0; i < flips.Count; i++)
            {
                var e = RestoreOf(registry, Refusing, (ulong)i + 2);
                if (e is KStateHookException) parsed++;
                else if (e is not (KStateCorruptException or KStateVersionException))
                    Assert.Fail($"bit {i} of the places: {e?.GetType().Name ?? "success"}: {e}");
            }
        }
        finally
        {
            s_failPostLoad = false;
        }
        Assert.That(kho.CanRestoreFolio(items, out _) && kho.CanRestoreFolio(head, out _), Is.True, "nothing claimed");
        Assert.That(parsed, Is.LessThan(flips.Count / 4), "almost every flip is caught by a check");
        Assert.That(RestoreOf(registry, Refusing, 1), Is.Null);
    }

    /// <summary>A schema whose element description is hostile: a field outside the element.</summary>
    private static SchemaDescription HostileEntry(int keyOffset) => new(EntryName, EntryV1.Id, 1, 1, 16,
        [new SchemaField("Key", FieldKind.Base, keyOffset, 8, 1, 0, null, 0), new SchemaField("Value", FieldKind.Base, 8, 4, 1, 0, null, 0),
         new SchemaField("Flags", FieldKind.Base, 12, 4, 1, 0, null, 0)], []);

    [Test]
    public void A_schema_that_does_not_describe_the_saved_layout_is_refused_when_a_conversion_needs_it()
    {
        using var region = new TestRegion("inplace-schema");
        var table = KStateSchema.Of([Table(InPlaceIntegrity.Checksum)]);
        var (items, _) = SaveDamaged(region, InPlaceIntegrity.Checksum, [],
            _ => KStateSchema.FromDescriptions([.. table.Descriptions.Values.Where(x => x.Id != EntryV1.Id), HostileEntry(4)]));
        AssertConversionRefused(region, items, "does not describe");
    }

    [Test]
    public void A_hostile_schema_that_matches_its_record_cannot_make_a_conversion_copy_outside_an_element()
    {
        using var region = new TestRegion("inplace-hostile");
        var table = KStateSchema.Of([Table(InPlaceIntegrity.Checksum)]);
        var hostile = HostileEntry(4000);
        var all = KStateSchema.FromDescriptions([.. table.Descriptions.Values.Where(x => x.Id != EntryV1.Id), hostile]);
        ulong layout = InPlaceLayout.Of(16, hostile, all.Descriptions, 0);
        // The record names the hostile layout, so the layout check passes and the schema's field offsets are what is left.
        var (items, _) = SaveDamaged(region, InPlaceIntegrity.Checksum, [b => { U64(b, ItemsAt + 32, layout); U64(b, ItemsAt + 64 + 32, layout); }], _ => all);
        AssertConversionRefused(region, items, "outside its 16-byte element", instance: 2);
    }

    [Test]
    public void A_changed_layout_in_a_stream_without_a_schema_is_refused()
    {
        using var region = new TestRegion("inplace-noschema");
        var (items, _) = SaveDamaged(region, InPlaceIntegrity.Checksum, [], _ => null);
        AssertConversionRefused(region, items, "no schema");
    }

    private static void AssertConversionRefused(TestRegion region, ulong items, string message, ulong instance = 1)
    {
        using var kho = region.Boot(16 << 20);
        using var streams = new KStateStreams(kho);
        var t = new TableV2();
        nint p = (nint)(&t);
        var e = Assert.Throws<KStateCorruptException>(() => new KStateRegistry(streams).Restore(TableV2(InPlaceIntegrity.Checksum), (void*)p, instance));
        Assert.That(e!.Message, Does.Contain(message));
        Assert.That(kho.CanRestoreFolio(items, out _), Is.True, "nothing claimed");
        Assert.That(t.Items.IsNull, Is.True, "nothing written");
    }

    // The items' place of a fixed save: memory 1 (folio), checksummed, 3 entries, the element id, version 1, 16-byte
    // elements, the layout id, the XXH3 of the 48 bytes, then phys (checked apart: it depends on the allocator) and
    // order 0 (docs/FORMAT.md, "Preserved struct and array fields").
    private const string GoldenPlace =
        "01000000" + "01000000" + "0300000000000000" + "{id}" + "01000000" + "10000000" + "{layout}" + "{sum}" + "{phys}" + "00000000" + "00000000";

    [Test]
    public void The_place_matches_the_golden_bytes()
    {
        using var region = new TestRegion("inplace-golden");
        using var kho = region.Boot();
        var t = InPlaceTests.NewTable(kho, 3);
        var payload = PayloadOf(Table(InPlaceIntegrity.Checksum), &t, kho);
        static string Le(ulong v) => Convert.ToHexString(BitConverter.GetBytes(v));
        var entries = new ReadOnlySpan<Entry>(t.Items.Value, 3);
        ulong sum = System.IO.Hashing.XxHash3.HashToUInt64(System.Runtime.InteropServices.MemoryMarshal.AsBytes(entries));
        string expected = GoldenPlace.Replace("{id}", Le(EntryV1.Id)).Replace("{layout}", Le(0xE708_55C3_5420_AB4F)).Replace("{sum}", Le(sum))
            .Replace("{phys}", Le(kho.DangerousVirtToPhys(t.Items.Value)));
        Assert.That(Convert.ToHexString(payload.AsSpan(ItemsAt, InPlaceRecord.Bytes)), Is.EqualTo(expected),
            "the in-place format changed: if on purpose, update docs/FORMAT.md and this constant");
        Assert.That(EntryV1.Id, Is.EqualTo(KState.Core.Ids.KStateId.FromName(EntryName)));
    }
}
