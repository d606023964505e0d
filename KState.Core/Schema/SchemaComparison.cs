namespace KState;

/// <summary>One reason the next version could not restore what this one saves.</summary>
/// <param name="Description">The description concerned.</param>
/// <param name="Field">The field concerned, or null.</param>
/// <param name="Problem">What would break.</param>
public sealed record Incompatibility(string Description, string? Field, string Problem)
{
    /// <inheritdoc/>
    public override string ToString() => Field is null ? $"{Description}: {Problem}" : $"{Description}.{Field}: {Problem}";
}

/// <summary>Compares the schema a version saves with the schema the next version restores with.</summary>
public static class SchemaComparison
{
    /// <summary>
    /// Lists everything that would break if records saved under <paramref name="saver"/> were restored by
    /// <paramref name="restorer"/>: a description that disappeared, a version outside the reader's range, a field
    /// whose size, count or kind changed, a field removed without being marked deprecated, a field added without a
    /// newer version, and the same for nested descriptions and subsections. Empty means compatible.
    /// </summary>
    public static IReadOnlyList<Incompatibility> Compare(KStateSchema saver, KStateSchema restorer)
    {
        var problems = new List<Incompatibility>();
        foreach (var old in saver.Descriptions.Values.OrderBy(d => d.Name, StringComparer.Ordinal))
        {
            if (!restorer.Descriptions.TryGetValue(old.Id, out var next))
            {
                problems.Add(new(old.Name, null, "no longer described: its records would not be restored"));
                continue;
            }
            CompareOne(old, next, problems);
        }
        return problems;
    }

    private static void CompareOne(SchemaDescription old, SchemaDescription next, List<Incompatibility> problems)
    {
        int v = old.VersionId;
        if (v > next.VersionId || v < next.MinVersionId)
        {
            problems.Add(new(old.Name, null, $"saves version {v}; the next version reads {next.MinVersionId} to {next.VersionId}"));
            return;
        }
        // What the saver writes at its version, and what the reader expects in a record of that version, in order.
        var written = old.Fields.Where(f => f.Kind != FieldKind.Deprecated && f.VersionId <= v).ToList();
        var expected = next.Fields.Where(f => f.Kind == FieldKind.Deprecated ? v <= f.VersionId : f.VersionId <= v).ToList();
        int i = 0, j = 0;
        while (i < written.Count || j < expected.Count)
        {
            var w = i < written.Count ? written[i] : null;
            var e = j < expected.Count ? expected[j] : null;
            if (w is not null && e is not null && (w.Name == e.Name || e.Kind == FieldKind.Deprecated))
            {
                if (e.Kind == FieldKind.Deprecated)
                {
                    if (Bytes(w) != (long)e.Size * e.Count)
                        problems.Add(new(old.Name, w.Name, $"deprecated as {e.Size * e.Count} bytes but saved as {Bytes(w)}"));
                }
                else if (w.Kind != e.Kind) problems.Add(new(old.Name, w.Name, $"kind changed from {w.Kind} to {e.Kind}"));
                else if (w.Size != e.Size && w.Kind is not (FieldKind.PreservedStruct or FieldKind.PreservedArray)) // in place: converted, the element description compared on its own
                    problems.Add(new(old.Name, w.Name, $"size changed from {w.Size} to {e.Size}"));
                else if (w.Count != e.Count && (w.CountField is null || e.CountField is null)) problems.Add(new(old.Name, w.Name, $"count changed from {w.Count} to {e.Count}"));
                else if (w.Count > e.Count) problems.Add(new(old.Name, w.Name, $"may hold {w.Count} elements; the next version holds {e.Count}"));
                else if ((w.CountField is null) != (e.CountField is null)) problems.Add(new(old.Name, w.Name, "changed between a fixed and a counted array"));
                else if (w.NestedId != e.NestedId) problems.Add(new(old.Name, w.Name, "nested description changed"));
                i++;
                j++;
            }
            else if (w is not null && (e is null || !expected.Skip(j).Any(x => x.Name == w.Name)))
            {
                problems.Add(new(old.Name, w.Name, "removed without being marked deprecated"));
                i++;
            }
            else
            {
                problems.Add(new(old.Name, e!.Name, $"added at version {e.VersionId}, but records of version {v} do not carry it (give it a newer version)"));
                j++;
            }
        }
    }

    /// <summary>Bytes a base field takes in a record (for matching a deprecated field).</summary>
    private static long Bytes(SchemaField f) => f.Kind switch
    {
        FieldKind.Folio => 16L * f.Count,       // handle and contents checksum
        FieldKind.KhoPointer => 8L * f.Count,
        FieldKind.PreservedStruct or FieldKind.PreservedArray => InPlaceRecord.Bytes, // the place, never the data
        _ => (long)f.Size * f.Count,
    };
}
