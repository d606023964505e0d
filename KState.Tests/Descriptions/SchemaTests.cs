using KState.TestHost.Shared;
using KState.Tests.Support;

namespace KState.Tests.Descriptions;

public class SchemaTests
{
    private static KStateSchema Of(params KStateDescription[] d) => KStateSchema.Of(d);

    private static KStateField F(string name, int offset, int size, int version = 0, FieldKind kind = FieldKind.Base) =>
        new() { Name = name, Offset = offset, Size = size, Kind = kind, VersionId = version };

    private static KStateDescription D(int version, int min, params KStateField[] fields) => KStateDescription.Create("acme-test/schema", 9, version, min, 64, fields);

    [Test]
    public void The_test_modules_versions_are_compatible_one_way()
    {
        Assert.That(SchemaComparison.Compare(Of(TalkDescriptions.ModuleV1), Of(TalkDescriptions.ModuleV2)), Is.Empty);
        var back = SchemaComparison.Compare(Of(TalkDescriptions.ModuleV2), Of(TalkDescriptions.ModuleV1));
        Assert.That(back.Select(p => p.ToString()), Is.EqualTo(new[] { "kstate-test/module: saves version 2; the next version reads 1 to 1" }));
    }

    [Test]
    public void Every_kind_of_break_is_listed()
    {
        var saver = D(1, 1, F("a", 0, 4), F("b", 4, 4), F("c", 8, 8), F("d", 16, 4));
        var restorer = D(1, 1, F("a", 0, 8), F("c", 8, 8), F("d", 16, 4, kind: FieldKind.Pointer), F("e", 24, 4));
        var problems = SchemaComparison.Compare(Of(saver), Of(restorer)).Select(p => p.ToString()).ToList();
        Assert.That(problems, Is.EqualTo(new[]
        {
            "acme-test/schema.a: size changed from 4 to 8",
            "acme-test/schema.b: removed without being marked deprecated",
            "acme-test/schema.d: kind changed from Base to Pointer",
            "acme-test/schema.e: added at version 0, but records of version 1 do not carry it (give it a newer version)",
        }));
    }

    [Test]
    public void Marking_a_removed_field_deprecated_and_versioning_a_new_one_is_compatible()
    {
        var saver = D(1, 1, F("a", 0, 4), F("b", 4, 4));
        var restorer = D(2, 1, F("a", 0, 4), F("b", 0, 4, version: 1, kind: FieldKind.Deprecated), F("e", 8, 4, version: 2));
        Assert.That(SchemaComparison.Compare(Of(saver), Of(restorer)), Is.Empty);
        var wrongSize = D(2, 1, F("a", 0, 4), F("b", 0, 2, version: 1, kind: FieldKind.Deprecated));
        Assert.That(SchemaComparison.Compare(Of(saver), Of(wrongSize)).Single().Problem, Does.Contain("deprecated as 2 bytes but saved as 4"));
    }

    [Test]
    public void A_description_that_disappears_is_listed()
    {
        var problems = SchemaComparison.Compare(Of(TalkDescriptions.A), Of(TalkDescriptions.ModuleV2));
        Assert.That(problems.Single().ToString(), Is.EqualTo("a_struct: no longer described: its records would not be restored"));
    }

    [Test]
    public void A_schema_round_trips_through_bytes_with_nested_descriptions_and_subsections()
    {
        var schema = Of(TalkDescriptions.A, TalkDescriptions.ModuleV2);
        var back = KStateSchema.FromBytes(schema.ToBytes());
        Assert.That(back.Descriptions.Keys, Is.EquivalentTo(schema.Descriptions.Keys));
        var module = back.Descriptions[TalkDescriptions.ModuleV2.Id];
        Assert.That(module.Fields.Select(f => (f.Name, f.Kind, f.VersionId)), Is.EqualTo(new[]
        {
            ("I", FieldKind.Base, 0), ("Old", FieldKind.Deprecated, 1), ("PUlong", FieldKind.Pointer, 0),
        }));
        Assert.That(module.SubsectionIds, Has.Count.EqualTo(1));
        Assert.That(back.Descriptions[module.SubsectionIds[0]].Name, Is.EqualTo("kstate-test/sub"));
        Assert.That(SchemaComparison.Compare(back, schema), Is.Empty);
    }

    [Test]
    public void A_damaged_schema_file_is_a_corruption_error()
    {
        var bytes = Of(TalkDescriptions.A).ToBytes();
        bytes[200] ^= 1;
        Assert.Throws<KStateCorruptException>(() => KStateSchema.FromBytes(bytes));
        Assert.Throws<KStateCorruptException>(() => KStateSchema.FromBytes(bytes.AsSpan(0, 100)));
    }

    [Test]
    public void The_stream_carries_the_schema_across_a_live_update()
    {
        using var region = new TestRegion("schema");
        var child = Child.Run("talk-save", region.Path);
        Assert.That(child.ExitCode, Is.Zero, child.ToString());
        using var kho = region.Boot(32 << 20);
        using var streams = new KStateStreams(kho);
        var schema = new KStateRegistry(streams).IncomingSchema;
        Assert.That(schema, Is.Not.Null);
        Assert.That(schema!.Descriptions.Values.Select(d => d.Name), Is.EquivalentTo(new[] { "a_struct", "kstate-test/module", "kstate-test/sub" }));
        Assert.That(schema.Descriptions[TalkDescriptions.TestId].Fields.Select(f => f.Name), Is.EqualTo(new[] { "I", "S", "PUlong", "Folio" }));
        // Before an update: can the next version (ModuleV2) restore what was saved (ModuleV1)?
        Assert.That(SchemaComparison.Compare(schema, Of(TalkDescriptions.A, TalkDescriptions.ModuleV2)), Is.Empty);
    }
}
