using System.Runtime.InteropServices;

namespace KState.Tests.Descriptions;

[StructLayout(LayoutKind.Sequential)]
public struct WithCustom
{
    public int A;
    public int B;
    public long C;
}

/// <summary>A custom field's bytes are found by the field's name, not its place in the field list, and the schema
/// comparison agrees with what restore does (issue 12, defect 7).</summary>
public unsafe class CustomFieldKeyTests
{
    private const string Name = "acme-test/custom-key";

    private static KStateField Custom(string name) => new()
    {
        Name = name,
        Offset = 8,
        Size = 8,
        Kind = FieldKind.Custom,
        Save = (w, obj, f) => w.PutInt64(*(long*)(obj + f.Offset)),
        Restore = (ref c, obj, f) => *(long*)(obj + f.Offset) = c.ReadInt64(),
    };

    private static readonly KStateField A = new() { Name = "a", Offset = 0, Size = 4, Kind = FieldKind.Base };

    private static KStateDescription V1(string customName = "c") =>
        KStateDescription.Create(Name, 1, 1, sizeof(WithCustom), [A, Custom(customName)]);

    /// <summary>Version 2 inserts a field before the custom one.</summary>
    private static KStateDescription V2() =>
        KStateDescription.Create(Name, 2, 1, sizeof(WithCustom),
            [A, new KStateField { Name = "b", Offset = 4, Size = 4, Kind = FieldKind.Base, VersionId = 2 }, Custom("c")]);

    [Test]
    public void A_field_inserted_before_a_custom_field_still_restores_old_records_and_compat_agrees()
    {
        var v1 = V1();
        var v2 = V2();
        var restored = Harness.RoundTrip(v1, new WithCustom { A = 1, B = 2, C = 0x1234_5678_9abc }, v2, new WithCustom { B = 99 });

        using (Assert.EnterMultipleScope())
        {
            Assert.That((restored.A, restored.B, restored.C), Is.EqualTo((1, 99, 0x1234_5678_9abcL)), "the newer field keeps its value; the custom one is restored");
            Assert.That(SchemaComparison.Compare(KStateSchema.Of([v1]), KStateSchema.Of([v2])), Is.Empty);
        }
    }

    [Test]
    public void A_renamed_custom_field_does_not_restore_and_compat_says_so()
    {
        var v1 = V1("c");
        var renamed = V1("d");
        var e = Assert.Throws<KStateCorruptException>(() => Harness.RoundTrip(v1, new WithCustom { C = 5 }, renamed, new WithCustom()));

        using (Assert.EnterMultipleScope())
        {
            Assert.That(e!.Message, Does.Contain("custom field"));
            Assert.That(SchemaComparison.Compare(KStateSchema.Of([v1]), KStateSchema.Of([renamed])), Is.Not.Empty);
        }
    }
}
