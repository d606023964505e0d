using System.Globalization;
using KState.Inspection;

namespace KState.Cli;

/// <summary><c>kstate extract REGION (--record STATE[/INSTANCE] | --subtree NAME | --range PHYS SIZE) -o FILE</c>:
/// reads only, through the inspector, and writes the bytes to FILE.</summary>
internal static class Extract
{
    /// <summary>Exit 0 written, 1 the region is damaged, 2 usage, not found, or a file that cannot be read or written.</summary>
    public static int Run(string path, string? record, string? subtree, string[]? range, string output, TextWriter stdout, TextWriter stderr)
    {
        int chosen = (record is null ? 0 : 1) + (subtree is null ? 0 : 1) + (range is null || range.Length == 0 ? 0 : 1);
        if (chosen != 1) return Usage(stderr, "extract needs exactly one of --record, --subtree and --range");
        ulong phys = 0, size = 0;
        if (range is { Length: > 0 } && !TryParseRange(range, out phys, out size))
            return Usage(stderr, "--range takes PHYS and SIZE, each \"0x...\" hex or decimal");
        string state = "";
        ulong instance = 0;
        if (record is not null && !TryParseRecord(record, out state, out instance))
            return Usage(stderr, "--record takes STATE[/INSTANCE]: a state id (\"0x...\" or decimal) or name, and an instance id (default 0)");
        if (RegionFile.CannotRead(path) is { } why) return Usage(stderr, $"cannot read {path}: {why}");
        if (!RegionFile.IsRegion(path)) return Usage(stderr, $"cannot read {path}: not a KState region (it does not begin with the region magic)");
        byte[] bytes;
        string what;
        try
        {
            using var region = RegionFile.Open(path, stderr);
            if (record is not null)
            {
                bytes = RegionExtract.RecordPayload(region, state, instance, out string stream);
                what = $"record {state}/{instance} of stream \"{stream}\" ({bytes.Length} payload bytes)";
            }
            else if (subtree is not null)
            {
                bytes = RegionExtract.Subtree(region, subtree);
                what = $"subtree '{subtree}' ({bytes.Length} bytes)";
            }
            else
            {
                bytes = RegionExtract.PreservedRange(region, phys, size);
                what = $"preserved range 0x{phys:x}+{size}";
            }
        }
        catch (Exception e) when (e is KStateCorruptException or KStateVersionException or KStateExistsException)
        {
            stderr.WriteLine($"kstate: {path}: invalid: {e.Message}");
            return App.Invalid;
        }
        catch (Exception e) when (e is KStateNotFoundException or KStateInvalidException or KStateBusyException)
        {
            return Usage(stderr, $"{path}: {e.Message}");
        }
        try
        {
            File.WriteAllBytes(output, bytes);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return Usage(stderr, $"cannot write {output}: {e.Message}");
        }
        stdout.WriteLine(string.Create(CultureInfo.InvariantCulture, $"wrote {what} to {output}"));
        return App.Ok;
    }

    private static bool TryParseRange(string[] range, out ulong phys, out ulong size)
    {
        phys = size = 0;
        if (range.Length != 2 || RegionExtract.TryParseId(range[0]) is not { } p || RegionExtract.TryParseId(range[1]) is not { } s) return false;
        (phys, size) = (p, s);
        return true;
    }

    /// <summary>STATE or STATE/INSTANCE; the last '/' splits, as state names may hold '/' ("vendor/name").</summary>
    private static bool TryParseRecord(string record, out string state, out ulong instance)
    {
        state = record;
        instance = 0;
        int slash = record.LastIndexOf('/');
        if (slash >= 0 && RegionExtract.TryParseId(record[(slash + 1)..]) is { } i)
        {
            state = record[..slash];
            instance = i;
        }
        return state.Length > 0;
    }

    private static int Usage(TextWriter stderr, string message)
    {
        stderr.WriteLine($"kstate: {message}");
        return App.UsageOrIo;
    }
}
