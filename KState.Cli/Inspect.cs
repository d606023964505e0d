using System.Globalization;
using System.Text.Json;
using KState.Cli.Json;
using KState.Inspection;
using Spectre.Console;

namespace KState.Cli;

/// <summary><c>kstate inspect REGION [--json] [--fdt] [--schema]</c>.</summary>
internal static class Inspect
{
    public static int Run(string path, bool json, bool fdt, bool schema, TextWriter stdout, TextWriter stderr, Stream? binaryStdout)
    {
        if ((fdt || schema) && binaryStdout is null)
        {
            stderr.WriteLine($"kstate: {(fdt ? "--fdt" : "--schema")} writes bytes, and this standard output takes only text");
            return App.UsageOrIo;
        }
        if (RegionFile.CannotRead(path) is { } why) return CannotRead(stderr, path, why);
        if (!RegionFile.IsRegion(path)) return CannotRead(stderr, path, "not a KState region (it does not begin with the region magic)");
        KhoInspector region;
        try
        {
            region = RegionFile.Open(path, stderr);
        }
        catch (KStateBusyException e)
        {
            return Busy(path, e, json, stdout, stderr);
        }
        using var _ = region;
        if (fdt)
        {
            if (!region.HasHandover) return Fail(stderr, $"{path}: no valid handover, so no root tree ({region.Status})");
            binaryStdout!.Write(region.RootFdt);
            binaryStdout.Flush();
            return App.Ok;
        }
        RegionReport? report = null;
        string? streamProblem = null;
        try
        {
            report = RegionReport.Read(region);
        }
        catch (Exception e) when (e is KStateCorruptException or KStateVersionException or KStateExistsException)
        {
            streamProblem = e.Message;
        }
        if (schema)
        {
            if (report?.Schema is null) return Fail(stderr, $"{path}: no schema ({streamProblem ?? "no KSTATE objects were saved"})");
            binaryStdout!.Write(report.Schema.ToBytes());
            binaryStdout.Flush();
            return App.Ok;
        }
        if (json) WriteJson(path, region, report, streamProblem, stdout);
        else WriteText(path, region, report, streamProblem, stdout);
        return Problem(region, report, streamProblem) is null ? App.Ok : App.Invalid;
    }

    /// <summary>The first thing wrong with the region, its streams or its sessions, or null.</summary>
    private static string? Problem(KhoInspector region, RegionReport? report, string? streamProblem) =>
        region.Problem?.Message ?? streamProblem ?? report?.SessionProblems.FirstOrDefault();

    private static int CannotRead(TextWriter stderr, string path, string why)
    {
        stderr.WriteLine($"kstate: cannot read {path}: {why}");
        return App.UsageOrIo;
    }

    private static int Fail(TextWriter stderr, string message)
    {
        stderr.WriteLine($"kstate: {message}");
        return App.Invalid;
    }

    private static void WriteText(string path, KhoInspector region, RegionReport? report, string? streamProblem, TextWriter stdout)
    {
        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(stdout), Ansi = AnsiSupport.No, ColorSystem = ColorSystemSupport.NoColors });
        console.Profile.Width = 160;
        console.WriteLine($"region {path}: {region.RegionSize} bytes; scratch 0x{region.Scratch.Phys:x}+{region.Scratch.Size}; memory 0x{region.DataRange.Start:x}..0x{region.DataRange.End:x}");
        console.WriteLine($"backing: {region.Backing.Description}");
        console.WriteLine($"status: {region.Status}");
        console.WriteLine($"boot outcome: {BootText.Describe(region.BootStatus)}");
        var slots = new Table().AddColumns("slot", "state", "generation", "problem");
        foreach (var s in region.Slots) slots.AddRow(s.Index.ToString(), s.State, s.Generation.ToString(), Markup.Escape(s.Problem ?? ""));
        console.Write(slots);
        if (!region.HasHandover) return;

        var subtrees = new Table().AddColumns("subtree", "phys", "bytes");
        foreach (var s in region.Subtrees) subtrees.AddRow(Markup.Escape(s.Name), $"0x{s.Phys:x}", s.Size.ToString());
        console.WriteLine("root tree: compatible \"kho-v1\"");
        console.Write(subtrees);

        var blocks = region.PreservedBlocks;
        var byOrder = new Table().AddColumns("preserved", "order", "count", "bytes");
        foreach (var g in blocks.GroupBy(b => (b.IsRange, b.Order)).OrderBy(g => g.Key))
            byOrder.AddRow(g.Key.IsRange ? "range blocks" : "folios", g.Key.Order.ToString(), g.Count().ToString(), g.Sum(b => (long)b.Size).ToString());
        console.Write(byOrder);

        if (streamProblem is not null) console.WriteLine($"KSTATE: invalid: {streamProblem}");
        foreach (var stream in report?.Streams ?? [])
        {
            console.WriteLine($"KSTATE stream \"{stream.Name}\": {stream.Segments} segments, {stream.Records} records, {stream.Bytes} bytes");
            var records = new Table().AddColumns("state", "instance", "version", "bytes", "fields");
            foreach (var r in stream.Live)
                records.AddRow(Markup.Escape(r.StateName ?? $"0x{r.StateId:x16}"), r.InstanceId.ToString(), r.Version.ToString(), r.Bytes.ToString(), Markup.Escape(Fields(r.Fields)));
            console.Write(records);
        }
        if (report is not null) WriteSessions(console, report);
    }

    private static void WriteSessions(IAnsiConsole console, RegionReport report)
    {
        if (report.LiveUpdate is { } u)
            console.WriteLine($"live update: count {u.Count}, saved by version \"{u.Version}\", finalized at {Time(u.FinalizedAt)}");
        foreach (var s in report.Sessions)
        {
            console.WriteLine($"session \"{s.Name}\" (stream \"{s.Stream}\"): {s.Items.Count} items");
            if (s.Items.Count == 0) continue;
            var items = new Table().AddColumns("token", "kind", "compatible", "version", "bytes", "shared", "fields");
            foreach (var i in s.Items)
                items.AddRow(i.Token.ToString(CultureInfo.InvariantCulture), Kind(i.Kind), Markup.Escape(i.Compatible),
                    i.Version?.ToString(CultureInfo.InvariantCulture) ?? "-", i.Bytes?.ToString(CultureInfo.InvariantCulture) ?? "missing",
                    Markup.Escape(string.Join(", ", i.Shared)), Markup.Escape(Fields(i.Fields)));
            console.Write(items);
        }
        if (report.SharedData.Count > 0)
        {
            var shared = new Table().AddColumns("shared data", "instance", "users", "bytes");
            foreach (var d in report.SharedData)
                shared.AddRow(Markup.Escape(d.Compatible), d.Instance.ToString(CultureInfo.InvariantCulture), d.Users.ToString(CultureInfo.InvariantCulture),
                    d.Bytes?.ToString(CultureInfo.InvariantCulture) ?? "missing");
            console.Write(shared);
        }
        foreach (var p in report.SessionProblems) console.WriteLine($"sessions: invalid: {p}");
    }

    private static string Kind(ItemKind kind) => kind.ToString().ToLowerInvariant();

    private static string Time(DateTimeOffset t) => t.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss.fff 'UTC'", CultureInfo.InvariantCulture);

    private static string Fields(IReadOnlyList<DecodedField> fields) =>
        string.Join("; ", fields.Select(f => f.Children.Count == 0 ? $"{f.Name} = {f.Value}" : $"{f.Name} = {f.Value} {{ {Fields(f.Children)} }}"));

    private static void WriteJson(string path, KhoInspector region, RegionReport? report, string? streamProblem, TextWriter stdout)
    {
        var json = new InspectJson(path, region.RegionSize, region.Status, Problem(region, report, streamProblem) is null,
            Problem(region, report, streamProblem), JsonMapping.Boot(region.BootStatus), region.Generation,
            new ScratchJson(JsonMapping.Hex(region.Scratch.Phys), region.Scratch.Size),
            [.. region.Slots.Select(s => new SlotJson(s.Index, s.State, s.Generation, s.Problem))],
            [.. region.Subtrees.Select(s => new SubtreeJson(s.Name, JsonMapping.Hex(s.Phys), s.Size))],
            [.. region.PreservedBlocks.Select(b => new BlockJson(JsonMapping.Hex(b.Phys), b.Order, b.IsRange))],
            [.. (report?.Streams ?? []).Select(s => new StreamJson(s.Name, s.Segments, s.Records, s.Bytes,
                [.. s.Live.Select(r => new RecordJson(r.Type, JsonMapping.Hex(r.StateId), r.StateName, JsonMapping.Hex(r.InstanceId), r.Version, r.Bytes,
                    JsonMapping.Fields(r.Fields)))]))],
            report?.LiveUpdate is { } u ? new LiveUpdateJson(u.Count, u.Version, u.FinalizedAt.UtcDateTime) : null,
            [.. (report?.Sessions ?? []).Select(s => new SessionJson(s.Name, s.Stream, [.. s.Items.Select(i => new ItemJson(
                JsonMapping.Hex(i.Token), Kind(i.Kind), i.Compatible, JsonMapping.Hex(i.RecordId), i.Version, i.Bytes, i.Shared,
                i.Kind == ItemKind.Description ? JsonMapping.Fields(i.Fields) : null))]))],
            [.. (report?.SharedData ?? []).Select(d => new SharedDataJson(d.Compatible, JsonMapping.Hex(d.Instance), d.Users, d.Bytes))],
            report?.SessionProblems ?? []) { Backing = new BackingJson(region.Backing.FileSystem, region.Backing.PageSize, region.Backing.Description) };
        stdout.WriteLine(JsonSerializer.Serialize(json, CliJson.Default.InspectJson));
    }

    /// <summary>A region another process has booted: nothing can be read, but the outcome is known (exit 2).</summary>
    private static int Busy(string path, KStateBusyException e, bool json, TextWriter stdout, TextWriter stderr)
    {
        var status = KhoBootStatus.Busy(e.Message);
        if (json)
            stdout.WriteLine(JsonSerializer.Serialize(new InspectJson(path, null, "busy", false, e.Message, JsonMapping.Boot(status), 0, null,
                [], [], [], [], null, [], [], []), CliJson.Default.InspectJson));
        return CannotRead(stderr, path, $"boot outcome: busy ({e.Message})");
    }
}
