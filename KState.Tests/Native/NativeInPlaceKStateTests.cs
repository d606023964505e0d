using KState.Tests.Support;

namespace KState.Tests.Native;

/// <summary>KSTATE_PRESERVED_STRUCT and KSTATE_PRESERVED_ARRAY from C (examples/inplace_kstate.c), each generation a
/// process of its own; and their compile-time checks.</summary>
[NonParallelizable]
public class NativeInPlaceKStateTests : NativeFixture
{
    private string _exe = null!;

    [OneTimeSetUp]
    public void BuildExample()
    {
        _exe = C.Build("examples/inplace_kstate.c");
    }

    private Child.Result Run(params string[] args)
    {
        var r = C.Run(_exe, args);
        Assert.That(r.ExitCode, Is.Zero, $"{string.Join(' ', args)}: {r}");
        return r;
    }

    [TestCase("gen")]
    [TestCase("vgen")]
    public void The_same_entries_are_handed_over_in_place_at_the_same_phys_by_four_c_processes(string mode)
    {
        using var region = new TestRegion("cinplace-gens");
        var places = Enumerable.Range(1, 4).Select(g => Run(mode, g.ToString(), region.Path).Stdout.Trim()).ToList();
        Assert.That(places.Distinct().Count(), Is.EqualTo(1), string.Join("\n", places));
        Assert.That(places[0], Does.Match("^items=0x[0-9a-f]+ head=0x[0-9a-f]+$"));
    }

    [Test]
    public void Entries_that_gained_a_field_are_converted_into_new_memory_with_the_field_at_zero()
    {
        using var region = new TestRegion("cinplace-v2");
        string first = Run("gen", "1", region.Path).Stdout.Trim();
        string converted = Run("v2", region.Path).Stdout.Trim();
        Assert.That(converted, Does.StartWith("converted: items=").And.EndWith("added=0"));
        Assert.That(converted.Split(' ')[1], Is.Not.EqualTo(first.Split(' ')[0]), "new memory for the new layout");
    }

    [Test]
    public void A_second_restore_and_entries_of_a_version_out_of_range_are_refused()
    {
        using (var region = new TestRegion("cinplace-twice"))
        {
            Run("gen", "1", region.Path);
            Assert.That(Run("twice", region.Path).Stdout, Does.Contain("second restore: corrupt stream or handover (EBADMSG), untouched: yes"));
        }
        using (var region = new TestRegion("cinplace-old"))
        {
            Run("gen", "1", region.Path);
            Assert.That(Run("old", region.Path).Stdout, Does.Contain("EPROTO"));
        }
    }

    [Test]
    public void Damaged_entries_are_refused_when_checksummed_and_handed_over_as_they_are_when_trusted()
    {
        using var region = new TestRegion("cinplace-damage");
        Run("damage", region.Path);
        Assert.That(Run("damaged", region.Path).Stdout, Does.Contain("checksummed: corrupt stream or handover (EBADMSG); trusted: success, entry 7 as damaged"));
    }

    [Test]
    public void An_element_description_with_a_pointer_is_refused_with_einval()
    {
        using var region = new TestRegion("cinplace-invalid");
        Assert.That(Run("invalid", region.Path).Stdout, Does.Contain("EINVAL").And.Contain("Pointer field 'p'"));
    }

    [Test]
    public void The_preserved_macros_refuse_a_signed_or_pointer_count_and_a_member_that_is_not_a_pointer(
        [Values("tests/signed_count.c", "tests/pointer_count.c", "tests/not_a_preserved_pointer.c")] string file,
        [Values("gcc", "g++")] string compiler)
    {
        string lang = compiler == "g++" ? "-x c++ -std=c++17" : "";
        var r = C.Run("/bin/sh", "-c", $"{compiler} {lang} -Wall -Werror -c -o '{Path.Combine(C.Work, "must-not-exist.o")}' '{NativeToolchain.Source(file)}' $(pkg-config --cflags kstate)");
        Assert.That(r.ExitCode, Is.Not.Zero, $"{file} compiled with {compiler}");
        Assert.That(r.Stderr, Does.Contain("kstate.h"), "refused by the macro's check");
    }
}
