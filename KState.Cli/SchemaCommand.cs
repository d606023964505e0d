using System.Text.Json;
using KState.Cli.Json;
using KState.Inspection;

namespace KState.Cli;

/// <summary><c>kstate schema FILE|REGION [--json]</c>: the descriptions a region's KSTATE stream or a schema file holds.</summary>
internal static class SchemaCommand
{
    /// <summary>Exit 0 printed, 2 when the schema cannot be read (the reason on standard error).</summary>
    public static int Run(string path, bool json, TextWriter stdout, TextWriter stderr)
    {
        KStateSchema schema;
        try
        {
            schema = Compat.Load(path, stderr);
        }
        catch (Exception e) when (e is KStateException or IOException or UnauthorizedAccessException)
        {
            stderr.WriteLine($"kstate: cannot read the schema of {path}: {e.Message}");
            return App.UsageOrIo;
        }
        var shape = JsonMapping.Schema(path, schema);
        if (json)
        {
            stdout.WriteLine(JsonSerializer.Serialize(shape, CliJson.Default.SchemaJson));
            return App.Ok;
        }
        var names = shape.Descriptions.ToDictionary(d => d.Id, d => d.Name);
        string Named(string id) => names.TryGetValue(id, out var n) ? $"{n} ({id})" : id;
        stdout.WriteLine($"schema of {path}: {shape.Descriptions.Count} descriptions");
        foreach (var d in shape.Descriptions)
        {
            stdout.WriteLine($"description \"{d.Name}\" id {d.Id}: version {d.VersionId} (reads {d.MinVersionId} and later), {d.Size} bytes");
            foreach (var f in d.Fields)
            {
                string count = f.CountField is not null ? $" x [{f.CountField}]" : f.Count > 1 ? $" x {f.Count}" : "";
                string since = f.VersionId == 0 ? "" : f.Kind == "deprecated" ? $", until v{f.VersionId}" : $", since v{f.VersionId}";
                string nested = f.Nested is null ? "" : $", of {Named(f.Nested)}";
                stdout.WriteLine($"  {f.Name}: {f.Kind}, offset {f.Offset}, {f.Size} bytes{count}{since}{nested}");
            }
            foreach (var sub in d.Subsections) stdout.WriteLine($"  subsection {Named(sub)}");
        }
        return App.Ok;
    }
}
