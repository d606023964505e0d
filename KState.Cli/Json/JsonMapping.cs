using System.Globalization;
using System.Text.Json.Nodes;
using KState.Inspection;

namespace KState.Cli.Json;

/// <summary>The report types turned into their JSON shapes (docs/JSON.md).</summary>
internal static class JsonMapping
{
    /// <summary>Integers above this are not exact in a double, so JSON gets them as strings.</summary>
    private const ulong MaxExact = 1UL << 53;

    public static string Hex(ulong v) => $"0x{v:x}";

    public static BootJson Boot(KhoBootStatus s) =>
        new(s.KindName, s.Generation, s.Part, s.Offset is { } o ? Hex(o) : null, s.Error?.ToString(), s.Reason);

    /// <summary>A number when a double holds it exactly, else its decimal text.</summary>
    public static JsonNode Exact(ulong v) => v <= MaxExact ? JsonValue.Create(v) : JsonValue.Create(v.ToString(CultureInfo.InvariantCulture));

    private static JsonNode Exact(long v) => v >= -(long)MaxExact ? JsonValue.Create(v) : JsonValue.Create(v.ToString(CultureInfo.InvariantCulture));

    private static string HexBytes(byte[] bytes) => Convert.ToHexStringLower(bytes);

    public static IReadOnlyList<FieldJson> Fields(IReadOnlyList<DecodedField> fields) => [.. fields.Select(Field)];

    private static FieldJson Field(DecodedField f)
    {
        var v = f.Typed;
        IReadOnlyList<FieldJson>? children = f.Children.Count == 0 && v.Kind is not (FieldValueKind.Struct or FieldValueKind.Structs or FieldValueKind.Subsection)
            ? null : Fields(f.Children);
        switch (v.Kind)
        {
            case FieldValueKind.Integer:
                int bits = v.Size * 8;
                bool negative = (v.Integer >> (bits - 1) & 1) != 0;
                long signed = bits == 64 ? (long)v.Integer : (long)(v.Integer | (negative ? ~0UL << bits : 0));
                return new FieldJson(f.Name, "integer") { Value = Exact(v.Integer), Hex = Hex(v.Integer), Size = v.Size, Signed = negative ? Exact(signed) : null };
            case FieldValueKind.Text:
                return new FieldJson(f.Name, "text") { Value = JsonValue.Create(v.Text), Length = v.Length };
            case FieldValueKind.Pointer when v.Count == 1 && v.Size is 1 or 2 or 4 or 8 && v.Bytes?.Length == v.Size:
                ulong pointee = 0;
                for (int i = v.Size - 1; i >= 0; i--) pointee = pointee << 8 | v.Bytes[i]; // little-endian
                return new FieldJson(f.Name, "pointer") { Value = Exact(pointee), Hex = Hex(pointee), Size = v.Size, Count = 1, Length = v.Length };
            case FieldValueKind.Pointer:
                JsonNode? value = v.Text is not null ? JsonValue.Create(v.Text) : v.Bytes is not null ? JsonValue.Create(HexBytes(v.Bytes)) : null;
                return new FieldJson(f.Name, "pointer") { Value = value, Text = v.Count == 0 ? null : v.Text is not null, Size = v.Size, Count = v.Count, Length = v.Length };
            case FieldValueKind.Folios:
                return new FieldJson(f.Name, "folios") { Folios = [.. v.Folios!.Select(x => new FolioJson(Hex(x.Phys), x.Order))] };
            case FieldValueKind.Phys:
                return new FieldJson(f.Name, "phys") { Phys = [.. v.Phys!.Select(Hex)] };
            case FieldValueKind.Struct:
                return new FieldJson(f.Name, "struct") { Version = v.Version, Fields = children };
            case FieldValueKind.Structs:
                return new FieldJson(f.Name, "structs") { Count = v.Count, Fields = children };
            case FieldValueKind.Subsection:
                return v.Bytes is null
                    ? new FieldJson(f.Name, "subsection") { Version = v.Version, StateId = Hex(v.StateId), Fields = children }
                    : new FieldJson(f.Name, "subsection") { Version = v.Version, StateId = Hex(v.StateId), Value = JsonValue.Create(HexBytes(v.Bytes)), Length = v.Length };
            case FieldValueKind.Custom:
                return new FieldJson(f.Name, "custom") { Value = JsonValue.Create(HexBytes(v.Bytes!)), Length = v.Length };
            case FieldValueKind.Deprecated:
                return new FieldJson(f.Name, "deprecated") { Length = v.Length };
            default:
                return new FieldJson(f.Name, "bytes") { Value = JsonValue.Create(HexBytes(v.Bytes ?? [])), Length = v.Bytes?.Length ?? 0 };
        }
    }

    public static SchemaJson Schema(string source, KStateSchema schema) =>
        new(source, [.. schema.Descriptions.Values.OrderBy(d => d.Name, StringComparer.Ordinal).ThenBy(d => d.Id).Select(d =>
            new SchemaDescriptionJson(d.Name, Hex(d.Id), d.VersionId, d.MinVersionId, d.Size,
                [.. d.Fields.Select(f => new SchemaFieldJson(f.Name, KindName(f.Kind), f.Offset, f.Size, f.Count, f.VersionId, f.CountField,
                    f.NestedId == 0 ? null : Hex(f.NestedId)))],
                [.. d.SubsectionIds.Select(Hex)]))]);

    public static string KindName(FieldKind kind) => kind.ToString().ToLowerInvariant();
}
