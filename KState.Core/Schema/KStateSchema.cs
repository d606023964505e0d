using KState.Core.Records;

namespace KState;

/// <summary>A field as the schema records it.</summary>
public sealed record SchemaField(string Name, FieldKind Kind, int Offset, int Size, int Count, int VersionId, string? CountField, ulong NestedId);

/// <summary>A description as the schema records it: enough to dump records with field names and to compare versions.</summary>
public sealed record SchemaDescription(string Name, ulong Id, int VersionId, int MinVersionId, int Size,
    IReadOnlyList<SchemaField> Fields, IReadOnlyList<ulong> SubsectionIds);

/// <summary>
/// The descriptions a stream was saved with (docs/FORMAT.md, "Schema record"). A stream carries its schema, so it
/// can be read and dumped without the program that wrote it, and two schemas can be compared before an update.
/// </summary>
public sealed class KStateSchema
{
    private readonly Dictionary<ulong, SchemaDescription> _byId = [];

    /// <summary>Descriptions by state id.</summary>
    public IReadOnlyDictionary<ulong, SchemaDescription> Descriptions => _byId;

    /// <summary>The schema of a set of descriptions, with their nested descriptions and subsections.</summary>
    public static KStateSchema Of(IEnumerable<KStateDescription> descriptions)
    {
        var s = new KStateSchema();
        foreach (var d in descriptions) s.Add(d);
        return s;
    }

    /// <summary>A schema of descriptions as given (tests write damaged ones with it).</summary>
    internal static KStateSchema FromDescriptions(IEnumerable<SchemaDescription> descriptions)
    {
        var s = new KStateSchema();
        foreach (var d in descriptions) s._byId[d.Id] = d;
        return s;
    }

    /// <summary>Adds the descriptions of another schema that this one lacks; returns this.</summary>
    public KStateSchema Merge(KStateSchema other)
    {
        foreach (var (id, d) in other._byId) _byId.TryAdd(id, d);
        return this;
    }

    private void Add(KStateDescription d)
    {
        if (_byId.ContainsKey(d.Id)) return;
        _byId[d.Id] = new SchemaDescription(d.Name, d.Id, d.VersionId, d.MinVersionId, d.Size,
            [.. d.Fields.Select(f => new SchemaField(f.Name, f.Kind, f.Offset, f.Size, f.Count, f.VersionId, f.CountField, f.Nested?.Id ?? 0))],
            [.. d.Subsections.Select(x => x.Id)]);
        foreach (var f in d.Fields)
            if (f.Nested is not null) Add(f.Nested);
        foreach (var sub in d.Subsections) Add(sub);
    }

    /// <summary>Writes the schema as one record (type <see cref="RecordType.Schema"/>) into a stream.</summary>
    internal void WriteTo(RecordWriter w)
    {
        w.BeginRecord(0, 0, Format.Version, RecordType.Schema);
        w.PutUInt32((uint)_byId.Count);
        foreach (var d in _byId.Values.OrderBy(d => d.Id))
        {
            w.PutString(d.Name);
            w.PutUInt64(d.Id);
            w.PutInt32(d.VersionId);
            w.PutInt32(d.MinVersionId);
            w.PutInt32(d.Size);
            w.PutUInt32((uint)d.Fields.Count);
            foreach (var f in d.Fields)
            {
                w.PutString(f.Name);
                w.PutInt32((int)f.Kind);
                w.PutInt32(f.Offset);
                w.PutInt32(f.Size);
                w.PutInt32(f.Count);
                w.PutInt32(f.VersionId);
                w.PutString(f.CountField ?? "");
                w.PutUInt64(f.NestedId);
            }
            w.PutUInt32((uint)d.SubsectionIds.Count);
            foreach (ulong id in d.SubsectionIds) w.PutUInt64(id);
        }
        w.EndRecord();
    }

    /// <summary>Reads a schema record's payload.</summary>
    /// <exception cref="KStateCorruptException">The payload is malformed (offset given).</exception>
    internal static KStateSchema Read(Record record)
    {
        if (record.Type != RecordType.Schema) Throw.Corrupt($"record type {record.Type} is not a schema", record.Offset);
        var c = record.Cursor;
        var s = new KStateSchema();
        uint n = c.ReadUInt32();
        for (uint i = 0; i < n; i++)
        {
            long at = c.Offset;
            string name = c.ReadString();
            ulong id = c.ReadUInt64();
            int version = c.ReadInt32(), min = c.ReadInt32(), size = c.ReadInt32();
            uint nf = c.ReadUInt32();
            if (nf > (uint)c.Remaining) Throw.Corrupt($"schema of '{name}': {nf} fields cannot fit", c.Offset);
            var fields = new List<SchemaField>((int)nf);
            for (uint k = 0; k < nf; k++)
            {
                string fname = c.ReadString();
                var kind = (FieldKind)c.ReadInt32();
                int off = c.ReadInt32(), fsize = c.ReadInt32(), count = c.ReadInt32(), fversion = c.ReadInt32();
                string countField = c.ReadString();
                ulong nested = c.ReadUInt64();
                fields.Add(new SchemaField(fname, kind, off, fsize, count, fversion, countField.Length == 0 ? null : countField, nested));
            }
            uint ns = c.ReadUInt32();
            if (ns > (uint)c.Remaining) Throw.Corrupt($"schema of '{name}': {ns} subsections cannot fit", c.Offset);
            var subs = new List<ulong>((int)ns);
            for (uint k = 0; k < ns; k++) subs.Add(c.ReadUInt64());
            if (!s._byId.TryAdd(id, new SchemaDescription(name, id, version, min, size, fields, subs)))
                Throw.Corrupt($"schema lists state id 0x{id:x16} twice", at);
        }
        if (c.Remaining != 0) Throw.Corrupt("schema record has trailing bytes", c.Offset);
        return s;
    }

    /// <summary>The schema as bytes (a one-stream image), for schema files.</summary>
    public byte[] ToBytes()
    {
        using var mem = new BufferSegmentMemory(16 << 20);
        var w = new RecordWriter(mem, "schema");
        WriteTo(w);
        w.Complete();
        return mem.Image.ToArray();
    }

    /// <summary>Reads a schema file written by <see cref="ToBytes"/>.</summary>
    /// <exception cref="KStateCorruptException">The file is damaged.</exception>
    public static KStateSchema FromBytes(ReadOnlySpan<byte> bytes)
    {
        using var mem = new BufferSegmentMemory(bytes);
        var r = RecordReader.Open(mem, BufferSegmentMemory.PhysBase, "schema");
        return r.TryGetSchema(out var rec) ? Read(rec) : throw new KStateCorruptException("schema file has no schema record");
    }
}
