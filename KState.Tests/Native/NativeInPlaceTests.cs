using KState.Tests.Support;

namespace KState.Tests.Native;

/// <summary>Preserved memory used in place from C (examples/inplace.c, tests/khoser.cpp): runs of pages,
/// kho_alloc_preserve, kho_vmalloc areas and KHOSER pointers across real processes.</summary>
[NonParallelizable]
public class NativeInPlaceTests : NativeFixture
{
    [Test]
    public void The_inplace_example_hands_the_same_memory_on_for_four_generations()
    {
        string exe = C.Build("examples/inplace.c");
        using var region = new TestRegion("cinplace");
        var save = C.Run(exe, "save", region.Path);
        Assert.That(save.ExitCode, Is.Zero, save.ToString());
        string where = save.Stdout.Trim()["gen 1".Length..];
        Assert.That(where, Does.StartWith(": manifest 0x"));
        for (int gen = 2; gen <= 4; gen++)
        {
            var next = C.Run(exe, "next", region.Path);
            Assert.That(next.ExitCode, Is.Zero, next.ToString());
            Assert.That(next.Stdout, Does.Contain($"gen {gen}: restored run, table and a list of 4 nodes"));
            Assert.That(next.Stdout, Does.Contain($"gen {gen}{where}"), "the same phys as generation 1");
        }
    }

    [Test]
    public void The_inplace_example_refuses_damaged_chunk_lists_in_the_next_process()
    {
        string exe = C.Build("examples/inplace.c");
        using var region = new TestRegion("cinplace-damaged");
        var save = C.Run(exe, "save", region.Path);
        Assert.That(save.ExitCode, Is.Zero, save.ToString());
        var damaged = C.Run(exe, "damaged", region.Path);
        Assert.That(damaged.ExitCode, Is.Zero, damaged.ToString());
        using (Assert.EnterMultipleScope())
        {
            foreach (var kind in new[] { "bad-next", "loop", "count", "frame-not-preserved", "frame-twice", "order-too-big" })
                Assert.That(damaged.Stdout, Does.Contain($"refused {kind}: "), kind);
            Assert.That(damaged.Stdout, Does.Contain("restored 1100 pages after the refusals"));
        }
    }

    [Test]
    public void Khoser_macros_compile_as_cpp_and_store_and_load_typed_pointers([Values("g++", "clang++")] string cxx,
        [Values("c++11", "c++17", "c++20")] string std)
    {
        if (!File.Exists($"/usr/bin/{cxx}") && !File.Exists($"/usr/local/bin/{cxx}")) Assert.Ignore($"{cxx} is not installed");
        string exe = Path.Combine(C.Work, $"khoser-{cxx}-{std}");
        var r = C.Run("/bin/sh", "-c",
            $"{cxx} -std={std} -Wall -Werror -Wextra -pedantic -o '{exe}' '{NativeToolchain.Source("tests/khoser.cpp")}' $(pkg-config --cflags --libs kstate)");
        Assert.That(r.ExitCode, Is.Zero, r.ToString());
        using var region = new TestRegion("khoser");
        var run = C.Run(exe, region.Path);
        Assert.That(run.ExitCode, Is.Zero, run.ToString());
        Assert.That(run.Stdout, Does.Contain("khoser: ok"));
    }

    [TestCase("gcc", "")]
    [TestCase("g++", "-x c++")]
    public void Khoser_store_refuses_a_value_of_another_type_at_compile_time(string compiler, string language)
    {
        string source = NativeToolchain.Source("tests/khoser_wrong_type.c");
        var r = C.Run("/bin/sh", "-c", $"{compiler} {language} -Wall -Werror -c -o /dev/null '{source}' $(pkg-config --cflags kstate)");
        Assert.That(r.ExitCode, Is.Not.Zero, "a struct b * was stored into a struct a * member");
        Assert.That(r.Stderr, Does.Contain("incompatible pointer type").Or.Contain("cannot convert"), r.Stderr);
    }
}
