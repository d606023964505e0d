using System.Buffers.Binary;
using System.Text;

namespace KState.Inspection;

/// <summary>A field value decoded for people: a name, a rendering, and the fields of a nested struct or subsection;
/// <see cref="Typed"/> is the same value for programs.</summary>
public sealed record DecodedField(string Name, string Value, IReadOnlyList<DecodedField> Children)
{
    /// <summary>The value typed (integers, text, bytes, folios...), for machine-readable output.</summary>
    public FieldValue Typed { get; init; } = new(FieldValueKind.Bytes) { Bytes = [] };
}

/// <summary>
/// Decodes records with the schema their stream carries, without the program that wrote them (as CRIU's crit
/// decodes images): field names, integers, text, arrays, pointees, folios, nested structs and subsections.
/// </summary>
internal static class RecordDecoder
{
    private const int MaxShownBytes = 64;

    /// <summary>Decodes a description record; fields the schema does not explain come out as raw bytes.</summary>
    /// <exception cref="KStateCorruptException">The record does not match its schema.</exception>
    public static IReadOnlyList<DecodedField> Decode(Record record, KStateSchema schema)
    {
        if (!schema.Descriptions.TryGetValue(record.StateId, out var d))
            return [new DecodedField("(payload)", Hex(record.Payload), []) { Typed = Raw(record.Payload) }];
        var c = record.Cursor;
        var fields = DecodeBody(ref c, d, (int)record.Version, schema, 0);
        if (c.Remaining != 0)
        {
            var trailing = c.ReadSpan(c.Remaining);
            fields.Add(new DecodedField("(trailing)", Hex(trailing), []) { Typed = Raw(trailing) });
        }
        return fields;
    }

    private static List<DecodedField> DecodeBody(ref RecordCursor c, SchemaDescription d, int version, KStateSchema schema, int depth)
    {
        if (depth > 16) Throw.Corrupt("records nest too deep to decode", c.Offset);
        var list = new List<DecodedField>();
        foreach (var f in d.Fields)
        {
            if (f.Kind == FieldKind.Deprecated)
            {
                if (version <= f.VersionId)
                {
                    int skipped = FieldBytes(f.Size, f.Count, c.Offset);
                    c.Skip(skipped);
                    list.Add(new DecodedField(f.Name, $"(deprecated: {f.Size * f.Count} bytes skipped)", []) { Typed = new(FieldValueKind.Deprecated) { Length = skipped } });
                }
                continue;
            }
            if (f.VersionId > version) continue;
            int n = f.Count;
            if (f.CountField is not null) n = (int)Math.Min(c.ReadUInt32(), int.MaxValue);
            list.Add(DecodeField(ref c, f, n, schema, depth));
        }
        while (c.TryReadNested(out var sub))
        {
            var inner = sub.Cursor;
            if (schema.Descriptions.TryGetValue(sub.StateId, out var s))
                list.Add(new DecodedField($"[{s.Name}]", $"subsection v{sub.Version}", DecodeBody(ref inner, s, (int)sub.Version, schema, depth + 1))
                    { Typed = new(FieldValueKind.Subsection) { Version = sub.Version, StateId = sub.StateId } });
            else
            {
                var raw = inner.ReadSpan(inner.Remaining);
                list.Add(new DecodedField($"[0x{sub.StateId:x16}]", $"unknown subsection v{sub.Version}: {Hex(raw)}", [])
                    { Typed = new(FieldValueKind.Subsection) { Version = sub.Version, StateId = sub.StateId, Bytes = raw.ToArray(), Length = raw.Length } });
            }
        }
        return list;
    }

    /// <summary>size × count from a schema (which may be hostile): more than the largest payload is damage, not an overflow.</summary>
    private static int FieldBytes(int size, int count, long at)
    {
        long bytes = (long)size * count;
        if (size < 0 || count < 0 || bytes > int.MaxValue) Throw.Corrupt($"a schema field of {count} x {size} bytes cannot fit a record", at);
        return (int)bytes;
    }

    private static DecodedField DecodeField(ref RecordCursor c, SchemaField f, int n, KStateSchema schema, int depth)
    {
        switch (f.Kind)
        {
            case FieldKind.Base:
                var bytes = c.ReadSpan(FieldBytes(f.Size, n, c.Offset));
                if (n == 1 && f.Size is 1 or 2 or 4 or 8)
                {
                    return new DecodedField(f.Name, Integer(bytes, f.Size), [])
                        { Typed = new(FieldValueKind.Integer) { Integer = LittleEndian(bytes, f.Size), Size = f.Size } };
                }
                return new DecodedField(f.Name, Text(bytes) ?? Hex(bytes), []) { Typed = Typed(bytes) };
            case FieldKind.Pointer:
                if (f.CountField is null) n = (int)c.ReadUInt32();
                if (n == 0) return new DecodedField(f.Name, "NULL", []) { Typed = new(FieldValueKind.Pointer) { Size = f.Size } };
                var blob = c.ReadBlobView(verify: true); // data segments are checked against their checksum too
                // A large blob is not copied: its length says what extract would write.
                byte[]? kept = blob.Length <= FieldValue.MaxPointerBytes ? new byte[blob.Length] : null;
                if (kept is not null) blob.CopyTo(kept);
                bool integer = n == 1 && f.Size is 1 or 2 or 4 or 8 && kept?.Length == f.Size; // one integer, as a base field of that size
                string? text = kept is null || integer ? null : Text(kept);
                var pointer = new FieldValue(FieldValueKind.Pointer)
                    { Size = f.Size, Count = n, Length = (int)blob.Length, Text = text?[1..^1], Bytes = text is null ? kept : null };
                if (blob.Length <= MaxShownBytes)
                    return new DecodedField(f.Name, $"-> {n} x {f.Size} bytes: {(integer ? Integer(kept, f.Size) : text ?? Hex(kept))}", []) { Typed = pointer };
                return new DecodedField(f.Name, $"-> {n} x {f.Size} bytes ({blob.Length} bytes)", []) { Typed = pointer };
            case FieldKind.KhoPointer:
            case FieldKind.Folio:
                var parts = new List<string>();
                var folios = new List<FolioValue>();
                var phys = new List<ulong>();
                for (int i = 0; i < n; i++)
                {
                    long at = c.Offset;
                    ulong v = c.ReadUInt64();
                    if (f.Kind == FieldKind.Folio)
                    {
                        ulong hash = c.ReadUInt64();
                        if (v != 0 && !c.FolioMatches(v, hash)) Throw.Corrupt($"{f.Name}: folio 0x{v & ~0xFFFUL:x} is missing or its contents do not match their checksum", at);
                    }
                    parts.Add(v == 0 ? "none" : f.Kind == FieldKind.Folio ? $"folio 0x{v & ~0xFFFUL:x} order {v & 0xFFF}" : $"phys 0x{v:x}");
                    if (f.Kind == FieldKind.Folio) folios.Add(new FolioValue(v & ~0xFFFUL, (int)(v & 0xFFF)));
                    else phys.Add(v);
                }
                return new DecodedField(f.Name, string.Join(", ", parts), [])
                    { Typed = f.Kind == FieldKind.Folio ? new(FieldValueKind.Folios) { Folios = folios } : new(FieldValueKind.Phys) { Phys = phys } };
            case FieldKind.Struct:
                var children = new List<DecodedField>();
                schema.Descriptions.TryGetValue(f.NestedId, out var nested);
                for (int i = 0; i < n; i++)
                {
                    if (!c.TryReadNested(out var rec)) Throw.Corrupt($"{f.Name}[{i}]: nested record missing", c.Offset);
                    var inner = rec.Cursor;
                    if (nested is null)
                    {
                        var raw = inner.ReadSpan(inner.Remaining);
                        children.Add(new DecodedField($"[{i}]", Hex(raw), []) { Typed = Raw(raw) });
                    }
                    else
                        children.Add(new DecodedField($"[{i}]", $"{nested.Name} v{rec.Version}", DecodeBody(ref inner, nested, (int)rec.Version, schema, depth + 1))
                            { Typed = new(FieldValueKind.Struct) { Version = rec.Version } });
                }
                return n == 1
                    ? new DecodedField(f.Name, children[0].Value, children[0].Children) { Typed = children[0].Typed }
                    : new DecodedField(f.Name, $"{n} structs", children) { Typed = new(FieldValueKind.Structs) { Count = n } };
            case FieldKind.PreservedStruct or FieldKind.PreservedArray:
                return DecodeInPlace(ref c, f, schema);
            case FieldKind.Custom:
                if (!c.TryReadNested(out var custom)) Throw.Corrupt($"{f.Name}: custom bytes missing", c.Offset);
                var cc = custom.Cursor;
                var customBytes = cc.ReadSpan(cc.Remaining);
                return new DecodedField(f.Name, $"custom: {Hex(customBytes)}", []) { Typed = new(FieldValueKind.Custom) { Bytes = customBytes.ToArray(), Length = customBytes.Length } };
            default:
                throw new KStateCorruptException($"{f.Name}: kind {f.Kind} cannot be decoded", c.Offset);
        }
    }

    /// <summary>A preserved field's place (docs/FORMAT.md, "Preserved struct and array fields"): its data is not in the
    /// stream, so only where it is and how many elements are shown.</summary>
    private static DecodedField DecodeInPlace(ref RecordCursor c, SchemaField f, KStateSchema schema)
    {
        var d = c.ReadSpan(InPlaceRecord.Bytes);
        uint memory = BinaryPrimitives.ReadUInt32LittleEndian(d);
        bool summed = (BinaryPrimitives.ReadUInt32LittleEndian(d[InPlaceRecord.FlagsAt..]) & InPlaceRecord.Checksummed) != 0;
        ulong count = BinaryPrimitives.ReadUInt64LittleEndian(d[InPlaceRecord.CountAt..]);
        ulong elementId = BinaryPrimitives.ReadUInt64LittleEndian(d[InPlaceRecord.ElementIdAt..]);
        uint version = BinaryPrimitives.ReadUInt32LittleEndian(d[InPlaceRecord.ElementVersionAt..]);
        uint stride = BinaryPrimitives.ReadUInt32LittleEndian(d[InPlaceRecord.ElementSizeAt..]);
        ulong phys = BinaryPrimitives.ReadUInt64LittleEndian(d[InPlaceRecord.PlaceAt..]);
        string element = schema.Descriptions.TryGetValue(elementId, out var e) ? e.Name : $"0x{elementId:x16}";
        string where = memory switch
        {
            InPlaceRecord.None => "NULL",
            InPlaceRecord.Folio => $"folio 0x{phys:x} order {BinaryPrimitives.ReadUInt32LittleEndian(d[(InPlaceRecord.PlaceAt + 8)..])}",
            InPlaceRecord.Vmalloc => $"vmalloc chunks at 0x{phys:x}, {BinaryPrimitives.ReadUInt32LittleEndian(d[(InPlaceRecord.PlaceAt + 8)..])} pages",
            _ => $"unknown memory kind {memory}",
        };
        string value = memory == InPlaceRecord.None ? "NULL" : $"in place: {count} x {stride} bytes of {element} v{version} in {where}, {(summed ? "checksummed" : "trusted")}";
        return new DecodedField(f.Name, value, []) { Typed = new(FieldValueKind.Phys) { Phys = [phys], Count = (int)Math.Min(count, int.MaxValue), Size = (int)Math.Min(stride, int.MaxValue) } };
    }

    private static ulong LittleEndian(ReadOnlySpan<byte> bytes, int size) => size switch
    {
        1 => bytes[0], 2 => BinaryPrimitives.ReadUInt16LittleEndian(bytes), 4 => BinaryPrimitives.ReadUInt32LittleEndian(bytes), _ => BinaryPrimitives.ReadUInt64LittleEndian(bytes),
    };

    /// <summary>"42 (0x2a)"; negative when the top bit is set, "-1 (0xffffffff)" (the schema does not say signed).</summary>
    private static string Integer(ReadOnlySpan<byte> bytes, int size)
    {
        ulong v = LittleEndian(bytes, size);
        long signed = size switch { 1 => (sbyte)v, 2 => (short)v, 4 => (int)v, _ => (long)v };
        return signed < 0 ? $"{signed} (0x{v:x})" : $"{v} (0x{v:x})";
    }

    private static FieldValue Raw(ReadOnlySpan<byte> bytes) => new(FieldValueKind.Bytes) { Bytes = bytes.ToArray(), Length = bytes.Length };

    /// <summary>Text when the bytes are printable ASCII (NUL-padded), else bytes.</summary>
    private static FieldValue Typed(ReadOnlySpan<byte> bytes) =>
        Text(bytes) is { } text ? new(FieldValueKind.Text) { Text = text[1..^1], Length = bytes.Length } : Raw(bytes);

    /// <summary>Printable ASCII (NUL-padded) as a quoted string, or null.</summary>
    private static string? Text(ReadOnlySpan<byte> bytes)
    {
        int end = bytes.IndexOf((byte)0);
        var text = end < 0 ? bytes : bytes[..end];
        if (text.Length == 0 || text.ContainsAnyExceptInRange((byte)0x20, (byte)0x7E) || (end >= 0 && bytes[end..].ContainsAnyExcept((byte)0))) return null;
        return "\"" + Encoding.ASCII.GetString(text) + "\"";
    }

    private static string Hex(ReadOnlySpan<byte> bytes) =>
        bytes.Length <= MaxShownBytes ? Convert.ToHexString(bytes).ToLowerInvariant() : Convert.ToHexString(bytes[..MaxShownBytes]).ToLowerInvariant() + $"... ({bytes.Length} bytes)";
}
