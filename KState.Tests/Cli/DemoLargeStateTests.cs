using System.Text.Json;
using KState.Cli;
using KState.Tests.Support;

namespace KState.Tests.Cli;

/// <summary>The demo with more state than one .NET array holds (2 GiB and up: the blackout measurements go to 4 GiB).</summary>
[NonParallelizable]
[Category("Stress")] // 2.8 GB of /dev/shm and about 10 s
public class DemoLargeStateTests
{
    [Test]
    public void The_demo_hands_over_more_than_an_array_holds_and_says_the_baselines_did_not_run()
    {
        using var region = new TestRegion("cli-demo-large");
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int code = App.Run(["demo", "--json", "--state-size", "2200000000", "--region", region.Path], stdout, stderr);
        Assert.That(code, Is.EqualTo(App.Ok), stderr.ToString());
        using var doc = JsonDocument.Parse(stdout.ToString());
        var json = doc.RootElement;
        Assert.That(json.GetProperty("verified").GetBoolean(), Is.True);
        Assert.That(json.GetProperty("state_bytes").GetDouble(), Is.EqualTo(2200000000));
        Assert.That(json.GetProperty("baselines").GetString(), Does.StartWith("not run: 2200000000 bytes"));
        Assert.That(json.TryGetProperty("memorypack_ms", out _), Is.False);
    }
}
