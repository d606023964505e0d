using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text.Json;
using CsCheck;
using KState.Cli;
using KState.Core.Records;
using KState.Inspection;
using KState.TestHost.Shared;
using KState.Tests.Support;

namespace KState.Tests.Cli;

/// <summary>The kstate tool on real regions: made by a child generation, inspected, verified, compared, damaged.</summary>
[NonParallelizable]
public class CliTests
{
    private static (int Code, string Out, string Err) Kstate(params string[] args)
    {
        var o = new StringWriter();
        var e = new StringWriter();
        int code = App.Run(args, o, e);
        return (code, o.ToString(), e.ToString());
    }

    /// <summary>The tool's raw byte output (--fdt, --schema), captured in-process.</summary>
    private static byte[] KstateBytes(params string[] args)
    {
        var e = new StringWriter();
        using var bytes = new MemoryStream();
        int code = App.Run(args, new StringWriter(), e, bytes);
        Assert.That(code, Is.EqualTo(App.Ok), e.ToString());
        return bytes.ToArray();
    }

    /// <summary>The tool as a real process (the demo starts its second generation as one).</summary>
    private static (int Code, string Out, string Err) KstateProcess(params string[] args)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "kstate.dll"));
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var err = p.StandardError.ReadToEndAsync();
        string output = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        return (p.ExitCode, output, err.Result);
    }

    /// <summary>A field of a record, item or struct in inspect's JSON (fields are a list of typed objects).</summary>
    private static JsonElement Field(JsonElement owner, string name) =>
        owner.GetProperty("fields").EnumerateArray().Single(f => f.GetProperty("name").GetString() == name);

    private static TestRegion TalkRegion()
    {
        var region = new TestRegion("cli");
        var child = Child.Run("talk-save", region.Path);
        Assert.That(child.ExitCode, Is.Zero, child.ToString());
        return region;
    }

    [Test]
    public void Verify_accepts_a_valid_region()
    {
        using var region = TalkRegion();
        var (code, output, err) = Kstate("verify", region.Path);
        Assert.That(code, Is.EqualTo(App.Ok), err);
        Assert.That(output, Does.Contain("valid: committed handover, generation 1"));
        Assert.That(output, Does.Contain("KSTATE streams"));
    }

    [Test]
    public void Verify_rejects_a_damaged_record_with_the_reason_and_offset()
    {
        using var region = TalkRegion();
        // Find a stream segment through inspect, then flip a byte inside its first record.
        using (var inspector = KhoInspector.Open(region.Path))
        {
            Assert.That(inspector.HasHandover, Is.True);
        }
        var json = JsonDocument.Parse(Kstate("inspect", "--json", region.Path).Out);
        Assert.That(json.RootElement.GetProperty("valid").GetBoolean(), Is.True);
        Damage(region.Path, FindSegment(region.Path) + 64 + 20);
        var (code, _, err) = Kstate("verify", region.Path);
        Assert.That(code, Is.EqualTo(App.Invalid));
        Assert.That(err, Does.Contain("invalid").And.Contain("offset"));
    }

    [Test]
    public void Verify_reports_usage_and_io_errors_with_exit_2()
    {
        Assert.That(Kstate("verify").Code, Is.EqualTo(App.UsageOrIo));
        var (code, _, err) = Kstate("verify", "/dev/shm/kstate-test-no-such-region");
        Assert.That(code, Is.EqualTo(App.UsageOrIo));
        Assert.That(err.Trim().Split('\n'), Has.Length.EqualTo(1), "one clear line");
        Assert.That(err, Does.Contain("does not exist"));
        Assert.That(err, Does.Not.Contain("   at "), "no stack trace");
    }

    [Test]
    public void Verify_never_crashes_whatever_the_damage()
    {
        using var region = TalkRegion();
        var pristine = File.ReadAllBytes(region.Path);
        var rng = new Random(2026);
        TestContext.Out.WriteLine("seed 2026");
        var outcomes = new Dictionary<int, int>();
        for (int i = 0; i < 150; i++)
        {
            var bytes = (byte[])pristine.Clone();
            int flips = rng.Next(1, 8);
            for (int k = 0; k < flips; k++)
            {
                // Aim at the first megabyte: header, slots, map, the handover area and stream segments live there.
                int at = rng.Next(0, Math.Min(bytes.Length, 1 << 20));
                bytes[at] ^= (byte)(1 << rng.Next(8));
            }
            File.WriteAllBytes(region.Path, bytes);
            int code = Kstate("verify", region.Path).Code;
            Assert.That(code, Is.EqualTo(App.Ok).Or.EqualTo(App.Invalid), $"case {i}");
            outcomes[code] = outcomes.GetValueOrDefault(code) + 1;
        }
        TestContext.Out.WriteLine($"valid {outcomes.GetValueOrDefault(0)}, invalid {outcomes.GetValueOrDefault(1)}");
    }

    [Test]
    public void Inspect_shows_slots_subtrees_memory_and_decoded_records()
    {
        using var region = TalkRegion();
        var (code, output, err) = Kstate("inspect", region.Path);
        Assert.That(code, Is.EqualTo(App.Ok), err);
        Assert.That(output, Does.Contain("committed handover, generation 1"));
        Assert.That(output, Does.Contain("kstate"));
        Assert.That(output, Does.Contain("a_struct"));
        Assert.That(output, Does.Contain("I = 42"));
        Assert.That(output, Does.Contain("S = \"kstate!\""));
        Assert.That(output, Does.Contain("folios"));
    }

    [Test]
    public void Inspect_json_parses_back_with_field_values()
    {
        using var region = TalkRegion();
        var (code, output, _) = Kstate("inspect", "--json", region.Path);
        Assert.That(code, Is.EqualTo(App.Ok));
        using var doc = JsonDocument.Parse(output);
        var root = doc.RootElement;
        Assert.That(root.GetProperty("generation").GetInt32(), Is.EqualTo(1));
        var main = root.GetProperty("streams").EnumerateArray().Single(s => s.GetProperty("name").GetString() == "main");
        var a = main.GetProperty("live").EnumerateArray().Single(r => r.GetProperty("state").GetString() == "a_struct");
        Assert.That(a.GetProperty("instance").GetString(), Is.EqualTo("0x1"));
        Assert.That(Field(a, "I").GetProperty("value").GetInt32(), Is.EqualTo(42));
        Assert.That(Field(a, "Folio").GetProperty("folios")[0].GetProperty("order").GetInt32(), Is.EqualTo(2));
        var module = main.GetProperty("live").EnumerateArray().Single(r => r.GetProperty("state").GetString() == "kstate-test/module");
        Assert.That(Field(Field(module, "[kstate-test/sub]"), "J").GetProperty("value").GetInt64(), Is.EqualTo(8));
        Assert.That(root.GetProperty("preserved").GetArrayLength(), Is.GreaterThan(2));
    }

    [Test]
    public void Inspect_fdt_writes_the_root_tree_for_dtc()
    {
        if (!Machine.HandoverTests.CommandExists("dtc")) Assert.Ignore("dtc is not installed (./build.sh test installs it)");
        using var region = TalkRegion();
        var fdt = KstateBytes("inspect", "--fdt", region.Path);
        string file = Path.GetTempFileName();
        try
        {
            File.WriteAllBytes(file, fdt);
            var psi = new ProcessStartInfo("dtc", ["-I", "dtb", "-O", "dts", file]) { RedirectStandardOutput = true, RedirectStandardError = true };
            using var p = Process.Start(psi)!;
            string dts = p.StandardOutput.ReadToEnd();
            p.WaitForExit();
            Assert.That(dts, Does.Contain("compatible = \"kho-v1\""));
            Assert.That(dts, Does.Contain("kstate {"));
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Test]
    public void Compat_compares_regions_and_schema_files()
    {
        using var region = TalkRegion();
        string file = Path.GetTempFileName();
        try
        {
            File.WriteAllBytes(file, KstateBytes("inspect", "--schema", region.Path));
            var same = Kstate("compat", region.Path, file);
            Assert.That(same.Code, Is.EqualTo(App.Ok), same.Out + same.Err);
            Assert.That(same.Out, Does.Contain("compatible"));

            // A next version whose a_struct reads only version 2 and up cannot restore version 1 records.
            var next = KStateSchema.Of([
                KStateDescriptionBuilder<TalkA>.Create("a_struct", TalkDescriptions.TestId, 3, 2)
                    .Base((ref TalkA a) => ref a.I).Build(),
                TalkDescriptions.ModuleV2]);
            File.WriteAllBytes(file, next.ToBytes());
            var broken = Kstate("compat", region.Path, file);
            Assert.That(broken.Code, Is.EqualTo(App.Invalid));
            Assert.That(broken.Out, Does.Contain("a_struct: saves version 1; the next version reads 2 to 3"));
        }
        finally
        {
            File.Delete(file);
        }
    }

    /// <summary>A region whose generation saved two sessions ("net": a memfd buffer and a tally bound to shared
    /// data; "cache": a described counter) and finalized: live update 1.</summary>
    [Test]
    public void Inspect_decodes_a_described_session_item_with_a_folio_saved_by_another_process()
    {
        using var region = new TestRegion("cli-session-folio");
        var child = Child.Run("sessions-save", region.Path);
        Assert.That(child.ExitCode, Is.Zero, child.ToString());
        var (code, output, err) = Kstate("inspect", region.Path);
        Assert.That(code, Is.EqualTo(App.Ok), output + err);
        Assert.That(output, Does.Contain("a_struct").And.Contain("kstate-memfd-v1").And.Contain("kstate-test/pool-v1"));
        Assert.That(output, Does.Not.Contain("invalid"));
        Assert.That(Kstate("verify", region.Path).Code, Is.EqualTo(App.Ok), "each folio is checked once, by its stream");
    }

    internal static unsafe TestRegion SessionsRegion() // CliJsonTests checks its JSON too
    {
        var region = new TestRegion("cli-sessions");
        try
        {
            using var kho = region.Boot();
            using var streams = new KStateStreams(kho);
            var sessions = new KStateSessions(streams) { Version = "cli-test 1.0" };
            sessions.RegisterHandler(new MemfdHandler());
            sessions.RegisterHandler(new TallyHandler());
            var net = sessions.Create("net");
            var ring = MemfdBuffer.Create(kho, "rx-ring", 10_000);
            ring.Write(0, "hello"u8);
            net.Preserve(1, ring);
            net.Preserve(2, new Tally(5));
            var cache = sessions.Create("cache");
            var counter = new CliCounter { Hits = 1234, Port = 8080 }; // a local: it stays put until finalize reads it
            cache.SaveState(CounterDescription, &counter, 7);
            kho.FinalizeHandover();
            return region;
        }
        catch
        {
            region.Dispose();
            throw;
        }
    }

    /// <summary>A region whose "sessions" stream is written by hand (checksums sound, contents as <paramref name="write"/> says).</summary>
    private static TestRegion HandWrittenSessionsRegion(Action<StreamSet> write)
    {
        var region = new TestRegion("cli-sessions");
        try
        {
            using var kho = region.Boot();
            using var streams = new KStateStreams(kho);
            write(streams.Set);
            kho.FinalizeHandover();
            return region;
        }
        catch
        {
            region.Dispose();
            throw;
        }
    }

    [Test]
    public void Inspect_shows_sessions_items_shared_data_and_the_live_update()
    {
        using var region = SessionsRegion();
        var (code, output, err) = Kstate("inspect", region.Path);
        Assert.That(code, Is.EqualTo(App.Ok), err);
        using (Assert.EnterMultipleScope())
        {
            Assert.That(output, Does.Contain("live update: count 1, saved by version \"cli-test 1.0\", finalized at "));
            Assert.That(output, Does.Contain("session \"net\" (stream \"session-1\"): 2 items"));
            Assert.That(output, Does.Contain("session \"cache\" (stream \"session-2\"): 1 items"));
            Assert.That(output, Does.Contain(MemfdHandler.CompatibleString));
            Assert.That(output, Does.Contain("cli-test/tally-v1"));
            Assert.That(output, Does.Contain("cli-test/counter"));
            Assert.That(output, Does.Contain("Hits = 1234"));
            Assert.That(output, Does.Contain("Port = 8080"));
            Assert.That(output, Does.Contain("cli-test/tally-total-v1"));
            Assert.That(output, Does.Not.Contain("invalid"));
        }
        var verify = Kstate("verify", region.Path);
        Assert.That(verify.Code, Is.EqualTo(App.Ok), verify.Err);
        Assert.That(verify.Out, Does.Contain("2 sessions (live update 1)"));
    }

    [Test]
    public void Inspect_json_lists_sessions_items_and_shared_data()
    {
        using var region = SessionsRegion();
        var (code, output, err) = Kstate("inspect", "--json", region.Path);
        Assert.That(code, Is.EqualTo(App.Ok), err);
        using var doc = JsonDocument.Parse(output);
        var root = doc.RootElement;
        var update = root.GetProperty("live_update");
        var sessions = root.GetProperty("sessions").EnumerateArray().ToList();
        var net = sessions.Single(s => s.GetProperty("name").GetString() == "net").GetProperty("items").EnumerateArray().ToList();
        var cache = sessions.Single(s => s.GetProperty("name").GetString() == "cache").GetProperty("items").EnumerateArray().Single();
        var shared = root.GetProperty("shared_data").EnumerateArray().Single();
        using (Assert.EnterMultipleScope())
        {
            Assert.That(root.GetProperty("valid").GetBoolean(), Is.True);
            Assert.That(update.GetProperty("count").GetUInt64(), Is.EqualTo(1));
            Assert.That(update.GetProperty("version").GetString(), Is.EqualTo("cli-test 1.0"));
            Assert.That(update.GetProperty("finalized_at").GetDateTimeOffset(), Is.EqualTo(DateTimeOffset.UtcNow).Within(TimeSpan.FromMinutes(5)));
            Assert.That(sessions.Select(s => s.GetProperty("name").GetString()), Is.EqualTo(new[] { "net", "cache" }));
            Assert.That(net.Select(i => i.GetProperty("token").GetString()), Is.EqualTo(new[] { "0x1", "0x2" }));
            Assert.That(net.Select(i => i.GetProperty("compatible").GetString()), Is.EqualTo(new[] { MemfdHandler.CompatibleString, "cli-test/tally-v1" }));
            Assert.That(net.Select(i => i.GetProperty("kind").GetString()), Is.All.EqualTo("handler"));
            Assert.That(net.Select(i => i.GetProperty("bytes").GetInt32()), Is.All.Positive);
            Assert.That(net[1].GetProperty("shared").EnumerateArray().Select(c => c.GetString()), Is.EqualTo(new[] { "cli-test/tally-total-v1" }));
            Assert.That(cache.GetProperty("token").GetString(), Is.EqualTo("0x7"));
            Assert.That(cache.GetProperty("kind").GetString(), Is.EqualTo("description"));
            Assert.That(cache.GetProperty("compatible").GetString(), Is.EqualTo("cli-test/counter"));
            Assert.That(Field(cache, "Hits").GetProperty("value").GetInt64(), Is.EqualTo(1234));
            Assert.That(Field(cache, "Port").GetProperty("value").GetInt64(), Is.EqualTo(8080));
            Assert.That(shared.GetProperty("compatible").GetString(), Is.EqualTo("cli-test/tally-total-v1"));
            Assert.That(shared.GetProperty("users").GetUInt32(), Is.EqualTo(1));
            Assert.That(shared.GetProperty("bytes").GetInt32(), Is.Positive);
            Assert.That(root.GetProperty("session_problems").GetArrayLength(), Is.Zero);
        }
    }

    [Test]
    public void Inspect_reports_a_self_contradicting_session_directory_and_still_shows_the_streams()
    {
        // An item bound to shared data the directory does not save: every checksum is sound, the directory is not.
        using var region = HandWrittenSessionsRegion(set =>
        {
            var dir = set.Create(SessionDirectory.StreamName);
            SessionDirectory.WriteGlobal(dir, new LiveUpdateInfo(1, "cli-test 1.0", DateTimeOffset.UtcNow));
            SessionDirectory.WriteSession(dir, 1, new SessionEntry("net", "session-1",
                [new ItemEntry(9, ItemKind.Handler, "cli-test/tally-v1", 1, ["cli-test/missing-v1"])]));
        });
        var (code, output, _) = Kstate("inspect", region.Path);
        using (Assert.EnterMultipleScope())
        {
            Assert.That(code, Is.EqualTo(App.Invalid));
            Assert.That(output, Does.Contain("sessions: invalid: session directory: ").And.Contain("cli-test/missing-v1"));
            Assert.That(output, Does.Contain("KSTATE stream \"sessions\""), "the streams are still shown");
        }
        var json = Kstate("inspect", "--json", region.Path);
        Assert.That(json.Code, Is.EqualTo(App.Invalid));
        using var doc = JsonDocument.Parse(json.Out);
        using (Assert.EnterMultipleScope())
        {
            Assert.That(doc.RootElement.GetProperty("valid").GetBoolean(), Is.False);
            Assert.That(doc.RootElement.GetProperty("problem").GetString(), Does.Contain("cli-test/missing-v1"));
            Assert.That(doc.RootElement.GetProperty("session_problems").GetArrayLength(), Is.EqualTo(1));
            Assert.That(doc.RootElement.GetProperty("sessions").GetArrayLength(), Is.Zero);
        }
        var verify = Kstate("verify", region.Path);
        Assert.That(verify.Code, Is.EqualTo(App.Invalid));
        Assert.That(verify.Err, Does.Contain("invalid").And.Contain("cli-test/missing-v1"));
    }

    [Test]
    public void Inspect_reports_session_items_whose_records_are_missing()
    {
        using var region = HandWrittenSessionsRegion(set =>
        {
            var dir = set.Create(SessionDirectory.StreamName);
            SessionDirectory.WriteGlobal(dir, new LiveUpdateInfo(3, "cli-test 1.0", DateTimeOffset.UtcNow));
            ulong memfd = Core.Ids.KStateId.FromName(MemfdHandler.CompatibleString);
            SessionDirectory.WriteSession(dir, 1, new SessionEntry("net", "session-1", [new ItemEntry(9, ItemKind.Handler, MemfdHandler.CompatibleString, memfd, [])]));
            SessionDirectory.WriteSession(dir, 2, new SessionEntry("gone", "session-2", [new ItemEntry(4, ItemKind.Handler, MemfdHandler.CompatibleString, memfd, [])]));
            set.Create("session-1"); // empty: item 9's record is missing; session-2 is not there at all
        });
        var (code, output, _) = Kstate("inspect", region.Path);
        using (Assert.EnterMultipleScope())
        {
            Assert.That(code, Is.EqualTo(App.Invalid));
            Assert.That(output, Does.Contain("live update: count 3"));
            Assert.That(output, Does.Contain("session \"net\"").And.Contain("session \"gone\""), "the sessions are still listed");
            Assert.That(output, Does.Contain("sessions: invalid: session 'net': item 9 ('kstate-memfd-v1') is listed but its record is missing"));
            Assert.That(output, Does.Contain("sessions: invalid: session 'gone': its stream 'session-2' is missing"));
        }
    }

    [Test]
    public void Inspect_reports_a_damaged_sessions_stream_without_crashing()
    {
        using var region = SessionsRegion();
        Damage(region.Path, FindSegment(region.Path, SessionDirectory.StreamName) + 64 + 20);
        var (code, output, err) = Kstate("inspect", region.Path);
        using (Assert.EnterMultipleScope())
        {
            Assert.That(code, Is.EqualTo(App.Invalid), err);
            Assert.That(output, Does.Contain("KSTATE: invalid: ").And.Contain("checksum"));
            Assert.That(err, Is.Empty, "reported in the output, not as a failure of the tool");
        }
        var json = Kstate("inspect", "--json", region.Path);
        Assert.That(json.Code, Is.EqualTo(App.Invalid));
        using var doc = JsonDocument.Parse(json.Out);
        Assert.That(doc.RootElement.GetProperty("valid").GetBoolean(), Is.False);
        Assert.That(doc.RootElement.GetProperty("problem").GetString(), Does.Contain("checksum"));
    }

    [Test]
    public void Inspect_never_crashes_on_a_mangled_session_directory()
    {
        // The records are mangled before they are written, so their checksums hold and the directory parser sees
        // every mutation: inspect reports it (exit 1) or finds it harmless (exit 0), and never fails as a tool.
        byte[] global = DirectoryPayload(w => SessionDirectory.WriteGlobal(w, new LiveUpdateInfo(2, "cli-test 1.0", DateTimeOffset.UtcNow)));
        byte[] session = DirectoryPayload(w => SessionDirectory.WriteSession(w, 1, new SessionEntry("net", "session-1",
            [new ItemEntry(1, ItemKind.Handler, "cli-test/tally-v1", 7, ["cli-test/tally-total-v1"]), new ItemEntry(2, ItemKind.Description, "cli-test/counter", 8, [])])));
        using var region = new TestRegion("cli-sessions");
        Gen.Select(Gen.Int[0, global.Length + session.Length - 1], Gen.Byte[1, 255]).Array[1, 4].Sample(flips =>
        {
            byte[] both = [.. global, .. session];
            foreach (var (at, x) in flips) both[at] ^= x;
            Kho.RemoveRegion(region.Path);
            using (var kho = region.Boot())
            using (var streams = new KStateStreams(kho))
            {
                var dir = streams.Set.Create(SessionDirectory.StreamName);
                dir.WriteRecord(SessionDirectory.GlobalId, 0, 1, both.AsSpan(0, global.Length));
                dir.WriteRecord(SessionDirectory.SessionId, 1, 1, both.AsSpan(global.Length));
                kho.FinalizeHandover();
            }
            var (code, output, err) = Kstate("inspect", region.Path);
            Assert.That(code, Is.EqualTo(App.Ok).Or.EqualTo(App.Invalid), err);
            Assert.That(err, Is.Empty);
            Assert.That(output, Does.Contain("KSTATE stream \"sessions\""), "the streams are still shown");
        }, iter: 100, threads: 1); // one region path: one case at a time
    }

    /// <summary>The payload of the one record <paramref name="write"/> puts in a scratch stream.</summary>
    private static byte[] DirectoryPayload(Action<RecordWriter> write)
    {
        using var mem = new BufferSegmentMemory(1 << 16);
        var w = new RecordWriter(mem, SessionDirectory.StreamName);
        write(w);
        w.Complete();
        foreach (var rec in RecordReader.Open(mem, BufferSegmentMemory.PhysBase, SessionDirectory.StreamName)) return rec.Payload.ToArray();
        throw new AssertionException("no record written");
    }

    [Test]
    public void Help_lists_every_command()
    {
        var (code, output, _) = Kstate("--help");
        Assert.That(code, Is.EqualTo(App.Ok));
        foreach (var c in new[] { "demo", "inspect", "verify", "compat" }) Assert.That(output, Does.Contain(c));
        Assert.That(output, Does.Not.Contain("demo-next"));
    }

    [Test]
    public void The_demo_hands_a_cache_over_to_a_new_process_and_reports_json()
    {
        var (code, output, err) = KstateProcess("demo", "--json", "--state-size", "4000000");
        Assert.That(code, Is.Zero, err);
        using var doc = JsonDocument.Parse(output); // standard output is exactly one JSON object
        var r = doc.RootElement;
        Assert.That(r.GetProperty("verified").GetBoolean(), Is.True);
        Assert.That(r.GetProperty("state_bytes").GetDouble(), Is.EqualTo(4000000));
        foreach (var k in new[] { "folios", "records", "save_ms", "boot_ms", "restore_ms", "blackout_ms", "warm_ms", "memorypack_ms", "memcpy_ms" })
            Assert.That(r.GetProperty(k).GetDouble(), Is.GreaterThan(0), k);
    }

    [Test]
    public void The_demo_writes_its_report_to_the_writer_it_is_given()
    {
        using var region = new TestRegion("cli-demo-writer");
        var (code, output, err) = Kstate("demo", "--json", "--state-size", "40000", "--region", region.Path);
        Assert.That(code, Is.EqualTo(App.Ok), err);
        using var doc = JsonDocument.Parse(output);
        Assert.That(doc.RootElement.GetProperty("verified").GetBoolean(), Is.True);
        Assert.That(err, Is.Empty, "no progress lines on a captured writer");
    }

    [Test]
    public void Inspect_schema_with_no_binary_output_is_a_usage_error_and_writes_nothing()
    {
        using var region = TalkRegion();
        var (code, output, err) = Kstate("inspect", "--schema", region.Path);
        Assert.That(code, Is.EqualTo(App.UsageOrIo));
        Assert.That(output, Is.Empty);
        Assert.That(err, Does.Contain("--schema writes bytes"));
    }

    [TestCase(false, TestName = "The_demo_refuses_to_replace_a_text_file_open_to_others_and_leaves_it_intact")]
    [TestCase(true, TestName = "The_demo_refuses_to_replace_a_private_text_file_and_leaves_it_intact")]
    public void The_demo_refuses_to_replace_a_text_file(bool privateMode)
    {
        using var region = new TestRegion("cli-demo-text");
        File.WriteAllText(region.Path, "notes that are not a region\n");
        if (privateMode) File.SetUnixFileMode(region.Path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        var (code, _, err) = Kstate("demo", "--state-size", "4096", "--region", region.Path);
        Assert.That(code, Is.EqualTo(App.UsageOrIo));
        Assert.That(err, Does.Contain("not a KState region").And.Contain("refusing"));
        Assert.That(File.ReadAllText(region.Path), Is.EqualTo("notes that are not a region\n"));
    }

    [Test]
    public void The_demo_refuses_to_replace_a_region_holding_a_committed_handover_unless_told_to_discard_it()
    {
        using var region = TalkRegion();
        var before = File.ReadAllBytes(region.Path);
        var (code, _, err) = Kstate("demo", "--state-size", "4096", "--region", region.Path);
        Assert.That(code, Is.EqualTo(App.UsageOrIo));
        Assert.That(err, Does.Contain("committed handover (generation 1)").And.Contain("--discard-handover"));
        Assert.That(File.ReadAllBytes(region.Path), Is.EqualTo(before), "the handover is intact");
        Assert.That(Kstate("verify", region.Path).Code, Is.EqualTo(App.Ok));
    }

    [Test]
    public void The_demo_replaces_a_region_holding_a_handover_when_told_to_discard_it()
    {
        using var region = TalkRegion();
        var (code, output, err) = KstateProcess("demo", "--json", "--state-size", "40000", "--discard-handover", "--region", region.Path);
        Assert.That(code, Is.Zero, err);
        using var doc = JsonDocument.Parse(output);
        Assert.That(doc.RootElement.GetProperty("verified").GetBoolean(), Is.True);
        using var inspector = KhoInspector.Open(region.Path);
        Assert.That(inspector.Status, Does.Contain("consumed"), "the demo's own handover, booted by its second generation");
    }

    [Test]
    public void The_demo_creates_an_absent_region_and_keeps_it()
    {
        using var region = new TestRegion("cli-demo-absent");
        var (code, _, err) = KstateProcess("demo", "--json", "--state-size", "40000", "--region", region.Path);
        Assert.That(code, Is.Zero, err);
        using var inspector = KhoInspector.Open(region.Path);
        Assert.That(inspector.Status, Does.Contain("consumed"));
    }

    [Test]
    public void The_demo_replaces_a_region_without_a_handover_without_being_told()
    {
        using var region = new TestRegion("cli-demo-idle");
        region.Boot().Dispose(); // booted and exited without a handover: nothing to lose
        var (code, _, err) = KstateProcess("demo", "--json", "--state-size", "40000", "--region", region.Path);
        Assert.That(code, Is.Zero, err);
    }

    [Test]
    public void The_demo_refuses_a_region_booted_by_a_running_generation()
    {
        using var region = new TestRegion("cli-demo-busy");
        using (region.Boot())
        {
            var (code, _, err) = Kstate("demo", "--state-size", "4096", "--discard-handover", "--region", region.Path);
            Assert.That(code, Is.EqualTo(App.UsageOrIo));
            Assert.That(err, Does.Contain("booted by a running process"));
        }
        using var inspector = KhoInspector.Open(region.Path);
        Assert.That(inspector.RegionSize, Is.EqualTo(8UL << 20), "still the region the generation booted");
    }

    [Test]
    public void The_demo_refuses_a_symbolic_link_and_what_it_points_to_stays()
    {
        using var target = new TestRegion("cli-demo-target");
        using var link = new TestRegion("cli-demo-link");
        File.WriteAllText(target.Path, "target");
        File.CreateSymbolicLink(link.Path, target.Path);
        var (code, _, err) = Kstate("demo", "--state-size", "4096", "--discard-handover", "--region", link.Path);
        Assert.That(code, Is.EqualTo(App.UsageOrIo));
        Assert.That(err, Does.Contain("symbolic link"));
        Assert.That(File.ReadAllText(target.Path), Is.EqualTo("target"));
        Assert.That(new FileInfo(link.Path).LinkTarget, Is.EqualTo(target.Path));
    }

    /// <summary>Region offset of the first segment of a KSTATE stream (the first listed when no name is given),
    /// as the root blob in the "kstate" subtree names it.</summary>
    private static long FindSegment(string path, string? stream = null)
    {
        using var inspector = KhoInspector.Open(path);
        Assert.That(inspector.TryGetSubtree("kstate", out var root), Is.True);
        for (int at = Format.RootHeaderBytes; at < root.Length; at += Format.RootEntryBytes)
        {
            string name = System.Text.Encoding.UTF8.GetString(root.Slice(at, 64)).TrimEnd('\0');
            if (stream is null || name == stream) return (long)(BitConverter.ToUInt64(root[(at + 64)..]) - Kho.PhysBase);
        }
        Assert.Fail($"no stream named '{stream}'");
        return 0;
    }

    private static void Damage(string path, long offset)
    {
        using var f = new FileStream(path, FileMode.Open, FileAccess.ReadWrite);
        f.Position = offset;
        int b = f.ReadByte();
        f.Position = offset;
        f.WriteByte((byte)(b ^ 0x10));
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct CliCounter
    {
        public long Hits;
        public int Port;
    }

    private static readonly KStateDescription CounterDescription = KStateDescriptionBuilder<CliCounter>.Create("cli-test/counter", 1, 1)
        .Base((ref CliCounter c) => ref c.Hits)
        .Base((ref CliCounter c) => ref c.Port)
        .Build();

    private sealed record Tally(ulong Value);

    /// <summary>A tiny item handler whose items are bound to shared data, so inspection has some to show.</summary>
    private sealed class TallyHandler() : ItemHandler("cli-test/tally-v1")
    {
        private readonly TallyTotal _total = new();

        public override IReadOnlyList<SharedDataHandler> SharedData => [_total];

        public override bool CanPreserve(object item) => item is Tally;

        public override void Preserve(ItemContext context) { }

        public override void Unpreserve(ItemContext context) { }

        public override void Freeze(ItemContext context, RecordWriter state) => state.PutUInt64(((Tally)context.Item!).Value);

        public override object Retrieve(ItemContext context, RecordCursor state, uint version) => new Tally(state.ReadUInt64());
    }

    private sealed class TallyTotal() : SharedDataHandler("cli-test/tally-total-v1")
    {
        public override object Preserve(Kho kho) => new Tally(0);

        public override void Unpreserve(Kho kho, object data) { }

        public override void Freeze(Kho kho, object data, RecordWriter state) => state.PutUInt64(42);

        public override object Retrieve(Kho kho, RecordCursor state, uint version) => new Tally(state.ReadUInt64());
    }
}
