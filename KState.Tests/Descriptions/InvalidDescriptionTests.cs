using KState.TestHost.Shared;

namespace KState.Tests.Descriptions;

public class InvalidDescriptionTests
{
    private static KStateField F(string name, int offset, int size, FieldKind kind = FieldKind.Base, int version = 0, int count = 1) =>
        new() { Name = name, Offset = offset, Size = size, Kind = kind, VersionId = version, Count = count };

    private static void Rejects(Func<KStateDescription> build, string expected)
    {
        var e = Assert.Throws<KStateInvalidException>(() => build());
        Assert.That(e!.Message, Does.Contain(expected));
    }

    [Test]
    public void Overlapping_fields_are_rejected_naming_both() =>
        Rejects(() => KStateDescription.Create("d", 1, 1, 1, 16, [F("a", 0, 8), F("b", 4, 8)]), "field 'b' overlaps field 'a'");

    [Test]
    public void A_field_outside_the_struct_is_rejected() =>
        Rejects(() => KStateDescription.Create("d", 1, 1, 1, 16, [F("a", 12, 8)]), "field 'a' at offset 12 with 8 bytes lies outside the 16-byte struct");

    [Test]
    public void A_negative_offset_is_rejected() =>
        Rejects(() => KStateDescription.Create("d", 1, 1, 1, 16, [F("a", -4, 4)]), "field 'a'");

    [Test]
    public void A_pointer_kind_on_a_struct_too_small_for_a_pointer_is_rejected() =>
        Rejects(() => KStateDescription.Create("d", 1, 1, 1, 4, [F("p", 0, 4, FieldKind.Pointer)]), "field 'p' at offset 0 with 8 bytes");

    [Test]
    public void Fields_after_the_end_of_the_list_are_rejected() =>
        Rejects(() => KStateDescription.Create("d", 1, 1, 1, 16, [F("a", 0, 4), F("end", 0, 1, FieldKind.End), F("b", 4, 4)]), "follows the end of the list");

    [Test]
    public void Duplicate_field_names_are_rejected() =>
        Rejects(() => KStateDescription.Create("d", 1, 1, 1, 16, [F("a", 0, 4), F("a", 4, 4)]), "field 'a' appears twice");

    [Test]
    public void Bad_version_ranges_are_rejected()
    {
        Rejects(() => KStateDescription.Create("d", 1, 1, 2, 16, [F("a", 0, 4)]), "min_version_id (2) <= version_id (1)");
        Rejects(() => KStateDescription.Create("d", 1, 2, 1, 16, [F("a", 0, 4, version: 3)]), "field 'a' appears in version 3");
        Rejects(() => KStateDescription.Create("d", 1, 2, 1, 16, [F("old", 0, 4, FieldKind.Deprecated, version: 2)]), "deprecated field 'old'");
    }

    [Test]
    public void A_zero_state_id_or_size_is_rejected()
    {
        Rejects(() => KStateDescription.Create("d", 0, 1, 1, 16, [F("a", 0, 4)]), "state id 0");
        Rejects(() => KStateDescription.Create("d", 1, 1, 1, 0, []), "struct size 0");
    }

    [Test]
    public void A_struct_field_must_match_its_description()
    {
        var inner = KStateDescription.Create("inner", 2, 1, 1, 8, [F("x", 0, 8)]);
        Rejects(() => KStateDescription.Create("d", 1, 1, 1, 16, [F("s", 0, 4, FieldKind.Struct) with { Nested = inner }]), "is 4 bytes but its description 'inner' describes 8");
        Rejects(() => KStateDescription.Create("d", 1, 1, 1, 16, [F("s", 0, 8, FieldKind.Struct)]), "has no nested description");
    }

    [Test]
    public void A_count_field_must_be_an_earlier_unsigned_integer()
    {
        Rejects(() => KStateDescription.Create("d", 1, 1, 1, 64, [F("items", 8, 4, count: 4) with { CountField = "n" }, F("n", 0, 4)]), "count field 'n' is not an earlier field");
        Rejects(() => KStateDescription.Create("d", 1, 1, 1, 64, [F("n", 0, 3), F("items", 8, 4, count: 4) with { CountField = "n" }]), "must be a single unsigned integer");
    }

    [Test]
    public void A_custom_field_needs_both_callbacks() =>
        Rejects(() => KStateDescription.Create("d", 1, 1, 1, 16, [F("c", 0, 4, FieldKind.Custom)]), "custom field 'c' needs both");

    [Test]
    public void A_folio_field_must_be_a_handle() =>
        Rejects(() => KStateDescription.Create("d", 1, 1, 1, 16, [F("f", 0, 16, FieldKind.Folio)]), "folio field 'f' must be 8 bytes");

    [Test]
    public void The_builder_rejects_members_of_the_wrong_kind()
    {
        Rejects(() => KStateDescriptionBuilder<TalkA>.Create("acme-test/x", 1, 1).Base((ref TalkA a) => ref a.PUlong).Build(), "member 'PUlong' is a pointer");
        Rejects(() => KStateDescriptionBuilder<TalkA>.Create("acme-test/x", 1, 1).Base((ref TalkA a) => ref a.Folio).Build(), "member 'Folio' is a Folio");
        var inner = KStateDescriptionBuilder<Inner>.Create("acme-test/inner", 1, 1).Base((ref Inner i) => ref i.X).Build();
        Rejects(() => KStateDescriptionBuilder<Outer>.Create("acme-test/x", 1, 1).Struct((ref Outer o) => ref o.Tail, inner).Build(), "member 'Tail' is 4 bytes but 'acme-test/inner' describes 8");
    }

    private static Versioned s_elsewhere;

    [Test]
    public void The_builder_rejects_a_selector_that_leaves_the_struct() =>
        Rejects(() => KStateDescriptionBuilder<Versioned>.Create("acme-test/x", 1, 1).Base((ref Versioned v) => ref s_elsewhere.A).Build(), "is not inside Versioned");

    [Test]
    public void Subsections_must_fit_and_be_distinct()
    {
        var big = KStateDescription.Create("big", 5, 1, 1, 32, [F("x", 0, 8)]);
        Rejects(() => KStateDescription.Create("d", 1, 1, 1, 16, [F("a", 0, 4)], [big]), "subsection 'big' describes 32 bytes");
        var s = KStateDescription.Create("s", 6, 1, 1, 8, [F("x", 0, 8)]);
        Rejects(() => KStateDescription.Create("d", 1, 1, 1, 16, [F("a", 0, 4)], [s, s]), "has the id of another subsection");
    }
}
