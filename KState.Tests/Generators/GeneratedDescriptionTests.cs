using KState.Tests.Support;

namespace KState.Tests.Generators;

/// <summary>The descriptions the generator made for DescribedStructs.cs are exactly the builder's, and work.</summary>
public unsafe class GeneratedDescriptionTests
{
    private static readonly KStateDescription<GenPoint> PointByHand = KStateDescriptionBuilder<GenPoint>.Create("acme-gen/point", 2, 1)
        .Base((ref GenPoint p) => ref p.X)
        .Base((ref GenPoint p) => ref p.Y, versionId: 2)
        .Build();

    [Test]
    public void A_generated_description_has_every_kinds_fields_ids_versions_and_schema_of_the_builders()
    {
        var generated = GenEverything.Description;
        var byHand = GenEverything.ByHand(PointByHand);
        Assert.That(generated.Fields.Select(f => f.Kind).Distinct(), Is.EquivalentTo(new[]
        {
            FieldKind.Base, FieldKind.Pointer, FieldKind.KhoPointer, FieldKind.Folio, FieldKind.Struct, FieldKind.Deprecated,
        }), "every kind the generator supports is compared");
        AssertSame(generated, byHand);
        Assert.That(KStateSchema.Of([generated]).ToBytes(), Is.EqualTo(KStateSchema.Of([byHand]).ToBytes()), "the same schema, byte for byte");
        AssertSame(GenHolder.Counter.Description, KStateDescriptionBuilder<GenHolder.Counter>.Create("acme-gen/nested", 1, 1)
            .Base((ref GenHolder.Counter c) => ref c.Value).Build());
        AssertSame(GenRecord.Description, KStateDescriptionBuilder<GenRecord>.Create("acme-gen/record", 1, 1)
            .Base((ref GenRecord r) => ref r.A).Folio((ref GenRecord r) => ref r.Page).Build());
    }

    private static void AssertSame(KStateDescription generated, KStateDescription byHand)
    {
        using (Assert.EnterMultipleScope())
        {
            Assert.That((generated.Name, generated.Id, generated.VersionId, generated.MinVersionId, generated.Size),
                Is.EqualTo((byHand.Name, byHand.Id, byHand.VersionId, byHand.MinVersionId, byHand.Size)), generated.Name);
            Assert.That(generated.Fields.Select(Shape), Is.EqualTo(byHand.Fields.Select(Shape)), $"{generated.Name}: fields");
            Assert.That((generated.PreSave is null, generated.PostLoad is null, generated.Needed is null),
                Is.EqualTo((byHand.PreSave is null, byHand.PostLoad is null, byHand.Needed is null)), $"{generated.Name}: hooks");
            Assert.That(generated.Subsections, Has.Count.EqualTo(byHand.Subsections.Count), $"{generated.Name}: subsections");
        }
        for (int i = 0; i < generated.Subsections.Count; i++) AssertSame(generated.Subsections[i], byHand.Subsections[i]);
        foreach (var (g, h) in generated.Fields.Zip(byHand.Fields))
            if (g.Nested is not null) AssertSame(g.Nested, h.Nested!);
    }

    private static string Shape(KStateField f) =>
        $"{f.Name} {f.Kind} @{f.Offset} {f.Size}x{f.Count} v{f.VersionId} count:{f.CountField} nested:{f.Nested?.Id:x16}";

    [Test]
    public void A_generated_description_saves_and_restores_across_a_live_update_with_its_hooks_and_subsection()
    {
        using var region = new TestRegion("gen");
        var dynamic = stackalloc long[8] { 20, 21, 22, 23, 24, 25, 26, 27 };
        ulong single = 30;
        using (var kho = region.Boot())
        using (var streams = new KStateStreams(kho))
        using (var box = new KStateBox<GenEverything>())
        {
            var registry = new KStateRegistry(streams);
            registry.Register(GenEverything.Description, box, 1);
            ref var e = ref box.Value;
            e.Plain = 5;
            e.Used = 2;
            e.Items[0] = 10;
            e.Items[1] = 11;
            e.Items[2] = 99; // past Used: not saved
            e.Dynamic = new Ptr<long>(dynamic);
            e.Single = new Ptr<ulong>(&single);
            e.Origin = new GenPoint { X = 1, Y = 2 };
            e.PointsUsed = 1;
            e.Points[0] = new GenPoint { X = 3, Y = 4 };
            e.Extra = 7;
            e.ExtraV2 = 8;
            e.Cache = 42;
            GenEverything.SaveRefused = true;
            Assert.Throws<KStateHookException>(kho.FinalizeHandover, "the generated pre_save hook runs");
            GenEverything.SaveRefused = false;
            kho.FinalizeHandover();
        }

        using var next = region.Boot();
        using var incoming = new KStateStreams(next);
        var back = new GenEverything();
        GenEverything.LastLoadedVersion = -1;
        new KStateRegistry(incoming).Restore(GenEverything.Description, ref back, 1);
        using (Assert.EnterMultipleScope())
        {
            Assert.That((back.Plain, back.Used, back.Items[0], back.Items[1], back.Items[2]), Is.EqualTo((5L, (byte)2, 10, 11, 0)));
            Assert.That((back.Origin.X, back.Origin.Y, back.PointsUsed, back.Points[0].X, back.Points[0].Y), Is.EqualTo((1, 2, (ushort)1, 3, 4)));
            Assert.That((back.Extra, back.ExtraV2), Is.EqualTo((7, 8)), "the subsection was needed and sent");
            Assert.That(back.Cache, Is.Zero, "an ignored member is not saved");
            Assert.That(GenEverything.LastLoadedVersion, Is.EqualTo(3), "the generated post_load hook ran with the record's version");
            Assert.That((back.Dynamic.Value[0], back.Dynamic.Value[1], back.Single.Target), Is.EqualTo((20L, 21L, 30UL)), "pointees, allocated on restore");
        }
        System.Runtime.InteropServices.NativeMemory.Free(back.Dynamic.Value);
        System.Runtime.InteropServices.NativeMemory.Free(back.Single.Value);
    }

    [Test]
    public void A_record_saved_by_the_builders_description_restores_with_the_generated_one()
    {
        var point = new GenPoint { X = 12, Y = 13 };
        using var region = new TestRegion("gen-cross");
        using (var kho = region.Boot())
        using (var streams = new KStateStreams(kho))
        {
            new KStateRegistry(streams).Save(PointByHand, ref point, 4);
            kho.FinalizeHandover();
        }
        using var next = region.Boot();
        using var incoming = new KStateStreams(next);
        var back = new GenPoint();
        new KStateRegistry(incoming).Restore(GenPoint.Description, ref back, 4);
        Assert.That((back.X, back.Y), Is.EqualTo((12, 13)));
    }
}
