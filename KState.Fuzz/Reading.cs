namespace KState.Fuzz;

/// <summary>Reads a region the way kstate inspect and verify do, touching every part of what comes back.</summary>
internal static class Reading
{
    /// <summary>Reads everything; returns what the region holds (its status, or why its handover was refused).</summary>
    public static string ReadAll(string path)
    {
        using var region = KhoInspector.Open(path);
        long sum = region.Status.Length + region.Slots.Count + region.RootFdt.Length + region.PreservedBlocks.Count;
        foreach (var s in region.Subtrees)
            if (region.TryGetSubtree(s.Name, out var blob)) sum += blob.Length;
        if (!region.HasHandover) return region.Status;
        var report = RegionReport.Read(region);
        foreach (var stream in report.Streams)
            foreach (var r in stream.Live) sum += r.Bytes + Fields(r.Fields);
        foreach (var session in report.Sessions)
            foreach (var item in session.Items) sum += item.Compatible.Length + Fields(item.Fields);
        sum += report.SessionProblems.Count + report.SharedData.Count + (report.Schema?.Descriptions.Count ?? 0);
        GC.KeepAlive(sum);
        return report.SessionProblems.Count > 0 ? $"{region.Status}; sessions: {report.SessionProblems[0]}" : region.Status;
    }

    private static int Fields(IReadOnlyList<Inspection.DecodedField> fields)
    {
        int n = 0;
        foreach (var f in fields) n += f.Name.Length + f.Value.Length + Fields(f.Children);
        return n;
    }
}
