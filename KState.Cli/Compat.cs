using KState.Inspection;

namespace KState.Cli;

/// <summary><c>kstate compat OLD NEW</c>: compares two schemas, each from a region or a schema file.</summary>
internal static class Compat
{
    /// <summary>Exit 0 compatible, 1 incompatible, 2 when either schema cannot be read (the reason on standard error).</summary>
    public static int Run(string oldPath, string newPath, TextWriter stdout, TextWriter stderr)
    {
        if (TryLoad(oldPath, "OLD", stderr) is not { } saver || TryLoad(newPath, "NEW", stderr) is not { } restorer) return App.UsageOrIo;
        var problems = SchemaComparison.Compare(saver, restorer);
        if (problems.Count == 0)
        {
            stdout.WriteLine($"compatible: {newPath} restores every one of the {saver.Descriptions.Count} descriptions {oldPath} saves");
            return App.Ok;
        }
        stdout.WriteLine($"incompatible: {problems.Count} problem(s)");
        foreach (var p in problems) stdout.WriteLine($"  {p}");
        return App.Invalid;
    }

    private static KStateSchema? TryLoad(string path, string role, TextWriter stderr)
    {
        try
        {
            return Load(path, stderr);
        }
        catch (Exception e) when (e is KStateException or IOException or UnauthorizedAccessException)
        {
            stderr.WriteLine($"kstate: cannot read {role} {path}: {e.Message}");
            return null;
        }
    }

    /// <summary>The schema of a region's KSTATE stream, or of a schema file; warnings (a region's mode) go to
    /// <paramref name="stderr"/>.</summary>
    /// <exception cref="KStateException">Not readable as either, with the reason.</exception>
    public static KStateSchema Load(string path, TextWriter stderr)
    {
        if (RegionFile.CannotRead(path) is { } why) throw new KStateInvalidException(why);
        if (RegionFile.IsRegion(path))
        {
            using var region = RegionFile.Open(path, stderr);
            return RegionReport.Read(region).Schema ?? throw new KStateNotFoundException("the region carries no schema (no KSTATE objects were saved)");
        }
        try
        {
            return KStateSchema.FromBytes(File.ReadAllBytes(path));
        }
        catch (KStateException e)
        {
            throw new KStateInvalidException($"neither a KState region (it does not begin with the region magic) nor a schema file ({e.Message})");
        }
    }
}
