using KState.Inspection;

namespace KState.Cli;

/// <summary><c>kstate verify REGION</c>: the commit, the root tree, the map, every stream, record, blob, the schema and the sessions.</summary>
internal static class Verify
{
    public static int Run(string path, TextWriter stdout, TextWriter stderr)
    {
        KhoInspector region;
        try
        {
            region = RegionFile.Open(path, stderr);
        }
        catch (KStateCorruptException e)
        {
            stderr.WriteLine($"kstate: {path}: invalid: {e.Message}");
            return App.Invalid;
        }
        catch (KStateBusyException e)
        {
            stderr.WriteLine($"kstate: cannot read {path}: boot outcome: busy ({e.Message})");
            return App.UsageOrIo;
        }
        using (region)
        {
            string outcome = $"boot outcome: {BootText.Describe(region.BootStatus)}";
            try
            {
                var report = RegionReport.Read(region);
                if (report.SessionProblems.Count > 0)
                {
                    foreach (var p in report.SessionProblems) stderr.WriteLine($"kstate: {path}: invalid: {p}");
                    stderr.WriteLine($"kstate: {path}: {outcome}");
                    return App.Invalid;
                }
                int records = report.Streams.Sum(s => s.Records);
                string sessions = report.LiveUpdate is { } u ? $", {report.Sessions.Count} sessions (live update {u.Count})" : "";
                stdout.WriteLine(region.HasHandover
                    ? $"{path}: valid: {region.Status}; {region.PreservedBlocks.Count} preserved blocks, {report.Streams.Count} KSTATE streams, {records} records{sessions}; {outcome}"
                    : $"{path}: valid: {region.Status}; {outcome}");
                return App.Ok;
            }
            catch (Exception e) when (e is KStateCorruptException or KStateVersionException or KStateExistsException)
            {
                stderr.WriteLine($"kstate: {path}: invalid: {e.Message}");
                stderr.WriteLine($"kstate: {path}: {outcome}");
                return App.Invalid;
            }
        }
    }
}
