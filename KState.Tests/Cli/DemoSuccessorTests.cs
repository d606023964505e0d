using System.Text.Json;
using KState.Cli;
using KState.Tests.Support;

namespace KState.Tests.Cli;

/// <summary>
/// The demo's two ways of handing over: by default a successor started before the handover, which waits for the
/// region (Kho.InitWait) while the first generation still serves; with --sequential a next generation started only
/// after the first has torn down. Both verify every byte and report every phase as docs/JSON.md says ("Demo").
/// The moments compared here are orderings the protocol guarantees, not timings.
/// </summary>
[NonParallelizable]
public class DemoSuccessorTests
{
    private static readonly JsonDocs Docs = JsonDocs.Load();

    private static JsonElement Demo(string tag, params string[] extra)
    {
        using var region = new TestRegion(tag);
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int code = App.Run(["demo", "--json", "--state-size", "3000000", "--region", region.Path, .. extra], stdout, stderr);
        Assert.That(code, Is.EqualTo(App.Ok), stderr.ToString());
        using var doc = JsonDocument.Parse(stdout.ToString());
        Assert.That(Docs.Check(doc.RootElement, "Demo"), Is.Empty, stdout.ToString());
        return doc.RootElement.Clone();
    }

    private static double At(JsonElement r, string key) => r.GetProperty(key).GetDouble();

    [Test]
    public void By_default_the_successor_starts_before_the_handover_boots_after_the_let_go_and_verifies_every_byte()
    {
        var r = Demo("demo-successor");
        using (Assert.EnterMultipleScope())
        {
            Assert.That(r.GetProperty("mode").GetString(), Is.EqualTo("successor"));
            Assert.That(r.GetProperty("verified").GetBoolean(), Is.True);
            Assert.That(At(r, "verified_entries"), Is.EqualTo(At(r, "entries")));
            Assert.That(At(r, "spawned_at_ms"), Is.LessThan(0), "spawned while the first generation still served");
            Assert.That(At(r, "booted_at_ms"), Is.GreaterThanOrEqualTo(At(r, "let_go_at_ms")), "booted only once the first generation let go");
            Assert.That(At(r, "blackout_ms"), Is.GreaterThanOrEqualTo(At(r, "booted_at_ms")));
            Assert.That(At(r, "live_updates"), Is.EqualTo(1));
            Assert.That(r.GetProperty("backing").GetString(), Does.StartWith("tmpfs"));
        }
    }

    [Test]
    public void Sequential_starts_the_next_generation_after_the_teardown_and_verifies_every_byte()
    {
        var r = Demo("demo-sequential", "--sequential");
        using (Assert.EnterMultipleScope())
        {
            Assert.That(r.GetProperty("mode").GetString(), Is.EqualTo("sequential"));
            Assert.That(r.GetProperty("verified").GetBoolean(), Is.True);
            Assert.That(At(r, "spawned_at_ms"), Is.GreaterThanOrEqualTo(At(r, "torn_down_at_ms")), "spawned after the teardown");
            Assert.That(At(r, "blackout_ms"), Is.GreaterThanOrEqualTo(At(r, "spawned_at_ms")), "the process start is inside the blackout");
        }
    }

    [Test]
    public void The_demo_text_names_every_phase_of_both_generations()
    {
        using var region = new TestRegion("demo-text");
        var stdout = new StringWriter();
        int code = App.Run(["demo", "--state-size", "40000", "--region", region.Path], stdout, new StringWriter());
        Assert.That(code, Is.EqualTo(App.Ok));
        foreach (var phase in new[] { "process start", "runtime ready", "stop serving", "preserve", "save (KSTATE records)", "finalize", "teardown", "boot", "restore", "blackout", "serving", "region backing: tmpfs" })
            Assert.That(stdout.ToString(), Does.Contain(phase));
    }
}
