using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using KState.TestHost.Shared;
using KState.Tests.Support;
using static KState.TestHost.Shared.InPlaceDescriptions;

namespace KState.Tests.Descriptions;

/// <summary>What a preserved struct or array may hold and point at: refused with a clear KStateInvalidException.</summary>
public unsafe class InPlaceRuleTests
{
    [StructLayout(LayoutKind.Sequential)]
    public struct Mixed
    {
        public ulong Key;
        public Ptr<ulong> Pointer;
        public Folio Folio;
        public Ptr<ulong> Phys;
        public Entry Inner;
    }

    [StructLayout(LayoutKind.Sequential)]
    public struct Holder
    {
        public Ptr<Mixed> Items;
        public ulong Count;
        public int Signed;
        public int Pad;
    }

    private static KStateDescriptionBuilder<Mixed> MixedBase() => KStateDescriptionBuilder<Mixed>.Create("acme-test/inplace-mixed", 1, 1).Base((ref Mixed m) => ref m.Key);

    private static Exception? BuildHolder(KStateDescription element)
    {
        try
        {
            KStateDescriptionBuilder<Holder>.Create("acme-test/inplace-holder", 1, 1)
                .PreservedArray((ref Holder h) => ref h.Items, element, (ref Holder h) => ref h.Count).Build();
            return null;
        }
        catch (Exception e)
        {
            return e;
        }
    }

    private static readonly (string Name, Func<KStateDescription> Element, string Says)[] Refused =
    [
        ("a pointer", () => MixedBase().Pointer((ref Mixed m) => ref m.Pointer).Build(), "Pointer field 'Pointer'"),
        ("a folio", () => MixedBase().Folio((ref Mixed m) => ref m.Folio).Build(), "Folio field 'Folio'"),
        ("a custom field", () => MixedBase().Custom((ref Mixed m) => ref m.Phys, (_, _, _) => { }, (ref RecordCursor _, byte* _, KStateField _) => { }).Build(), "Custom field 'Phys'"),
        ("a subsection", () => MixedBase().Subsection(KStateDescriptionBuilder<Mixed>.Create("acme-test/inplace-sub", 1, 1).Base((ref Mixed m) => ref m.Key).Build()).Build(), "subsections"),
        ("a post_load hook", () => MixedBase().PostLoad((ref Mixed _, int _) => 0).Build(), "hooks"),
        ("a pre_save hook", () => MixedBase().PreSave((ref Mixed _) => 0).Build(), "hooks"),
        ("a nested struct with a pointer", () => MixedBase().Struct((ref Mixed m) => ref m.Inner,
            KStateDescriptionBuilder<Entry>.Create("acme-test/inplace-inner", 1, 1).Pointer((ref Entry e) => ref Unsafe.As<ulong, Ptr<ulong>>(ref e.Key)).Build()).Build(), "Pointer field"),
    ];

    [Test]
    public void Element_descriptions_with_fields_that_do_not_survive_in_place_are_refused()
    {
        foreach (var (name, element, says) in Refused)
        {
            var e = BuildHolder(element());
            Assert.That(e, Is.TypeOf<KStateInvalidException>(), $"{name}: {e}");
            Assert.That(e!.Message, Does.Contain(says), name);
        }
    }

    [Test]
    public void Element_descriptions_of_base_values_deprecated_fields_kho_pointers_and_nested_structs_are_accepted()
    {
        var element = KStateDescriptionBuilder<Mixed>.Create("acme-test/inplace-mixed", 2, 1).Base((ref Mixed m) => ref m.Key)
            .KhoPointer((ref Mixed m) => ref m.Phys).Struct((ref Mixed m) => ref m.Inner, EntryV1).Deprecated("gone", 4, 1).Build();
        Assert.That(BuildHolder(element), Is.Null);
    }

    [Test]
    public void A_count_member_that_is_signed_or_overlaps_another_member_is_refused()
    {
        var element = MixedBase().Build();
        var signed = Assert.Throws<KStateInvalidException>(() => KStateDescriptionBuilder<Holder>.Create("acme-test/inplace-holder", 1, 1)
            .PreservedArray((ref Holder h) => ref h.Items, element, (ref Holder h) => ref h.Signed).Build());
        Assert.That(signed!.Message, Does.Contain("Int32"));
        var overlap = Assert.Throws<KStateInvalidException>(() => KStateDescriptionBuilder<Holder>.Create("acme-test/inplace-holder", 1, 1)
            .PreservedArray((ref Holder h) => ref h.Items, element, (ref Holder h) => ref Unsafe.As<Ptr<Mixed>, ulong>(ref h.Items)).Build());
        Assert.That(overlap!.Message, Does.Contain("overlaps"));
        Assert.DoesNotThrow(() => KStateDescriptionBuilder<Holder>.Create("acme-test/inplace-holder", 1, 1)
            .Base((ref Holder h) => ref h.Count)
            .PreservedArray((ref Holder h) => ref h.Items, element, (ref Holder h) => ref h.Count).Build(), "the count member may be described too");
    }

    [Test]
    public void Saving_memory_that_is_not_a_folio_start_is_refused_and_what_the_save_preserved_is_taken_back()
    {
        using var region = new TestRegion("inplace-save-rules");
        using var kho = region.Boot();
        using var streams = new KStateStreams(kho);
        var registry = new KStateRegistry(streams);
        // The head comes first, so the save has preserved its folio when the items fail.
        var d = KStateDescriptionBuilder<Table>.Create(TableName, 1, 1)
            .PreservedStruct((ref Table t) => ref t.Head, EntryV1)
            .PreservedArray((ref Table t) => ref t.Items, EntryV1, (ref Table t) => ref t.Count)
            .Build();
        var head = kho.AllocFolio(0);
        var items = kho.AllocFolio(1);
        var native = (Entry*)NativeMemory.AllocZeroed(64);
        try
        {
            foreach (var (name, p, count) in new (string, nint, uint)[]
            {
                ("native memory", (nint)native, 1u),
                ("the middle of a folio", (nint)(kho.DangerousFolioAddress(items) + Kho.PageSize), 1u),
                ("more entries than the folio holds", (nint)kho.DangerousFolioAddress(items), 1000u),
                ("null with a count", 0, 3u),
            })
            {
                var t = new Table { Head = new Ptr<Entry>((Entry*)kho.DangerousFolioAddress(head)), Items = new Ptr<Entry>((Entry*)p), Count = count };
                nint pt = (nint)(&t);
                Assert.Throws<KStateInvalidException>(() => registry.Save(d, (void*)pt, 1), name);
                Assert.That(kho.IsPreserved(head) || kho.IsPreserved(items), Is.False, $"{name}: the failed save took its preservation back");
            }
            var ok = new Table { Head = new Ptr<Entry>((Entry*)kho.DangerousFolioAddress(head)), Items = new Ptr<Entry>((Entry*)kho.DangerousFolioAddress(items)), Count = 3 };
            registry.Save(d, &ok, 1);
            Assert.That(kho.IsPreserved(head) && kho.IsPreserved(items), Is.True, "a save preserves what is not preserved yet");
            var twice = new Table { Head = ok.Head, Items = new Ptr<Entry>(ok.Head.Value), Count = 1 };
            nint pw = (nint)(&twice);
            Assert.That(Assert.Throws<KStateInvalidException>(() => registry.Save(d, (void*)pw, 2))!.Message, Does.Contain("two folio slots"));
        }
        finally
        {
            NativeMemory.Free(native);
        }
    }
}

/// <summary>What `kstate compat` says about in-place fields: a changed element layout is converted, not a break.</summary>
public class InPlaceSchemaTests
{
    [Test]
    public void An_element_that_gained_a_field_is_compatible_and_going_back_is_not()
    {
        var v1 = KStateSchema.Of([Table(InPlaceIntegrity.Checksum)]);
        var v2 = KStateSchema.Of([TableV2(InPlaceIntegrity.Checksum)]);
        Assert.That(SchemaComparison.Compare(v1, v2), Is.Empty);
        var problems = SchemaComparison.Compare(v2, v1);
        Assert.That(problems.Select(p => p.ToString()), Is.EqualTo(new[] { $"{EntryName}: saves version 2; the next version reads 1 to 1" }),
            "v2 entries are too new for v1; the table itself, whose element size changed, is fine");
    }
}
