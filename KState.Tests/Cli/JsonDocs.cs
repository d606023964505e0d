using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using KState.Tests.Native;

namespace KState.Tests.Cli;

/// <summary>
/// The JSON shapes docs/JSON.md documents, read from its tables (<c>| property | type | presence | meaning |</c>
/// under a <c>### Name</c> heading), and a checker of a JSON value against them: every property documented, of its
/// type, every required one there, nothing null.
/// </summary>
internal sealed partial class JsonDocs
{
    private readonly Dictionary<string, Dictionary<string, (string Type, bool Required)>> _objects = [];

    public IReadOnlyCollection<string> Objects => _objects.Keys;

    public static JsonDocs Load()
    {
        var docs = new JsonDocs();
        string? current = null;
        bool inTable = false;
        foreach (var line in File.ReadAllLines(Path.Combine(NativeToolchain.Root(), "docs", "JSON.md")))
        {
            if (line.StartsWith("### ", StringComparison.Ordinal))
            {
                current = line[4..].Trim();
                inTable = false;
                continue;
            }
            if (line.StartsWith("| property | type | presence |", StringComparison.Ordinal))
            {
                inTable = current is not null;
                docs._objects[current!] = [];
                continue;
            }
            if (!line.StartsWith('|')) inTable = false;
            if (!inTable) continue;
            var cells = Cell().Split(line.Trim().Trim('|')).Select(c => c.Trim().Replace("\\|", "|", StringComparison.Ordinal)).ToArray();
            if (cells[0].StartsWith("---", StringComparison.Ordinal)) continue;
            docs._objects[current!][cells[0].Trim('`')] = (cells[1], cells[2] == "required");
        }
        return docs;
    }

    /// <summary>Everything wrong with <paramref name="value"/> as an object of <paramref name="shape"/>.</summary>
    public List<string> Check(JsonElement value, string shape)
    {
        var errors = new List<string>();
        CheckType(value, shape, "$", errors);
        return errors;
    }

    private void CheckType(JsonElement v, string type, string path, List<string> errors)
    {
        bool ok = type switch
        {
            "string" => v.ValueKind == JsonValueKind.String,
            "number" => v.ValueKind == JsonValueKind.Number,
            "boolean" => v.ValueKind is JsonValueKind.True or JsonValueKind.False,
            "hex" => v.ValueKind == JsonValueKind.String && HexId().IsMatch(v.GetString()!),
            "hexbytes" => v.ValueKind == JsonValueKind.String && HexBytes().IsMatch(v.GetString()!),
            // A number, or a decimal string only where a double would not be exact, or text (a field's value).
            "number|string" => v.ValueKind == JsonValueKind.Number ? Exact(v) : v.ValueKind == JsonValueKind.String,
            "datetime" => v.ValueKind == JsonValueKind.String && DateTimeOffset.TryParse(v.GetString(), CultureInfo.InvariantCulture, out _) && v.GetString()!.EndsWith('Z'),
            _ when type.StartsWith('[') => v.ValueKind == JsonValueKind.Array,
            _ when _objects.ContainsKey(type) => v.ValueKind == JsonValueKind.Object,
            _ => throw new InvalidOperationException($"docs/JSON.md names an unknown type '{type}' at {path}"),
        };
        if (!ok)
        {
            errors.Add($"{path}: {v.ValueKind} {v.GetRawText()} is not {type}");
            return;
        }
        if (type.StartsWith('['))
        {
            int i = 0;
            foreach (var e in v.EnumerateArray()) CheckType(e, type[1..^1], $"{path}[{i++}]", errors);
        }
        else if (_objects.TryGetValue(type, out var properties))
        {
            foreach (var p in v.EnumerateObject())
            {
                if (!properties.TryGetValue(p.Name, out var doc)) errors.Add($"{path}.{p.Name}: not documented for {type}");
                else if (p.Value.ValueKind == JsonValueKind.Null) errors.Add($"{path}.{p.Name}: null (optional properties are left out instead)");
                else CheckType(p.Value, doc.Type, $"{path}.{p.Name}", errors);
            }
            foreach (var (name, doc) in properties)
                if (doc.Required && !v.TryGetProperty(name, out _)) errors.Add($"{path}: required {type}.{name} is missing");
        }
    }

    /// <summary>A JSON number the writer may emit: an integer within ±2^53 (larger ones must be strings).</summary>
    private static bool Exact(JsonElement v) =>
        v.TryGetInt64(out long n) ? n >= -(1L << 53) && n <= 1L << 53 : v.TryGetUInt64(out ulong u) && u <= 1UL << 53;

    [GeneratedRegex(@"(?<!\\)\|")]
    private static partial Regex Cell();

    [GeneratedRegex("^0x[0-9a-f]+$")]
    private static partial Regex HexId();

    [GeneratedRegex("^([0-9a-f]{2})*$")]
    private static partial Regex HexBytes();
}
