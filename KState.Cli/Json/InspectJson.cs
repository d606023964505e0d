using System.Text.Json.Nodes;

namespace KState.Cli.Json;

// The JSON shapes of `kstate inspect --json` and `kstate schema --json` (docs/JSON.md). Property names are written in
// snake_case by the generated serializer (CliJson). 64-bit ids, instance ids, tokens and phys values are strings
// "0x..." (JSON tools read numbers as doubles, which cannot hold them); counts and sizes are numbers.

/// <summary>The boot outcome a boot of the region now would have.</summary>
internal sealed record BootJson(string Kind, ulong Generation, string? Part, string? Offset, string? Error, string Reason);

internal sealed record ScratchJson(string Phys, ulong Size);

internal sealed record SlotJson(int Index, string State, ulong Generation, string? Problem);

internal sealed record SubtreeJson(string Name, string Phys, ulong Size);

internal sealed record BlockJson(string Phys, int Order, bool Range);

internal sealed record FolioJson(string Phys, int Order);

/// <summary>A decoded field: <see cref="Type"/> says which members are set (docs/JSON.md, "Fields").</summary>
internal sealed record FieldJson(string Name, string Type)
{
    /// <summary>integer: a number when exact in a double, else a decimal string; text: a string; bytes, custom,
    /// pointer: the bytes as lowercase hex (pointer: or its text); null for a NULL pointer.</summary>
    public JsonNode? Value { get; init; }
    public string? Hex { get; init; }
    public JsonNode? Signed { get; init; }
    public int? Size { get; init; }
    public int? Count { get; init; }
    public int? Length { get; init; }
    public bool? Text { get; init; }
    public uint? Version { get; init; }
    public string? StateId { get; init; }
    public IReadOnlyList<FolioJson>? Folios { get; init; }
    public IReadOnlyList<string>? Phys { get; init; }
    public IReadOnlyList<FieldJson>? Fields { get; init; }
}

internal sealed record RecordJson(string Type, string StateId, string? State, string Instance, uint Version, int Bytes, IReadOnlyList<FieldJson> Fields);

internal sealed record StreamJson(string Name, int Segments, int Records, ulong Bytes, IReadOnlyList<RecordJson> Live);

internal sealed record LiveUpdateJson(ulong Count, string Version, DateTime FinalizedAt);

internal sealed record ItemJson(string Token, string Kind, string Compatible, string RecordId, uint? Version, int? Bytes,
    IReadOnlyList<string> Shared, IReadOnlyList<FieldJson>? Fields);

internal sealed record SessionJson(string Name, string Stream, IReadOnlyList<ItemJson> Items);

internal sealed record SharedDataJson(string Compatible, string Instance, uint Users, int? Bytes);

/// <summary>`kstate inspect --json`: one object.</summary>
internal sealed record InspectJson(string Region, ulong? Size, string Status, bool Valid, string? Problem, BootJson Boot, ulong Generation,
    ScratchJson? Scratch, IReadOnlyList<SlotJson> Slots, IReadOnlyList<SubtreeJson> Subtrees, IReadOnlyList<BlockJson> Preserved,
    IReadOnlyList<StreamJson> Streams, LiveUpdateJson? LiveUpdate, IReadOnlyList<SessionJson> Sessions,
    IReadOnlyList<SharedDataJson> SharedData, IReadOnlyList<string> SessionProblems)
{
    /// <summary>What backs the region (absent when busy).</summary>
    public BackingJson? Backing { get; init; }
}

/// <summary>The region's backing: file system and the page size the kernel maps it with.</summary>
internal sealed record BackingJson(string FileSystem, ulong PageSize, string Description);

internal sealed record SchemaFieldJson(string Name, string Kind, int Offset, int Size, int Count, int VersionId, string? CountField, string? Nested);

internal sealed record SchemaDescriptionJson(string Name, string Id, int VersionId, int MinVersionId, int Size,
    IReadOnlyList<SchemaFieldJson> Fields, IReadOnlyList<string> Subsections);

/// <summary>`kstate schema --json`: one object.</summary>
internal sealed record SchemaJson(string Source, IReadOnlyList<SchemaDescriptionJson> Descriptions);
