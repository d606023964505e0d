using System.Text.Json;
using KState.Cli;
using KState.Tests.Support;

namespace KState.Tests.Cli;

/// <summary>
/// The demo's index handed over in place (kho_vmalloc memory described by preserved arrays): every byte still
/// verified in the successor, KSTATE copying only metadata (its own copied-bytes counter says so), and the index found
/// at the same frames after the handover. With --copy the same index travels through records, and the counter shows it.
/// </summary>
[NonParallelizable]
public class DemoInPlaceTests
{
    private const long StateSize = 3_000_000;
    private static readonly JsonDocs Docs = JsonDocs.Load();

    private static JsonElement Demo(string tag, params string[] extra)
    {
        using var region = new TestRegion(tag);
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int code = App.Run(["demo", "--json", "--no-baselines", "--state-size", StateSize.ToString(System.Globalization.CultureInfo.InvariantCulture), "--region", region.Path, .. extra], stdout, stderr);
        Assert.That(code, Is.EqualTo(App.Ok), stderr.ToString());
        using var doc = JsonDocument.Parse(stdout.ToString());
        Assert.That(Docs.Check(doc.RootElement, "Demo"), Is.Empty, stdout.ToString());
        return doc.RootElement.Clone();
    }

    private static double At(JsonElement r, string key) => r.GetProperty(key).GetDouble();

    [TestCase("demo-inplace-successor")]
    [TestCase("demo-inplace-sequential", "--sequential")]
    [TestCase("demo-inplace-trusted", "--integrity", "trusted")]
    public void In_place_every_byte_is_verified_and_only_metadata_is_copied(string tag, params string[] extra)
    {
        var r = Demo(tag, extra);
        using (Assert.EnterMultipleScope())
        {
            Assert.That(r.GetProperty("handover").GetString(), Is.EqualTo("in-place"));
            Assert.That(r.GetProperty("integrity").GetString(), Is.EqualTo(extra.Contains("trusted") ? "trusted" : "checksum"));
            Assert.That(r.GetProperty("verified").GetBoolean(), Is.True);
            Assert.That(At(r, "verified_entries"), Is.EqualTo(At(r, "entries")));
            Assert.That(At(r, "state_bytes"), Is.EqualTo(StateSize));
            Assert.That(At(r, "index_bytes"), Is.EqualTo(At(r, "entries") * 24 + At(r, "folios") * 8));
            Assert.That(At(r, "copied_save_bytes"), Is.GreaterThan(0), "the records holding where the index lives");
            Assert.That(At(r, "copied_restore_bytes"), Is.GreaterThan(0), "the restored root struct");
            Assert.That(At(r, "copied_bytes"), Is.EqualTo(At(r, "copied_save_bytes") + At(r, "copied_restore_bytes")));
            Assert.That(At(r, "copied_bytes"), Is.LessThan(At(r, "state_bytes") / 100), "less than 1% of the state");
            Assert.That(At(r, "copied_bytes"), Is.LessThan(At(r, "index_bytes") / 10), "not even the index");
        }
    }

    [TestCase("demo-inplace-phys")]
    [TestCase("demo-inplace-phys-sequential", "--sequential")]
    public void The_successor_finds_the_index_at_the_frames_the_predecessor_saved_it_in(string tag, params string[] extra)
    {
        var r = Demo(tag, extra);
        Assert.That(At(r, "index_phys"), Is.GreaterThan(0));
        Assert.That(At(r, "next_index_phys"), Is.EqualTo(At(r, "index_phys")));
    }

    [Test]
    public void Across_four_generations_the_index_stays_at_the_same_frames_and_every_byte_is_verified()
    {
        using var region = new TestRegion("demo-inplace-generations");
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        // Generations 1 and 2 (the demo and its successor, which hands on), then 3 (hands on) and 4 here.
        int code = App.Run(["demo", "--json", "--no-baselines", "--hand-on", "--state-size", "2000000", "--region", region.Path], stdout, stderr);
        Assert.That(code, Is.EqualTo(App.Ok), stderr.ToString());
        using var first = JsonDocument.Parse(stdout.ToString());
        double phys = At(first.RootElement, "index_phys");
        Assert.That(At(first.RootElement, "next_index_phys"), Is.EqualTo(phys), "generation 2");
        foreach (var (generation, args) in new[] { (3, new[] { "--hand-on" }), (4, Array.Empty<string>()) })
        {
            var output = new StringWriter();
            Assert.That(App.Run(["demo-next", region.Path, .. args], output, stderr), Is.EqualTo(App.Ok), stderr.ToString());
            using var doc = JsonDocument.Parse(output.ToString());
            var r = doc.RootElement;
            using (Assert.EnterMultipleScope())
            {
                Assert.That(r.GetProperty("verified").GetBoolean(), Is.True, $"generation {generation}");
                Assert.That(At(r, "verified_entries"), Is.EqualTo(At(first.RootElement, "entries")), $"generation {generation}");
                Assert.That(At(r, "next_index_phys"), Is.EqualTo(phys), $"generation {generation}: the same frames");
                Assert.That(At(r, "live_updates"), Is.EqualTo(generation - 1));
                Assert.That(At(r, "copied_restore_bytes"), Is.LessThan(At(first.RootElement, "index_bytes") / 10), $"generation {generation}: nothing of the index copied");
            }
        }
    }

    [Test]
    public void Hand_on_without_a_region_is_refused()
    {
        var stderr = new StringWriter();
        int code = App.Run(["demo", "--json", "--hand-on", "--state-size", "40000"], new StringWriter(), stderr);
        Assert.That(code, Is.Not.EqualTo(App.Ok));
        Assert.That(stderr.ToString(), Does.Contain("--hand-on"));
    }

    [Test]
    public void By_copy_the_index_is_copied_at_save_and_again_at_restore_and_every_byte_is_verified()
    {
        var r = Demo("demo-copy", "--copy");
        using (Assert.EnterMultipleScope())
        {
            Assert.That(r.GetProperty("handover").GetString(), Is.EqualTo("copy"));
            Assert.That(r.TryGetProperty("integrity", out _), Is.False);
            Assert.That(r.TryGetProperty("index_phys", out _), Is.False);
            Assert.That(r.GetProperty("verified").GetBoolean(), Is.True);
            Assert.That(At(r, "verified_entries"), Is.EqualTo(At(r, "entries")));
            Assert.That(At(r, "copied_save_bytes"), Is.GreaterThanOrEqualTo(At(r, "index_bytes")));
            Assert.That(At(r, "copied_restore_bytes"), Is.GreaterThanOrEqualTo(At(r, "index_bytes")));
        }
    }

    [Test]
    public void A_large_index_by_copy_counts_its_blobs_in_data_segments_at_save()
    {
        // 8 MB of values: an index above 64 KiB, written out of line.
        using var region = new TestRegion("demo-copy-blob");
        var stdout = new StringWriter();
        int code = App.Run(["demo", "--json", "--no-baselines", "--copy", "--state-size", "8000000", "--region", region.Path], stdout, new StringWriter());
        Assert.That(code, Is.EqualTo(App.Ok));
        using var doc = JsonDocument.Parse(stdout.ToString());
        var r = doc.RootElement;
        Assert.That(At(r, "index_bytes"), Is.GreaterThan(64 * 1024));
        Assert.That(At(r, "copied_save_bytes"), Is.GreaterThanOrEqualTo(At(r, "index_bytes")));
        Assert.That(At(r, "copied_bytes"), Is.GreaterThanOrEqualTo(2 * At(r, "index_bytes")));
    }

    [Test]
    public void An_unknown_integrity_is_refused()
    {
        using var region = new TestRegion("demo-bad-integrity");
        var stderr = new StringWriter();
        int code = App.Run(["demo", "--json", "--integrity", "hopeful", "--region", region.Path], new StringWriter(), stderr);
        Assert.That(code, Is.Not.EqualTo(App.Ok));
        Assert.That(stderr.ToString(), Does.Contain("hopeful"));
    }
}
