using KState.Tests.Support;

namespace KState.Tests.Native;

/// <summary>
/// examples/successor.c: a binary upgrade across two real processes. Generation 1 starts generation 2 while it still
/// serves; generation 2 waits for the region (kho_init_wait); generation 1 then finalizes and lets go, and generation
/// 2 boots and verifies every byte while generation 1 is still alive. After finalize generation 1 cannot preserve
/// more (-EBUSY), and after kho_exit it has no mapping left to write through.
/// </summary>
[NonParallelizable]
public class NativeSuccessorTests : NativeFixture
{
    [Test]
    public void The_successor_example_boots_a_waiting_successor_that_verifies_every_byte_while_the_predecessor_runs()
    {
        string exe = C.Build("examples/successor.c");
        using var region = new TestRegion("csuccessor");
        var r = C.Run(exe, region.Path, "8");
        Assert.That(r.ExitCode, Is.Zero, r.ToString());
        using (Assert.EnterMultipleScope())
        {
            Assert.That(r.Stdout, Does.Contain("gen1: 8 MiB in 4 folios"));
            Assert.That(r.Stdout, Does.Contain("gen1: after finalize preserving is -EBUSY; after kho_exit the folio's address is NULL"));
            Assert.That(r.Stdout, Does.Contain("gen2: restored 4 folios (8 MiB), every byte verified; predecessor still running"));
            Assert.That(r.Stdout, Does.Contain("after stop-serving (the blackout)"));
        }
    }
}
