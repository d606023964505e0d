using System.Diagnostics;
using KState;
using KState.Tests.Support;

namespace KState.Tests.Machine;

public class HandoverTests
{
    [Test]
    public void Subtrees_are_handed_over_by_name_and_duplicates_refused()
    {
        using var r = new TestRegion();
        using (var kho = r.Boot())
        {
            kho.AddSubtree("acme-fw", [1, 2, 3]);
            kho.AddSubtree("acme-nic", new byte[5000]);
            Assert.Throws<KStateExistsException>(() => kho.AddSubtree("acme-fw", [9]));
            Assert.Throws<KStateInvalidException>(() => kho.AddSubtree("bad/name", [9]));
            Assert.Throws<KStateInvalidException>(() => kho.AddSubtree("", [9]));
            kho.AddSubtree("gone", [7]);
            Assert.That(kho.RemoveSubtree("gone"), Is.True);
            kho.FinalizeHandover();
        }
        using var next = r.Boot();
        Assert.That(next.IsKhoBoot, Is.True, next.BootReport);
        Assert.That(next.RetrieveSubtree("acme-fw").ToArray(), Is.EqualTo(new byte[] { 1, 2, 3 }));
        Assert.That(next.RetrieveSubtree("acme-nic").Length, Is.EqualTo(5000));
        Assert.That(next.IncomingSubtreeNames, Is.EquivalentTo(new[] { "acme-fw", "acme-nic" }));
        Assert.Throws<KStateNotFoundException>(() => next.RetrieveSubtree("gone"));
    }

    [Test]
    public void Exit_without_finalize_leaves_no_handover()
    {
        using var r = new TestRegion();
        using (var kho = r.Boot())
        {
            kho.PreserveFolio(kho.AllocFolio(0));
            kho.AddSubtree("x", [1]);
        }
        using var next = r.Boot();
        Assert.That(next.IsKhoBoot, Is.False);
        Assert.That(next.BootReport, Does.Contain("cold boot"));
    }

    [Test]
    public void An_aborted_handover_is_not_booted_and_a_new_finalize_is()
    {
        using var r = new TestRegion();
        Folio kept;
        using (var kho = r.Boot())
        {
            kept = kho.AllocFolio(0);
            kho.PreserveFolio(kept);
            kho.FinalizeHandover();
            kho.AbortHandover();
        }
        using (var cold = r.Boot())
        {
            Assert.That(cold.IsKhoBoot, Is.False);
            Assert.That(cold.BootReport, Does.Contain("aborted"));
            kept = cold.AllocFolio(0);
            cold.PreserveFolio(kept);
            cold.FinalizeHandover();
            cold.AbortHandover();
            cold.FinalizeHandover();
        }
        using var next = r.Boot();
        Assert.That(next.IsKhoBoot, Is.True, next.BootReport);
        Assert.That(next.TryRestoreFolio(kept.Phys, out _), Is.True);
    }

    [Test]
    public void A_handover_is_consumed_by_the_boot_that_ingests_it()
    {
        using var r = new TestRegion();
        using (var kho = r.Boot()) kho.FinalizeHandover();
        using (var second = r.Boot()) Assert.That(second.IsKhoBoot, Is.True);
        using var third = r.Boot();
        Assert.That(third.IsKhoBoot, Is.False);
        Assert.That(third.BootReport, Does.Contain("consumed"));
    }

    [Test]
    public void Generations_count_up()
    {
        using var r = new TestRegion();
        for (ulong g = 1; g <= 4; g++)
        {
            using var kho = r.Boot();
            Assert.That(kho.BootGeneration, Is.EqualTo(g - 1));
            kho.FinalizeHandover();
        }
    }

    [Test]
    public void A_participant_runs_at_finalize_and_its_failure_aborts_the_finalize()
    {
        using var r = new TestRegion();
        using var kho = r.Boot();
        var ok = new Participant(fail: false);
        var bad = new Participant(fail: true);
        kho.AddParticipant(ok);
        kho.AddParticipant(bad);
        Assert.Throws<InvalidOperationException>(kho.FinalizeHandover);
        Assert.That(kho.IsFinalized, Is.False);
        Assert.That((ok.Finalized, ok.Aborted), Is.EqualTo((1, 1)));
        kho.RemoveParticipant(bad);
        kho.FinalizeHandover();
        kho.AbortHandover();
        Assert.That((ok.Finalized, ok.Aborted), Is.EqualTo((2, 2)));
    }

    private sealed class Participant(bool fail) : IKhoParticipant
    {
        public int Finalized, Aborted;

        public void OnFinalize(KState.Kho kho)
        {
            if (fail) throw new InvalidOperationException("participant refuses");
            Finalized++;
            kho.AddSubtree("participant", [42]);
        }

        public void OnAbort(KState.Kho kho)
        {
            Aborted++;
            kho.RemoveSubtree("participant");
        }
    }

    [Test]
    public void The_root_tree_is_an_fdt_that_dtc_decodes()
    {
        if (!CommandExists("dtc")) Assert.Ignore("dtc is not installed (./build.sh test installs it)");
        using var r = new TestRegion();
        using var kho = r.Boot();
        kho.AddSubtree("acme-fw", [1, 2, 3, 4]);
        kho.AddSubtree("acme-nic", [5]);
        kho.FinalizeHandover();
        var dtb = Path.GetTempFileName();
        try
        {
            File.WriteAllBytes(dtb, kho.RootFdt.ToArray());
            var psi = new ProcessStartInfo("dtc", ["-I", "dtb", "-O", "dts", dtb]) { RedirectStandardOutput = true, RedirectStandardError = true };
            using var p = Process.Start(psi)!;
            string dts = p.StandardOutput.ReadToEnd();
            p.WaitForExit();
            using (Assert.EnterMultipleScope())
            {
                Assert.That(p.ExitCode, Is.Zero, p.StandardError.ReadToEnd());
                Assert.That(dts, Does.Contain("compatible = \"kho-v1\""));
                Assert.That(dts, Does.Contain("preserved-memory-map"));
                Assert.That(dts, Does.Contain("acme-fw {"));
                Assert.That(dts, Does.Contain("acme-nic {"));
            }
        }
        finally
        {
            File.Delete(dtb);
        }
    }

    internal static bool CommandExists(string name) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Any(d => File.Exists(Path.Combine(d, name)));

    [Test]
    public void A_subtree_name_the_library_uses_is_refused_at_the_call()
    {
        using var r = new TestRegion("reserved");
        using (var kho = r.Boot())
        {
            Assert.That(Kho.ReservedSubtreeNames, Does.Contain(KStateStreams.SubtreeName));
            var e = Assert.Throws<KStateInvalidException>(() => kho.AddSubtree("kstate", [1]))!;
            Assert.That(e.Message, Does.Contain("reserved").And.Contain("kstate"));
            using var streams = new KStateStreams(kho);
            streams.Set.Create("main").WriteRecord(1, 1, 1, [1, 2, 3]);
            kho.FinalizeHandover(); // the library's own "kstate" goes in, and nothing else under that name
        }
        using var next = r.Boot(0);
        Assert.That(next.IsKhoBoot, Is.True, next.BootReport);
        Assert.That(next.IncomingSubtreeNames, Is.EqualTo(new[] { "kstate" }));
    }
}
