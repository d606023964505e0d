using KState.Tests.Support;

namespace KState.Tests.Machine;

/// <summary>Memory used in place across real processes: runs of pages, alloc-preserve folios and vmalloc areas keep
/// their phys and bytes across generations; damaged chunk lists are refused by a process that shares only the region.</summary>
public class InPlaceLiveUpdateTests
{
    [Test]
    public void Pages_folios_and_a_scattered_vmalloc_area_keep_their_phys_for_generations()
    {
        using var r = new TestRegion("inplace-chain");
        string? first = null;
        for (int gen = 1; gen <= 4; gen++)
        {
            var result = Child.Run("inplace-gen", r.Path, gen.ToString());
            Assert.That(result.ExitCode, Is.Zero, result.ToString());
            string line = result.Stdout.Trim();
            Assert.That(line, Does.StartWith($"gen {gen}: run 0x"));
            Assert.That(line, Does.Contain("area 1100 pages"));
            string where = line[line.IndexOf(':')..];
            first ??= where;
            Assert.That(where, Is.EqualTo(first), $"generation {gen} moved something");
        }
    }

    [Test]
    public void Damaged_chunk_lists_are_refused_in_the_next_process()
    {
        using var r = new TestRegion("inplace-damaged");
        var gen1 = Child.Run("inplace-gen", r.Path, "1");
        Assert.That(gen1.ExitCode, Is.Zero, gen1.ToString());
        var result = Child.Run("inplace-damaged", r.Path);
        Assert.That(result.ExitCode, Is.Zero, result.ToString());
        foreach (var kind in new[] { "bad-next", "loop", "count", "frame-not-preserved", "frame-twice", "order-too-big", "total-pages" })
            Assert.That(result.Stdout, Does.Contain($"refused {kind}: "), kind);
        Assert.That(result.Stdout, Does.Contain("restored 1100 pages after the refusals"));
    }
}
