namespace KState.Tests.Native;

/// <summary><c>kho_init_fd</c> from C: a memfd region handed from one process to the next over a unix socket.</summary>
[NonParallelizable]
public class NativeFdTests : NativeFixture
{
    [Test]
    public void The_fdpass_example_hands_a_memfd_region_to_the_next_process_with_SCM_RIGHTS()
    {
        string exe = C.Build("examples/fdpass.c");
        var r = C.Run(exe);
        Assert.That(r.ExitCode, Is.Zero, r.ToString());
        using (Assert.EnterMultipleScope())
        {
            Assert.That(r.Stdout, Does.Contain("gen1: saved value=42, sent the memfd"));
            Assert.That(r.Stdout, Does.Contain("gen2: restored value=42 note=from gen 1; seals shrink=1 grow=1; ftruncate refused (EPERM)"));
        }
    }
}
