using System.Diagnostics;
using System.Text.Json;
using KState.Cli;
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

    /// <summary>The tool as a real process, for output that goes to the raw standard output (--fdt, --schema).</summary>
    private static byte[] KstateBytes(params string[] args)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "kstate.dll"));
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        using var bytes = new MemoryStream();
        p.StandardOutput.BaseStream.CopyTo(bytes);
        p.WaitForExit();
        Assert.That(p.ExitCode, Is.Zero, p.StandardError.ReadToEnd());
        return bytes.ToArray();
    }

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
        Assert.That(a.GetProperty("instance").GetInt32(), Is.EqualTo(1));
        Assert.That(a.GetProperty("fields").GetProperty("I").GetString(), Does.StartWith("42"));
        Assert.That(a.GetProperty("fields").GetProperty("Folio").GetString(), Does.Contain("order 2"));
        var module = main.GetProperty("live").EnumerateArray().Single(r => r.GetProperty("state").GetString() == "kstate-test/module");
        Assert.That(module.GetProperty("fields").GetProperty("[kstate-test/sub]").GetProperty("J").GetString(), Does.StartWith("8"));
        Assert.That(root.GetProperty("preserved").GetArrayLength(), Is.GreaterThan(2));
    }

    [Test]
    public void Inspect_fdt_writes_the_root_tree_for_dtc()
    {
        if (!Emulator.HandoverTests.CommandExists("dtc")) Assert.Ignore("dtc is not installed (./build.sh test installs it)");
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
            var next = Core.Schema.KStateSchema.Of([
                Core.Descriptions.KStateDescriptionBuilder<TalkA>.Create("a_struct", TalkDescriptions.TestId, 3, 2)
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
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { Path.Combine(AppContext.BaseDirectory, "kstate.dll"), "demo", "--json", "--state-size", "4000000" }) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        string output = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        Assert.That(p.ExitCode, Is.Zero, p.StandardError.ReadToEnd());
        using var doc = JsonDocument.Parse(output); // standard output is exactly one JSON object
        var r = doc.RootElement;
        Assert.That(r.GetProperty("verified").GetBoolean(), Is.True);
        Assert.That(r.GetProperty("state_bytes").GetDouble(), Is.EqualTo(4000000));
        foreach (var k in new[] { "folios", "records", "save_ms", "boot_ms", "restore_ms", "blackout_ms", "warm_ms", "memorypack_ms", "memcpy_ms" })
            Assert.That(r.GetProperty(k).GetDouble(), Is.GreaterThan(0), k);
    }

    /// <summary>Region offset of the first KSTATE stream segment (the "kstate" subtree names it).</summary>
    private static long FindSegment(string path)
    {
        using var inspector = KhoInspector.Open(path);
        Assert.That(inspector.TryGetSubtree("kstate", out var root), Is.True);
        ulong phys = BitConverter.ToUInt64(root[(24 + 64)..]);
        return (long)(phys - Kho.PhysBase);
    }

    private static void Damage(string path, long offset)
    {
        using var f = new FileStream(path, FileMode.Open, FileAccess.ReadWrite);
        f.Position = offset;
        int b = f.ReadByte();
        f.Position = offset;
        f.WriteByte((byte)(b ^ 0x10));
    }
}
