using System.Diagnostics;
using KState.TestHost;
using KState.Tests.Support;

namespace KState.Tests.Reliability;

/// <summary>
/// Crash consistency and soak: a model service hands its state over generation after generation; children are
/// killed with SIGKILL at random instants, and every boot after a kill must either restore the last committed
/// generation completely (every value checked against the model) or boot cold because nothing committed is left
/// (consumed by a completed boot) — never a rejected, partial or mixed handover.
/// </summary>
[NonParallelizable]
public class CrashAndSoakTests
{
    [Test]
    public void Kills_at_random_points_never_lose_or_mix_committed_state() => KillLoop(kills: 50, seed: 7);

    [Test, Category("Stress")]
    public void Kills_at_random_points_never_lose_or_mix_committed_state_stress() => KillLoop(kills: 1000, seed: Environment.TickCount);

    private static void KillLoop(int kills, int seed)
    {
        using var region = new TestRegion("crash");
        var rng = new Random(seed);
        // Calibrate: how long a child takes to start and commit one generation on this machine, so that kills land
        // in every phase however slow the machine is.
        var calibrate = Stopwatch.StartNew();
        var first = Child.Run("soak", region.Path, seed.ToString(), "1");
        Assert.That(first.ExitCode, Is.Zero, first.ToString());
        int window = Math.Max(400, (int)(2 * calibrate.ElapsedMilliseconds));
        int restored = 0, cold = 0, maxGeneration = 0;
        for (int i = 0; i < kills; i++)
        {
            using var child = Child.Start("soak", region.Path, seed.ToString(), "1000000");
            child.StandardInput.Close();
            var lines = new List<string>();
            child.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (lines) lines.Add(e.Data); };
            child.BeginOutputReadLine();
            Thread.Sleep(rng.Next(0, window));
            child.Kill(); // SIGKILL
            child.WaitForExit();

            using var kho = KState.Kho.Init(region.Path, 0);
            if (kho.IsKhoBoot)
            {
                ulong generation = SoakScenario.Verify(kho, seed); // throws on any lost or wrong byte
                maxGeneration = Math.Max(maxGeneration, (int)generation);
                restored++;
            }
            else
            {
                Assert.That(kho.BootReport, Does.Not.Contain("rejected"), $"kill {i}: a handover was damaged: {kho.BootReport}");
                cold++;
            }
        }
        TestContext.Out.WriteLine($"seed {seed}: {kills} kills within {window} ms of start; {restored} boots restored a committed generation completely (up to generation {maxGeneration}), {cold} cold (nothing committed left); 0 damaged");
        Assert.That(restored, Is.GreaterThan(0), "no kill landed after a commit: the test tried nothing");
    }

    [Test]
    public void Generations_of_live_updates_in_separate_processes_match_the_model() => Soak(processes: 8, perProcess: 2, seed: 11);

    [Test, Category("Stress")]
    public void Soak_of_a_thousand_generations_matches_the_model() => Soak(processes: 100, perProcess: 10, seed: Environment.TickCount);

    private static void Soak(int processes, int perProcess, int seed)
    {
        using var region = new TestRegion("soak");
        var sw = Stopwatch.StartNew();
        for (int p = 0; p < processes; p++)
        {
            var r = Child.Run("soak", region.Path, seed.ToString(), perProcess.ToString());
            Assert.That(r.ExitCode, Is.Zero, $"process {p}: {r}");
        }
        using var kho = KState.Kho.Init(region.Path, 0);
        Assert.That(kho.IsKhoBoot, Is.True, kho.BootReport);
        ulong generation = SoakScenario.Verify(kho, seed);
        Assert.That(generation, Is.EqualTo((ulong)(processes * perProcess)));
        TestContext.Out.WriteLine($"seed {seed}: {generation} generations in {processes} processes, every one checked against the model, in {sw.Elapsed.TotalSeconds:F1} s");
    }
}
