using KState.Core.Records;
using KState.Inspection;

namespace KState.Tests.Records;

/// <summary>A schema is read from the region, so its sizes are hostile input too: decoding reports them, never overflows.</summary>
public class HostileSchemaTests
{
    [TestCase(0x10000, 0x10000)]  // size x count overflows 32 bits
    [TestCase(-1, 1)]             // a negative size
    [TestCase(8, -5)]             // a negative count
    public void A_schema_field_too_large_or_negative_is_reported_as_damage(int size, int count)
    {
        using var memory = new BufferSegmentMemory(1 << 20);
        var w = new RecordWriter(memory, "hostile");
        const ulong Id = 0x1234;
        w.BeginRecord(0, 0, Format.Version, RecordType.Schema);
        w.PutUInt32(1);
        w.PutString("evil/struct");
        w.PutUInt64(Id);
        w.PutInt32(1); w.PutInt32(1); w.PutInt32(8); // version, min version, size
        w.PutUInt32(1);
        w.PutString("f");
        w.PutInt32((int)FieldKind.Base);
        w.PutInt32(0); w.PutInt32(size); w.PutInt32(count); w.PutInt32(0);
        w.PutString("");
        w.PutUInt64(0);
        w.PutUInt32(0);
        w.EndRecord();
        w.WriteRecord(Id, 1, 1, new byte[16]);
        w.Complete();

        var r = RecordReader.Open(memory, BufferSegmentMemory.PhysBase, "hostile");
        Assert.That(r.TryGetSchema(out var schemaRecord), Is.True);
        var schema = KStateSchema.Read(schemaRecord);
        Assert.That(r.TryFind(Id, 1, out var rec), Is.True);
        Exception? thrown = null;
        try { RecordDecoder.Decode(rec, schema); }
        catch (Exception e) { thrown = e; }
        Assert.That(thrown, Is.InstanceOf<KStateCorruptException>(), thrown?.ToString());
    }
}
