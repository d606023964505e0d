using System.Globalization;
using System.Text.Json;
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
        using var region = RegionFile.Open(path, stderr);
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
        console.WriteLine($"status: {region.Status}");
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
        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartObject();
            w.WriteString("region", path);
            w.WriteNumber("size", region.RegionSize);
            w.WriteString("status", region.Status);
            string? problem = Problem(region, report, streamProblem);
            w.WriteBoolean("valid", problem is null);
            if (problem is not null) w.WriteString("problem", problem);
            w.WriteNumber("generation", region.Generation);
            w.WriteStartObject("scratch");
            w.WriteNumber("phys", region.Scratch.Phys);
            w.WriteNumber("size", region.Scratch.Size);
            w.WriteEndObject();
            w.WriteStartArray("slots");
            foreach (var s in region.Slots)
            {
                w.WriteStartObject();
                w.WriteNumber("index", s.Index);
                w.WriteString("state", s.State);
                w.WriteNumber("generation", s.Generation);
                if (s.Problem is not null) w.WriteString("problem", s.Problem);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteStartArray("subtrees");
            foreach (var s in region.Subtrees)
            {
                w.WriteStartObject();
                w.WriteString("name", s.Name);
                w.WriteNumber("phys", s.Phys);
                w.WriteNumber("size", s.Size);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteStartArray("preserved");
            foreach (var b in region.PreservedBlocks)
            {
                w.WriteStartObject();
                w.WriteNumber("phys", b.Phys);
                w.WriteNumber("order", b.Order);
                w.WriteBoolean("range", b.IsRange);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteStartArray("streams");
            foreach (var s in report?.Streams ?? [])
            {
                w.WriteStartObject();
                w.WriteString("name", s.Name);
                w.WriteNumber("segments", s.Segments);
                w.WriteNumber("records", s.Records);
                w.WriteNumber("bytes", s.Bytes);
                w.WriteStartArray("live");
                foreach (var r in s.Live)
                {
                    w.WriteStartObject();
                    w.WriteString("type", r.Type);
                    w.WriteNumber("state_id", r.StateId);
                    if (r.StateName is not null) w.WriteString("state", r.StateName);
                    w.WriteNumber("instance", r.InstanceId);
                    w.WriteNumber("version", r.Version);
                    w.WriteNumber("bytes", r.Bytes);
                    WriteFields(w, "fields", r.Fields);
                    w.WriteEndObject();
                }
                w.WriteEndArray();
                w.WriteEndObject();
            }
            w.WriteEndArray();
            WriteSessionsJson(w, report);
            w.WriteEndObject();
        }
        stdout.WriteLine(System.Text.Encoding.UTF8.GetString(buffer.ToArray()));
    }

    private static void WriteSessionsJson(Utf8JsonWriter w, RegionReport? report)
    {
        if (report?.LiveUpdate is { } u)
        {
            w.WriteStartObject("live_update");
            w.WriteNumber("count", u.Count);
            w.WriteString("version", u.Version);
            w.WriteString("finalized_at", u.FinalizedAt.UtcDateTime); // ISO 8601, "Z"
            w.WriteEndObject();
        }
        w.WriteStartArray("sessions");
        foreach (var s in report?.Sessions ?? [])
        {
            w.WriteStartObject();
            w.WriteString("name", s.Name);
            w.WriteString("stream", s.Stream);
            w.WriteStartArray("items");
            foreach (var i in s.Items)
            {
                w.WriteStartObject();
                w.WriteNumber("token", i.Token);
                w.WriteString("kind", Kind(i.Kind));
                w.WriteString("compatible", i.Compatible);
                w.WriteNumber("record_id", i.RecordId);
                if (i.Version is { } version) w.WriteNumber("version", version);
                if (i.Bytes is { } bytes) w.WriteNumber("bytes", bytes);
                w.WriteStartArray("shared");
                foreach (var compat in i.Shared) w.WriteStringValue(compat);
                w.WriteEndArray();
                if (i.Kind == ItemKind.Description) WriteFields(w, "fields", i.Fields);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteStartArray("shared_data");
        foreach (var d in report?.SharedData ?? [])
        {
            w.WriteStartObject();
            w.WriteString("compatible", d.Compatible);
            w.WriteNumber("instance", d.Instance);
            w.WriteNumber("users", d.Users);
            if (d.Bytes is { } bytes) w.WriteNumber("bytes", bytes);
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteStartArray("session_problems");
        foreach (var p in report?.SessionProblems ?? []) w.WriteStringValue(p);
        w.WriteEndArray();
    }

    private static void WriteFields(Utf8JsonWriter w, string name, IReadOnlyList<DecodedField> fields)
    {
        w.WriteStartObject(name);
        foreach (var f in fields)
        {
            if (f.Children.Count == 0) w.WriteString(f.Name, f.Value);
            else WriteFields(w, f.Name, f.Children);
        }
        w.WriteEndObject();
    }
}
