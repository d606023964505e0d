using KState.Tests.Support;

namespace KState.Tests.Native;

/// <summary><c>kho_init_wait</c> from C (tests/wait.c): a predecessor and a waiting successor, both forked processes
/// on libkstate.so.</summary>
[NonParallelizable]
public class NativeWaitTests : NativeFixture
{
    [TestCase("handover", "successor: restored the handover while the predecessor")]
    [TestCase("cold", "successor: cold boot")]
    [TestCase("timeout", "waiter: -ETIMEDOUT (timed out")]
    public void Kho_init_wait_boots_after_the_predecessor_lets_go_or_exits_and_times_out_with_ETIMEDOUT(string scenario, string says)
    {
        string exe = C.Build("tests/wait.c");
        using var region = new TestRegion("cwait");
        var r = C.Run(exe, region.Path, scenario);
        Assert.That(r.ExitCode, Is.Zero, r.ToString());
        using (Assert.EnterMultipleScope())
        {
            Assert.That(r.Stdout, Does.Contain($"ok {scenario}"));
            Assert.That(r.Stdout, Does.Contain(says));
        }
    }
}
