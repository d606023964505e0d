using System.Text;
using KState.Core.Ids;

namespace KState;

/// <summary>For a subsection: whether to send it for this object.</summary>
public unsafe delegate bool NeededHook(byte* obj);

/// <summary>Runs before an object is saved; non-zero aborts the save (the stream is left as it was).</summary>
public unsafe delegate int PreSaveHook(byte* obj);

/// <summary>Runs after an object's fields and subsections are restored; non-zero fails the restore (the object's bytes are put back).</summary>
public unsafe delegate int PostLoadHook(byte* obj, int versionId);

/// <summary>
/// A description of a blittable struct (the C ABI's <c>struct kstate_description</c>): what to save, field by
/// field, and which versions it can read. Immutable; validated and compiled into save/restore plans when created.
/// Build one with <see cref="KStateDescriptionBuilder{T}"/>.
/// </summary>
public partial class KStateDescription
{
    private protected KStateDescription(string name, ulong id, int versionId, int minVersionId, int size, KStateField[] fields,
        KStateDescription[] subsections, NeededHook? needed, PreSaveHook? preSave, PostLoadHook? postLoad)
    {
        Name = name;
        Id = id;
        VersionId = versionId;
        MinVersionId = minVersionId;
        Size = size;
        Fields = fields;
        Subsections = subsections;
        Needed = needed;
        PreSave = preSave;
        PostLoad = postLoad;
        _plans = new Plan?[(long)versionId - minVersionId + 1 is > 0 and <= MaxReadableVersions + 1 ? versionId - minVersionId + 1 : 0];
        _customIds = new ulong[fields.Length];
        _layoutIds = new ulong[fields.Length];
    }

    /// <summary>How many nested records deep a record of this description goes (0: none).</summary>
    internal int NestingDepth { get; private set; }

    /// <summary>Per field, the id of its name (custom fields only): a custom field's nested record carries it.</summary>
    private readonly ulong[] _customIds;

    /// <summary>Instance id of a custom field's nested record: the id of the field's name, so that fields added or
    /// removed before it do not move it (docs/FORMAT.md, "Fields in a payload").</summary>
    internal ulong CustomId(int fieldIndex) => _customIds[fieldIndex];

    /// <summary>The most versions one description can read (version_id - min_version_id).</summary>
    public const int MaxReadableVersions = 4096;

    /// <summary>The description's name.</summary>
    public string Name { get; }

    /// <summary>State id: records of this description carry it.</summary>
    public ulong Id { get; }

    /// <summary>The version written.</summary>
    public int VersionId { get; }

    /// <summary>The oldest version this description can read.</summary>
    public int MinVersionId { get; }

    /// <summary>Size of the struct in bytes.</summary>
    public int Size { get; }

    /// <summary>Fields in save order.</summary>
    public IReadOnlyList<KStateField> Fields { get; }

    /// <summary>Subsections: descriptions of the same object, sent when their <see cref="Needed"/> says so.</summary>
    public IReadOnlyList<KStateDescription> Subsections { get; }

    /// <summary>For a subsection: send it only when this returns true (null = always).</summary>
    public NeededHook? Needed { get; }

    /// <summary>Runs before save.</summary>
    public PreSaveHook? PreSave { get; }

    /// <summary>Runs after restore.</summary>
    public PostLoadHook? PostLoad { get; }

    /// <summary>
    /// Validates and compiles a description. Fields may end with one <see cref="FieldKind.End"/> field, as a C list does.
    /// </summary>
    /// <exception cref="KStateInvalidException">Anything is wrong; the message names the description and the member.</exception>
    public static KStateDescription Create(string name, ulong id, int versionId, int minVersionId, int size,
        IEnumerable<KStateField> fields, IEnumerable<KStateDescription>? subsections = null,
        NeededHook? needed = null, PreSaveHook? preSave = null, PostLoadHook? postLoad = null)
    {
        var list = new List<KStateField>();
        bool ended = false;
        foreach (var f in fields)
        {
            if (ended) Invalid(name, $"field '{f.Name}' follows the end of the list");
            if (f.Kind == FieldKind.End) ended = true;
            else list.Add(f);
        }
        var subs = subsections?.ToArray() ?? [];
        var d = new KStateDescription(name, id, versionId, minVersionId, size, [.. list], subs, needed, preSave, postLoad);
        d.Validate();
        return d;
    }

    /// <summary>Creates a description whose id is the id of its name (see <see cref="KStateId"/>).</summary>
    public static KStateDescription Create(string name, int versionId, int minVersionId, int size, IEnumerable<KStateField> fields,
        IEnumerable<KStateDescription>? subsections = null, NeededHook? needed = null, PreSaveHook? preSave = null, PostLoadHook? postLoad = null) =>
        Create(name, KStateId.FromName(name), versionId, minVersionId, size, fields, subsections, needed, preSave, postLoad);

    private void Validate()
    {
        if (string.IsNullOrEmpty(Name)) Invalid("(unnamed)", "a description needs a name");
        if (Id == 0) Invalid(Name, "state id 0 is reserved");
        if (Encoding.UTF8.GetByteCount(Name) > NameTable.MaxNameBytes) Invalid(Name, $"the name has {Encoding.UTF8.GetByteCount(Name)} UTF-8 bytes; a stream's names table holds at most {NameTable.MaxNameBytes}");
        if (MinVersionId < 0 || VersionId < MinVersionId) Invalid(Name, $"versions must satisfy 0 <= min_version_id ({MinVersionId}) <= version_id ({VersionId})");
        if ((long)VersionId - MinVersionId > MaxReadableVersions) Invalid(Name, $"more than {MaxReadableVersions} readable versions");
        if (Size <= 0) Invalid(Name, $"struct size {Size} must be positive");
        var names = new HashSet<string>(StringComparer.Ordinal);
        var extents = new List<(long Start, long End, string Name)>();
        var earlier = new Dictionary<string, KStateField>(StringComparer.Ordinal);
        foreach (var f in Fields)
        {
            if (string.IsNullOrEmpty(f.Name)) Invalid(Name, "a field has no name");
            if (Encoding.UTF8.GetByteCount(f.Name) > NameTable.MaxNameBytes) Invalid(Name, $"field '{f.Name}': a name has at most {NameTable.MaxNameBytes} UTF-8 bytes");
            if (!names.Add(f.Name)) Invalid(Name, $"field '{f.Name}' appears twice");
            if (f.Size <= 0) Invalid(Name, $"field '{f.Name}': size {f.Size} must be positive");
            if (f.Count < 1) Invalid(Name, $"field '{f.Name}': count {f.Count} must be at least 1");
            if (f.VersionId < 0) Invalid(Name, $"field '{f.Name}': version {f.VersionId} is negative");
            CheckFieldBytes(f);
            ValidateKind(f);
            if (f.CountField is not null) ValidateCountField(f, earlier);
            if (f.Kind != FieldKind.Deprecated)
            {
                if (f.VersionId > VersionId) Invalid(Name, $"field '{f.Name}' appears in version {f.VersionId}, after this description's version {VersionId}");
                if (f.Offset < 0 || f.Offset + f.Extent > Size)
                    Invalid(Name, $"field '{f.Name}' at offset {f.Offset} with {f.Extent} bytes lies outside the {Size}-byte struct");
                foreach (var (start, end, other) in extents)
                    if (f.Offset < end && start < f.Offset + f.Extent) Invalid(Name, $"field '{f.Name}' overlaps field '{other}'");
                extents.Add((f.Offset, f.Offset + f.Extent, f.Name));
            }
            else if (f.VersionId < 1 || f.VersionId >= VersionId)
            {
                Invalid(Name, $"deprecated field '{f.Name}': its last version {f.VersionId} must be at least 1 and below version_id {VersionId}");
            }
            earlier[f.Name] = f;
        }
        for (int i = 0; i < Fields.Count; i++)
        {
            if (Fields[i].Kind == FieldKind.Custom) _customIds[i] = KStateId.FromName(Fields[i].Name);
            if (Fields[i].Kind is FieldKind.PreservedStruct or FieldKind.PreservedArray)
            {
                ValidateCountMember(Fields[i]);
                _layoutIds[i] = InPlaceLayout.Of(Fields[i].Size, Fields[i].Nested!);
            }
        }
        var ids = new HashSet<ulong>();
        foreach (var f in Fields)
        {
            if (f.Kind == FieldKind.Struct) NestingDepth = Math.Max(NestingDepth, 1 + f.Nested!.NestingDepth);
            else if (f.Kind == FieldKind.Custom) NestingDepth = Math.Max(NestingDepth, 1); // what the callback nests inside is its own
        }
        foreach (var s in Subsections)
        {
            if (s is null) Invalid(Name, "a subsection is null");
            NestingDepth = Math.Max(NestingDepth, 1 + s.NestingDepth);
            if (s.Size > Size) Invalid(Name, $"subsection '{s.Name}' describes {s.Size} bytes, more than the {Size}-byte struct");
            if (!ids.Add(s.Id)) Invalid(Name, $"subsection '{s.Name}' has the id of another subsection");
        }
        // Checked here, once, so that whether a description is valid never depends on how it is first used.
        if (NestingDepth > Core.Records.Format.MaxNesting)
            Invalid(Name, $"nested structs and subsections go {NestingDepth} records deep; a record nests at most {Core.Records.Format.MaxNesting} deep (docs/FORMAT.md)");
    }

    /// <summary>The most payload bytes one record can hold: the largest segment less its header, the record's header and
    /// the room kept for the end marker (RecordWriter.Grow).</summary>
    internal const int MaxRecordPayload = (Kho.PageSize << Core.Records.Format.MaxSegmentOrder) - Core.Records.Format.SegmentHeaderBytes
        - 2 * Core.Records.Format.RecordHeaderBytes - 16 - 64;

    /// <summary>Refuses a field whose bytes overflow or could never fit a record (a pointee goes out of line as a blob,
    /// bounded by a span's length).</summary>
    private void CheckFieldBytes(KStateField f)
    {
        long bytes = f.Kind switch
        {
            FieldKind.Folio => 16L * f.Count, // handle and checksum
            FieldKind.KhoPointer => 8L * f.Count,
            FieldKind.PreservedStruct or FieldKind.PreservedArray => InPlaceRecord.Bytes, // the place, never the data
            _ => (long)f.Size * f.Count,
        };
        long limit = f.Kind is FieldKind.Pointer ? int.MaxValue : MaxRecordPayload;
        if (bytes > limit)
            Invalid(Name, $"field '{f.Name}': {f.Count} elements of {f.Size} bytes make {bytes} bytes; at most {limit} fit {(f.Kind is FieldKind.Pointer ? "a pointee" : "a record")}");
    }

    private void ValidateKind(KStateField f)
    {
        switch (f.Kind)
        {
            case FieldKind.Base or FieldKind.Pointer or FieldKind.Deprecated:
                break;
            case FieldKind.Folio:
                if (f.Size != 8) Invalid(Name, $"folio field '{f.Name}' must be 8 bytes (a folio handle)");
                break;
            case FieldKind.KhoPointer:
                break;
            case FieldKind.Struct:
                if (f.Nested is null) Invalid(Name, $"struct field '{f.Name}' has no nested description");
                if (f.Nested.Size != f.Size) Invalid(Name, $"struct field '{f.Name}' is {f.Size} bytes but its description '{f.Nested.Name}' describes {f.Nested.Size}");
                break;
            case FieldKind.PreservedStruct or FieldKind.PreservedArray:
                ValidateInPlace(f);
                break;
            case FieldKind.Custom:
                if (f.Save is null || f.Restore is null) Invalid(Name, $"custom field '{f.Name}' needs both a save and a restore callback");
                if (f.CountField is not null) Invalid(Name, $"custom field '{f.Name}' cannot take a count field");
                break;
            default:
                Invalid(Name, $"field '{f.Name}' has unknown kind {(int)f.Kind}");
                break;
        }
        if (f.Kind is not (FieldKind.Struct or FieldKind.PreservedStruct or FieldKind.PreservedArray) && f.Nested is not null)
            Invalid(Name, $"field '{f.Name}' is not a struct field but has a nested description");
        if (f.Kind != FieldKind.PreservedArray && f.CountSize != 0) Invalid(Name, $"field '{f.Name}' is not a preserved array but has a count member");
        if (f.Kind != FieldKind.Custom && (f.Save is not null || f.Restore is not null)) Invalid(Name, $"field '{f.Name}' is not custom but has callbacks");
    }

    private void ValidateCountField(KStateField f, Dictionary<string, KStateField> earlier)
    {
        if (f.Kind == FieldKind.Deprecated) Invalid(Name, $"deprecated field '{f.Name}' cannot take a count field");
        if (!earlier.TryGetValue(f.CountField!, out var c))
            Invalid(Name, $"field '{f.Name}': count field '{f.CountField}' is not an earlier field");
        if (c.Kind != FieldKind.Base || c.Count != 1 || c.Size is not (1 or 2 or 4 or 8) || c.CountField is not null)
            Invalid(Name, $"field '{f.Name}': count field '{f.CountField}' must be a single unsigned integer of 1, 2, 4 or 8 bytes");
        if (c.VersionId > f.VersionId) Invalid(Name, $"field '{f.Name}': count field '{f.CountField}' is newer than the field");
    }

    [System.Diagnostics.CodeAnalysis.DoesNotReturn]
    internal static void Invalid(string description, string what) =>
        Throw.Invalid($"invalid description '{description}': {what}");

    /// <inheritdoc/>
    public override string ToString() => $"{Name} (0x{Id:x16}) v{VersionId} (reads {MinVersionId}..{VersionId}), {Size} bytes, {Fields.Count} fields";
}
