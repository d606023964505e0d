using System.Buffers;
using System.Buffers.Binary;
using System.IO.Hashing;
using System.Text;

namespace KState;

/// <summary>One copy of a conversion: <see cref="Length"/> bytes from offset <see cref="Source"/> of a saved element to
/// offset <see cref="Target"/> of a new one.</summary>
internal readonly record struct CopyOp(int Source, int Target, int Length);

/// <summary>
/// The layout of in-place elements (docs/FORMAT.md, "Preserved struct and array fields"): its id says whether saved
/// elements can be used as they are, and a conversion plan turns saved elements into the restorer's layout by the
/// VMState rules when they cannot.
/// </summary>
internal static class InPlaceLayout
{
    /// <summary>The layout id of elements <paramref name="stride"/> bytes apart described by <paramref name="element"/>.</summary>
    public static ulong Of(int stride, KStateDescription element)
    {
        var schema = KStateSchema.Of([element]);
        return Of(stride, schema.Descriptions[element.Id], schema.Descriptions, 0);
    }

    /// <summary>The layout id of saved elements, from the stream's schema (which may be damaged: every lookup is checked).</summary>
    /// <exception cref="KStateCorruptException">A nested description is missing, or nesting is too deep.</exception>
    public static ulong Of(int stride, SchemaDescription element, IReadOnlyDictionary<ulong, SchemaDescription> all, long offset)
    {
        var buffer = new ArrayBufferWriter<byte>(256);
        Put(buffer, (uint)stride);
        Append(buffer, element, all, 0, offset);
        return XxHash3.HashToUInt64(buffer.WrittenSpan);
    }

    /// <summary>Element size, then every field that has bytes in an element, by offset: name, kind, offset, size,
    /// count, count field, and a nested struct's layout in place of its id. Versions are left out: they say which
    /// fields a record carries, not where bytes are.</summary>
    private static void Append(ArrayBufferWriter<byte> b, SchemaDescription d, IReadOnlyDictionary<ulong, SchemaDescription> all, int depth, long offset)
    {
        if (depth > Core.Records.Format.MaxNesting) Throw.Corrupt($"element description '{d.Name}' nests more than {Core.Records.Format.MaxNesting} deep", offset);
        Put(b, (uint)d.Size);
        var fields = d.Fields.Where(f => f.Kind != FieldKind.Deprecated).OrderBy(f => f.Offset).ThenBy(f => f.Name, StringComparer.Ordinal).ToList();
        Put(b, (uint)fields.Count);
        foreach (var f in fields)
        {
            PutString(b, f.Name);
            Put(b, (uint)f.Kind);
            Put(b, (uint)f.Offset);
            Put(b, (uint)f.Size);
            Put(b, (uint)f.Count);
            PutString(b, f.CountField ?? "");
            if (f.Kind != FieldKind.Struct) continue;
            if (!all.TryGetValue(f.NestedId, out var nested)) Throw.Corrupt($"element field '{d.Name}.{f.Name}' names nested description 0x{f.NestedId:x16}, which the schema lacks", offset);
            Append(b, nested, all, depth + 1, offset);
        }
    }

    private static void Put(ArrayBufferWriter<byte> b, uint v)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(b.GetSpan(4), v);
        b.Advance(4);
    }

    private static void PutString(ArrayBufferWriter<byte> b, string s)
    {
        int n = Encoding.UTF8.GetByteCount(s);
        Put(b, (uint)n);
        Encoding.UTF8.GetBytes(s, b.GetSpan(n));
        b.Advance(n);
    }

    /// <summary>
    /// The copies that turn one saved element (<paramref name="saved"/> at <paramref name="version"/>, from the
    /// stream's schema, <paramref name="savedStride"/> bytes) into one element of <paramref name="target"/>: fields
    /// matched by name; fields newer than the saved version left at their default (zero); saved fields the restorer
    /// deprecated skipped. Everything the schema says is checked against the saved element's bytes, so a damaged
    /// schema gives an error, never a copy outside an element.
    /// </summary>
    /// <exception cref="KStateVersionException">A nested element's version is outside its description's range.</exception>
    /// <exception cref="KStateCorruptException">The saved layout does not fit its elements, or cannot be converted.</exception>
    public static CopyOp[] Conversion(SchemaDescription saved, int version, int savedStride, KStateDescription target,
        IReadOnlyDictionary<ulong, SchemaDescription> all, long offset)
    {
        if (saved.Size <= 0 || saved.Size > savedStride) Throw.Corrupt($"saved element description '{saved.Name}' is {saved.Size} bytes, its elements {savedStride}", offset);
        var ops = new List<CopyOp>();
        Convert(ops, saved, version, target, 0, 0, all, 0, offset);
        // Adjacent copies merge: a field-for-field identical run is one copy.
        var merged = new List<CopyOp>(ops.Count);
        foreach (var op in ops.OrderBy(o => o.Target))
        {
            if (merged.Count > 0 && merged[^1] is var last && last.Source + last.Length == op.Source && last.Target + last.Length == op.Target)
                merged[^1] = last with { Length = last.Length + op.Length };
            else merged.Add(op);
        }
        return [.. merged];
    }

    private static void Convert(List<CopyOp> ops, SchemaDescription saved, int version, KStateDescription target, int source, int at,
        IReadOnlyDictionary<ulong, SchemaDescription> all, int depth, long offset)
    {
        if (depth > Core.Records.Format.MaxNesting) Throw.Corrupt($"saved element description '{saved.Name}' nests too deep", offset);
        if (version > target.VersionId || version < target.MinVersionId)
            throw new KStateVersionException($"in-place elements of '{target.Name}' have version {version}; this description reads versions {target.MinVersionId} to {target.VersionId} (at offset {offset})");
        var byName = new Dictionary<string, SchemaField>(StringComparer.Ordinal);
        foreach (var f in saved.Fields)
        {
            if (f.Kind == FieldKind.Deprecated) continue;
            if (f.Kind is not (FieldKind.Base or FieldKind.KhoPointer or FieldKind.Struct))
                Throw.Corrupt($"saved element field '{saved.Name}.{f.Name}' has kind {f.Kind}, which cannot live in place", offset);
            long bytes = ElementBytes(f);
            if (f.Offset < 0 || f.Size <= 0 || f.Count < 1 || bytes <= 0 || f.Offset + bytes > saved.Size)
                Throw.Corrupt($"saved element field '{saved.Name}.{f.Name}' ({f.Count} x {f.Size} bytes at {f.Offset}) lies outside its {saved.Size}-byte element", offset);
            if (!byName.TryAdd(f.Name, f)) Throw.Corrupt($"saved element description '{saved.Name}' has field '{f.Name}' twice", offset);
        }
        var used = new HashSet<string>(StringComparer.Ordinal);
        foreach (var t in target.Fields)
        {
            if (t.Kind == FieldKind.Deprecated || t.VersionId > version) continue; // skipped, or newer: stays zero
            if (!byName.TryGetValue(t.Name, out var s))
                Throw.Corrupt($"saved elements of '{saved.Name}' version {version} lack field '{t.Name}', which that version has", offset);
            used.Add(t.Name);
            if (s.Kind != t.Kind || s.Size != t.Size || s.Count > t.Count)
                Throw.Corrupt($"element field '{saved.Name}.{t.Name}' was {s.Kind} {s.Count} x {s.Size} bytes; now {t.Kind} {t.Count} x {t.Size}: it cannot be converted", offset);
            if (t.Kind != FieldKind.Struct)
            {
                ops.Add(new CopyOp(source + s.Offset, at + t.Offset, (int)ElementBytes(s)));
                continue;
            }
            if (!all.TryGetValue(s.NestedId, out var inner) || inner.Id != t.Nested!.Id || inner.Size != s.Size)
                Throw.Corrupt($"element field '{saved.Name}.{t.Name}': the schema's nested description does not match", offset);
            for (int i = 0; i < s.Count; i++)
                Convert(ops, inner, inner.VersionId, t.Nested, source + s.Offset + i * s.Size, at + t.Offset + i * t.Size, all, depth + 1, offset);
        }
        foreach (var s in byName.Values)
        {
            if (used.Contains(s.Name)) continue;
            bool deprecated = target.Fields.Any(t => t.Kind == FieldKind.Deprecated && t.Name == s.Name && version <= t.VersionId);
            if (!deprecated) Throw.Corrupt($"saved element field '{saved.Name}.{s.Name}' is neither in '{target.Name}' nor deprecated there", offset);
        }
    }

    /// <summary>Bytes a field takes in an element (a KHO pointer is a phys, 8 bytes); overflow is damage.</summary>
    private static long ElementBytes(SchemaField f) => f.Kind == FieldKind.KhoPointer ? 8L * f.Count : (long)f.Size * f.Count;
}
