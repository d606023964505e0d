namespace KState.Tests.Descriptions;

/// <summary>The VMState version rules.</summary>
public class VersionTests
{
    private static KStateDescription V1 => KStateDescriptionBuilder<Versioned>.Create("acme-test/versioned", 1, 1)
        .Base((ref Versioned v) => ref v.A).Build();

    private static KStateDescription V2 => KStateDescriptionBuilder<Versioned>.Create("acme-test/versioned", 2, 1)
        .Base((ref Versioned v) => ref v.A)
        .Base((ref Versioned v) => ref v.B, versionId: 2).Build();

    [Test]
    public void A_v1_record_restores_into_a_v2_description_and_the_new_field_keeps_its_value()
    {
        var got = Harness.RoundTrip(V1, new Versioned { A = 1, B = 2 }, V2, new Versioned { A = 0, B = 99 });
        Assert.That((got.A, got.B), Is.EqualTo((1, 99)));
    }

    [Test]
    public void A_v2_record_into_a_v1_description_is_refused_and_the_object_is_unchanged()
    {
        var into = new Versioned { A = 5 };
        var e = Assert.Throws<KStateVersionException>(() => into = Harness.RoundTrip(V2, new Versioned { A = 1, B = 2 }, V1, into));
        Assert.That(e!.Message, Does.Contain("version 2"));
        Assert.That(into.A, Is.EqualTo(5));
    }

    [Test]
    public void A_record_below_min_version_id_is_refused()
    {
        var v3 = KStateDescriptionBuilder<Versioned>.Create("acme-test/versioned", 3, 2)
            .Base((ref Versioned v) => ref v.A).Base((ref Versioned v) => ref v.B, versionId: 2).Build();
        var e = Assert.Throws<KStateVersionException>(() => Harness.RoundTrip(V1, new Versioned { A = 1 }, v3, default));
        Assert.That(e!.Message, Does.Contain("reads versions 2 to 3"));
    }

    [Test]
    public void A_deprecated_field_is_skipped_in_records_old_enough()
    {
        // v1 saved (A, B); v2 dropped A: A's bytes are skipped in v1 records and never written in v2 ones.
        var v1 = KStateDescriptionBuilder<Versioned>.Create("acme-test/dep", 1, 1)
            .Base((ref Versioned v) => ref v.A).Base((ref Versioned v) => ref v.B).Build();
        var v2 = KStateDescriptionBuilder<Versioned>.Create("acme-test/dep", 2, 1)
            .Deprecated("A", 4, lastVersionId: 1).Base((ref Versioned v) => ref v.B).Build();
        var got = Harness.RoundTrip(v1, new Versioned { A = 7, B = 8 }, v2, new Versioned { A = 100 });
        Assert.That((got.A, got.B), Is.EqualTo((100, 8)));
        using var h = new Harness();
        var obj = new Versioned { A = 7, B = 8 };
        h.Save(v2, ref obj);
        Assert.That(h.Reader().Find(v2.Id, 0).Payload.Length, Is.EqualTo(4), "v2 writes only B");
    }

    private static KStateDescription SubC(Func<bool>? needed = null)
    {
        var b = KStateDescriptionBuilder<Versioned>.Create("acme-test/sub-c", 1, 1).Base((ref Versioned v) => ref v.C);
        if (needed is not null) b.Needed((ref Versioned _) => needed());
        return b.Build();
    }

    private static KStateDescription WithSub(KStateDescription? sub) =>
        (sub is null ? KStateDescriptionBuilder<Versioned>.Create("acme-test/main", 1, 1) : KStateDescriptionBuilder<Versioned>.Create("acme-test/main", 1, 1).Subsection(sub))
            .Base((ref Versioned v) => ref v.A).Build();

    [Test]
    public void A_subsection_carries_its_field()
    {
        var d = WithSub(SubC());
        var got = Harness.RoundTrip(d, new Versioned { A = 1, C = 3 }, d, default);
        Assert.That((got.A, got.C), Is.EqualTo((1, 3)));
    }

    [Test]
    public void An_unknown_subsection_is_skipped()
    {
        var got = Harness.RoundTrip(WithSub(SubC()), new Versioned { A = 1, C = 3 }, WithSub(null), new Versioned { C = 9 });
        Assert.That((got.A, got.C), Is.EqualTo((1, 9)));
    }

    [Test]
    public void A_missing_subsection_is_fine()
    {
        var got = Harness.RoundTrip(WithSub(null), new Versioned { A = 1, C = 3 }, WithSub(SubC()), new Versioned { C = 9 });
        Assert.That((got.A, got.C), Is.EqualTo((1, 9)));
    }

    [Test]
    public void A_subsection_not_needed_is_not_sent()
    {
        var d = WithSub(SubC(needed: () => false));
        var got = Harness.RoundTrip(d, new Versioned { A = 1, C = 3 }, d, new Versioned { C = 9 });
        Assert.That((got.A, got.C), Is.EqualTo((1, 9)));
    }

    [Test]
    public void A_nested_struct_has_its_own_version()
    {
        var inner1 = KStateDescriptionBuilder<Inner>.Create("acme-test/inner", 1, 1).Base((ref Inner i) => ref i.X).Build();
        var inner2 = KStateDescriptionBuilder<Inner>.Create("acme-test/inner", 2, 1)
            .Base((ref Inner i) => ref i.X).Base((ref Inner i) => ref i.Y, versionId: 2).Build();
        KStateDescription Outer(KStateDescription inner) => KStateDescriptionBuilder<Outer>.Create("acme-test/outer", 1, 1)
            .Base((ref Outer o) => ref o.Id).Struct((ref Outer o) => ref o.Inner, inner).Base((ref Outer o) => ref o.Tail).Build();

        var got = Harness.RoundTrip(Outer(inner1), new Outer { Id = 1, Inner = new Inner { X = 2, Y = 3 }, Tail = 4 }, Outer(inner2),
            new Outer { Inner = new Inner { Y = 77 } });
        Assert.That((got.Id, got.Inner.X, got.Inner.Y, got.Tail), Is.EqualTo((1L, 2, 77, 4)));
        Assert.Throws<KStateVersionException>(() => Harness.RoundTrip(Outer(inner2), new Outer(), Outer(inner1), new Outer()));
    }

    [Test]
    public void Post_load_runs_last_with_the_record_version()
    {
        int seen = -1, aSeen = -1;
        var d = KStateDescriptionBuilder<Versioned>.Create("acme-test/hooked", 2, 1)
            .Base((ref Versioned v) => ref v.A)
            .PostLoad((ref Versioned v, int version) =>
            {
                seen = version;
                aSeen = v.A;
                return 0;
            }).Build();
        var v1 = KStateDescriptionBuilder<Versioned>.Create("acme-test/hooked", 1, 1).Base((ref Versioned v) => ref v.A).Build();
        Harness.RoundTrip(v1, new Versioned { A = 41 }, d, default);
        Assert.That((seen, aSeen), Is.EqualTo((1, 41)));
    }
}
