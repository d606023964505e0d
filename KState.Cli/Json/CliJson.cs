using System.Text.Json.Serialization;

namespace KState.Cli.Json;

/// <summary>The tool's JSON, serialized by generated code only (no reflection: the tool is published Native AOT).</summary>
[JsonSourceGenerationOptions(WriteIndented = true, PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(InspectJson))]
[JsonSerializable(typeof(SchemaJson))]
internal sealed partial class CliJson : JsonSerializerContext;
