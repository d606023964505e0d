using System.Runtime.InteropServices;
using KState.TestHost.Shared;
using KState.Tests.Support;

namespace KState.Tests.Descriptions;

public unsafe class FieldKindTests
{
    [Test]
    public void Adjacent_plain_fields_become_one_copy()
    {
        var d = KStateDescriptionBuilder<Versioned>.Create("acme-test/plain", 1, 1)
            .Base((ref Versioned v) => ref v.A).Base((ref Versioned v) => ref v.B).Base((ref Versioned v) => ref v.C).Build();
        Assert.That(d.SaveCopySteps, Is.EqualTo(1));
        var got = Harness.RoundTrip(d, new Versioned { A = 1, B = 2, C = 3 }, d, default);
        Assert.That((got.A, got.B, got.C), Is.EqualTo((1, 2, 3)));
    }

    [Test]
    public void Field_names_offsets_and_sizes_come_from_the_members()
    {
        var f = TalkDescriptions.A.Fields;
        Assert.That(f.Select(x => (x.Name, x.Offset, x.Size, x.Kind)), Is.EqualTo(new[]
        {
            ("I", 0, 4, FieldKind.Base),
            ("S", 16, 10, FieldKind.Base),
            ("PUlong", 8, 8, FieldKind.Pointer),
            ("Folio", 32, 8, FieldKind.Folio),
        }));
        Assert.That(TalkDescriptions.A.Size, Is.EqualTo(40));
    }

    [Test]
    public void A_pointer_restores_into_its_pointee_or_into_new_memory_when_null()
    {
        var d = KStateDescriptionBuilder<TalkA>.Create("acme-test/ptr", 1, 1)
            .Base((ref TalkA a) => ref a.I).Pointer((ref TalkA a) => ref a.PUlong).Build();
        ulong value = 0xFEEDFACE_CAFEBEEF, target = 0;
        var saved = new TalkA { I = 1, PUlong = new Ptr<ulong>(&value) };
        var inPlace = Harness.RoundTrip(d, saved, d, new TalkA { PUlong = new Ptr<ulong>(&target) });
        Assert.That(inPlace.PUlong.Value == &target, Is.True);
        Assert.That(target, Is.EqualTo(value));

        var allocated = Harness.RoundTrip(d, saved, d, new TalkA());
        Assert.That(allocated.PUlong.IsNull, Is.False);
        Assert.That(allocated.PUlong.Target, Is.EqualTo(value));
        NativeMemory.Free(allocated.PUlong.Value);

        var fromNull = Harness.RoundTrip(d, new TalkA { I = 2 }, d, new TalkA { PUlong = new Ptr<ulong>(&target) });
        Assert.That((fromNull.I, fromNull.PUlong.Value == &target), Is.EqualTo((2, true)), "a null saved pointer leaves the target's pointer alone");
    }

    [Test]
    public void Arrays_take_their_count_from_an_earlier_field()
    {
        var d = KStateDescriptionBuilder<Counted>.Create("acme-test/counted", 1, 1)
            .Base((ref Counted c) => ref c.N)
            .Array((ref Counted c) => ref c.Items[0], 8, countMember: "N")
            .Base((ref Counted c) => ref c.M)
            .Pointer((ref Counted c) => ref c.Dynamic, count: 100, countMember: "M")
            .Build();
        long[] data = [10, 20, 30];
        fixed (long* p = data)
        {
            var saved = new Counted { N = 3, M = 3, Dynamic = new Ptr<long>(p) };
            saved.Items[0] = 1; saved.Items[1] = 2; saved.Items[2] = 3; saved.Items[3] = 4; // only 3 counted
            var into = new Counted();
            into.Items[3] = 99;
            var got = Harness.RoundTrip(d, saved, d, into);
            Assert.That((got.N, got.Items[0], got.Items[2], got.Items[3]), Is.EqualTo((3u, 1, 3, 99)));
            Assert.That(new Span<long>(got.Dynamic.Value, 3).ToArray(), Is.EqualTo(data), "allocated: the target had no buffer");
            NativeMemory.Free(got.Dynamic.Value);

            saved.N = 9;
            var e = Assert.Throws<KStateInvalidException>(() => Harness.RoundTrip(d, saved, d, default));
            Assert.That(e!.Message, Does.Contain("more than its maximum 8"));
        }
    }

    [Test]
    public void A_custom_field_saves_and_restores_through_its_callbacks()
    {
        var d = KStateDescriptionBuilder<Versioned>.Create("acme-test/custom", 1, 1)
            .Base((ref Versioned v) => ref v.A)
            .Custom((ref Versioned v) => ref v.B,
                (w, obj, f) => w.PutString($"b={((Versioned*)obj)->B}"),
                (ref RecordCursor c, byte* obj, KStateField f) => ((Versioned*)obj)->B = int.Parse(c.ReadString()[2..]))
            .Build();
        var got = Harness.RoundTrip(d, new Versioned { A = 1, B = 1234 }, d, default);
        Assert.That((got.A, got.B), Is.EqualTo((1, 1234)));
    }

    [Test]
    public void A_custom_restore_cannot_read_past_its_own_bytes()
    {
        var d = KStateDescriptionBuilder<Versioned>.Create("acme-test/custom2", 1, 1)
            .Custom((ref Versioned v) => ref v.B,
                (w, obj, f) => w.PutUInt32(1),
                (ref RecordCursor c, byte* obj, KStateField f) => c.ReadUInt64())
            .Base((ref Versioned v) => ref v.A)
            .Build();
        var into = new Versioned { A = 5 };
        Assert.Throws<KStateCorruptException>(() => into = Harness.RoundTrip(d, new Versioned { A = 1, B = 2 }, d, into));
        Assert.That(into.A, Is.EqualTo(5));
    }

    [Test]
    public void Folios_and_kho_pointers_cross_a_handover()
    {
        using var region = new TestRegion("desc");
        var d = KStateDescriptionBuilder<TalkA>.Create("acme-test/kho", 1, 1)
            .Folio((ref TalkA a) => ref a.Folio)
            .KhoPointer((ref TalkA a) => ref a.PUlong)
            .Build();
        ulong folioPhys, valuePhys;
        using (var kho = region.Boot())
        {
            using var streams = new KStateStreams(kho);
            var folio = kho.AllocFolio(1);
            kho.FolioSpan(folio).Fill(0x5A);
            var cell = kho.AllocFolio(0);
            *(ulong*)kho.DangerousFolioAddress(cell) = 0x1122334455667788;
            kho.PreserveFolio(cell);
            var a = new TalkA { Folio = folio, PUlong = new Ptr<ulong>((ulong*)kho.DangerousFolioAddress(cell)) };
            d.Save(streams.Set.Create("main"), ref a, 0, kho);
            Assert.That(kho.IsPreserved(folio), Is.True, "save preserves the folio");
            folioPhys = folio.Phys;
            valuePhys = cell.Phys;
            kho.FinalizeHandover();
        }
        using var next = region.Boot();
        using var incoming = new KStateStreams(next);
        var got = new TalkA();
        d.Restore(incoming.Set.Open("main"), ref got, 0, next);
        Assert.That(got.Folio, Is.EqualTo(new Folio(folioPhys, 1)));
        Assert.That(next.FolioSpan(got.Folio).ContainsAnyExcept((byte)0x5A), Is.False);
        Assert.That(next.DangerousVirtToPhys(got.PUlong.Value), Is.EqualTo(valuePhys));
        Assert.That(got.PUlong.Target, Is.EqualTo(0x1122334455667788UL));
        Assert.That(next.TryRestoreFolio(folioPhys, out _), Is.False, "the restore took the folio");
        var again = new TalkA();
        Assert.Throws<KStateCorruptException>(() => d.Restore(incoming.Set.Open("main"), ref again, 0, next), "a folio restores once");
        Assert.That(again.Folio.IsNull, Is.True);
    }

    [Test]
    public void A_failing_pre_save_leaves_the_stream_as_it_was()
    {
        bool refuse = false;
        var d = KStateDescriptionBuilder<Versioned>.Create("acme-test/presave", 1, 1)
            .Base((ref Versioned v) => ref v.A)
            .PreSave((ref Versioned v) => refuse ? -5 : 0).Build();
        using var h = new Harness();
        var obj = new Versioned { A = 1 };
        h.Save(d, ref obj, 1);
        refuse = true;
        obj.A = 2;
        var e = Assert.Throws<KStateHookException>(() => h.Save(d, ref obj, 1));
        Assert.That(e!.Errno, Is.EqualTo(5));
        var r = h.Reader();
        Assert.That((r.Count, r.Find(d.Id, 1).Payload[0]), Is.EqualTo((1, (byte)1)));
    }

    [Test]
    public void A_failing_post_load_leaves_the_object_as_it_was()
    {
        var d = KStateDescriptionBuilder<Versioned>.Create("acme-test/postload", 1, 1)
            .Base((ref Versioned v) => ref v.A)
            .PostLoad((ref Versioned v, int _) => v.A == 1 ? -22 : 0).Build();
        var into = new Versioned { A = 7 };
        Assert.Throws<KStateHookException>(() => into = Harness.RoundTrip(d, new Versioned { A = 1 }, d, into));
        Assert.That(into.A, Is.EqualTo(7));
    }

    [Test]
    public void A_record_that_does_not_match_gives_a_specific_error_and_leaves_the_object_unchanged()
    {
        var d = KStateDescriptionBuilder<Outer>.Create("acme-test/shape", 1, 1)
            .Base((ref Outer o) => ref o.Id).Base((ref Outer o) => ref o.Tail).Build();
        using var h = new Harness();
        h.Writer.WriteRecord(d.Id, 0, 1, [1, 2, 3]); // too short for Id + Tail
        h.Writer.BeginRecord(d.Id, 1, 1);
        h.Writer.Put(new byte[12]);
        h.Writer.BeginNested(123, 0, 1, KState.Core.Records.RecordType.Nested); // a nested record where a subsection belongs
        h.Writer.EndNested();
        h.Writer.EndRecord();
        var r = h.Reader();
        var into = new Outer { Id = 5, Tail = 6 };
        Assert.Throws<KStateCorruptException>(() => d.Restore(r, ref into, 0));
        Assert.Throws<KStateCorruptException>(() => d.Restore(r, ref into, 1));
        Assert.Throws<KStateNotFoundException>(() => d.Restore(r, ref into, 2));
        Assert.That((into.Id, into.Tail), Is.EqualTo((5L, 6)));
    }
}
