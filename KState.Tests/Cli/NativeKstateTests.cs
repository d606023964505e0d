using System.Diagnostics;
using System.Text.Json;
using KState.Inspection;
using KState.Tests.Native;
using KState.Tests.Support;

namespace KState.Tests.Cli;

/// <summary>
/// kstate published as a Native AOT executable (./build.sh publishes it into artifacts/kstate, or KSTATE_AOT_DIR): the
/// demo's two generations both run as that executable. Ignored when it is not built; ./build.sh test builds it and
/// requires it (KSTATE_REQUIRE_NATIVE=1).
/// </summary>
[NonParallelizable]
public class NativeKstateTests
{
    private static string Executable()
    {
        string dir = Environment.GetEnvironmentVariable("KSTATE_AOT_DIR") ?? Path.Combine(NativeToolchain.Root(), "artifacts", "kstate");
        string exe = Path.Combine(dir, "kstate");
        if (!File.Exists(exe))
        {
            string why = $"the native kstate is not built ({exe} does not exist): run ./build.sh (or ./build.sh test)";
            if (Environment.GetEnvironmentVariable("KSTATE_REQUIRE_NATIVE") == "1") Assert.Fail(why);
            Assert.Ignore(why);
        }
        return exe;
    }

    private static Child.Result Run(string exe, params string[] args)
    {
        var psi = new ProcessStartInfo(exe) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(TimeSpan.FromSeconds(120)))
        {
            p.Kill(entireProcessTree: true);
            Assert.Fail($"{exe} {string.Join(' ', args)} did not finish in 120 s");
        }
        return new Child.Result(p.ExitCode, stdout.Result, stderr.Result);
    }

    [Test]
    public void The_native_kstate_hands_the_demo_cache_to_a_native_second_process_which_verifies_every_byte()
    {
        string exe = Executable();
        Assert.That(File.Exists(Path.Combine(Path.GetDirectoryName(exe)!, "libMono.Unix.so")), Is.True, "libMono.Unix.so beside kstate");
        using var region = new TestRegion("cli-native-demo");
        var r = Run(exe, "demo", "--json", "--state-size", "4000000", "--region", region.Path);
        Assert.That(r.ExitCode, Is.Zero, r.ToString());
        using var doc = JsonDocument.Parse(r.Stdout);
        var json = doc.RootElement;
        Assert.That(json.GetProperty("verified").GetBoolean(), Is.True);
        Assert.That(json.GetProperty("native").GetBoolean(), Is.True, "the first generation ran without a JIT");
        Assert.That(json.GetProperty("next_native").GetBoolean(), Is.True, "the second generation is the native executable too");
        Assert.That(json.GetProperty("live_updates").GetDouble(), Is.EqualTo(1));
        Assert.That(json.GetProperty("verified_entries").GetDouble(), Is.EqualTo(json.GetProperty("entries").GetDouble()));
        using var inspector = KhoInspector.Open(region.Path);
        Assert.That(inspector.Status, Does.Contain("consumed"), "the second process booted the handover");
    }

    [Test]
    public void The_demo_under_the_jit_reports_that_neither_generation_ran_natively()
    {
        // This process runs under the JIT, and so does the dotnet kstate.dll it starts as the second generation.
        using var region = new TestRegion("cli-jit-demo");
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int code = KState.Cli.App.Run(["demo", "--json", "--state-size", "40000", "--region", region.Path], stdout, stderr);
        Assert.That(code, Is.Zero, stderr.ToString());
        using var doc = JsonDocument.Parse(stdout.ToString());
        Assert.That(doc.RootElement.GetProperty("native").GetBoolean(), Is.False);
        Assert.That(doc.RootElement.GetProperty("next_native").GetBoolean(), Is.False);
    }

    [Test]
    public void The_native_kstate_inspects_the_region_its_demo_left()
    {
        string exe = Executable();
        using var region = new TestRegion("cli-native-inspect");
        Assert.That(Run(exe, "demo", "--json", "--state-size", "40000", "--region", region.Path).ExitCode, Is.Zero);
        var r = Run(exe, "inspect", "--json", region.Path);
        Assert.That(r.ExitCode, Is.Zero, r.ToString());
        using var doc = JsonDocument.Parse(r.Stdout);
        Assert.That(doc.RootElement.GetProperty("valid").GetBoolean(), Is.True);
    }
}
