using KState.Tests.Support;

namespace KState.Tests.Machine;

/// <summary>Live updates as they happen: each generation is a separate process sharing only the region.</summary>
public class LiveUpdateTests
{
    [Test]
    public void A_chain_of_generations_hands_over_folios_ranges_and_subtrees()
    {
        using var r = new TestRegion("chain");
        for (int gen = 1; gen <= 4; gen++)
        {
            var result = Child.Run("kho-gen", r.Path, "7", gen.ToString());
            Assert.That(result.ExitCode, Is.Zero, result.ToString());
            TestContext.Out.Write(result.Stdout);
            if (gen > 1) Assert.That(result.Stdout, Does.Contain($"gen {gen}: restored and verified 25 blocks"));
        }
    }
}
