using System.Text.RegularExpressions;
using KState.Tests.Support;

namespace KState.Tests.Native;

/// <summary>
/// libkstate.so used as a hostile but plausible C program would (issue 18): every export behind one exception
/// barrier, kho_exit racing other calls, re-entry from callbacks, descriptions changed under one pointer, custom
/// restores. Crashes and races run in child processes (the C programs fork), so a crash is a failure, not fatal.
/// </summary>
[NonParallelizable]
public partial class NativeAbiMisuseTests : NativeFixture
{
    private static string Read(string relative) => File.ReadAllText(NativeToolchain.Source(relative));

    /// <summary>The function names kstate.h declares (prototypes, not macros).</summary>
    private static SortedSet<string> HeaderFunctions() =>
        [.. Prototype().Matches(Read("include/kstate.h")).Select(m => m.Groups[1].Value)];

    /// <summary>Entry point → the body of its method, for every [UnmanagedCallersOnly] method of KState.Native.</summary>
    private static Dictionary<string, string> ExportBodies()
    {
        var bodies = new Dictionary<string, string>();
        foreach (var file in Directory.GetFiles(Path.Combine(NativeToolchain.Root(), "KState.Native"), "*.cs"))
            foreach (Match m in Export().Matches(File.ReadAllText(file)))
                bodies.Add(m.Groups[1].Value, m.Groups[2].Value);
        return bodies;
    }

    [Test]
    public void Every_export_is_one_call_of_the_exception_barrier()
    {
        var bodies = ExportBodies();
        Assert.That(bodies, Is.Not.Empty);
        using (Assert.EnterMultipleScope())
        {
            foreach (var (name, body) in bodies)
                Assert.That(body, Does.Match(@"^(\(\w+\*?\))?Barrier\.(Run|Get|Lifetime)\("), $"{name} does not go through the barrier");
        }
    }

    [Test]
    public void The_exports_are_exactly_the_functions_of_kstate_h()
    {
        Assert.That(ExportBodies().Keys, Is.EquivalentTo(HeaderFunctions()));
    }

    [Test]
    public void The_library_exports_exactly_the_functions_of_kstate_h()
    {
        var r = C.Run("/bin/sh", "-c", $"nm -D --defined-only '{Path.Combine(C.Dir, "libkstate.so")}'");
        Assert.That(r.ExitCode, Is.Zero, r.ToString());
        var exported = r.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(l => l.Split(' ')[^1].Split('@')[0]) // kho_init@@V1.0: the name without its version
            .Where(s => s.StartsWith("kho_", StringComparison.Ordinal) || s.StartsWith("kstate_", StringComparison.Ordinal) || s == "is_kho_boot");
        Assert.That(exported, Is.EquivalentTo(HeaderFunctions()));
    }

    [Test]
    public void The_misuse_program_calls_every_function_of_kstate_h()
    {
        string misuse = Read("tests/misuse.c");
        Assert.That(HeaderFunctions().Where(f => !misuse.Contains(f + "(", StringComparison.Ordinal)), Is.Empty);
    }

    [Test]
    public void Every_function_fails_cleanly_before_kho_init_after_kho_exit_and_with_made_up_arguments()
    {
        string exe = C.Build("tests/misuse.c");
        using var region = new TestRegion("cmisuse");
        var r = C.Run(exe, region.Path);
        Assert.That(r.ExitCode, Is.Zero, r.ToString());
        Assert.That(r.Stdout, Does.Match(@"\d+ checks, 0 failed"));
    }

    [TestCase("translate")] // item 1: kho_phys_to_virt, kho_virt_to_phys, kho_folio_address, kho_restore_folio, kho_restore_phys
    [TestCase("alloc")]     // item 2: kho_folio_alloc zeroing a folio while kho_exit unmaps
    [TestCase("save")]      // item 2: kstate_save_state of a 1 MiB object while kho_exit unmaps
    public void Kho_exit_racing_calls_on_another_thread_waits_for_them_and_nothing_crashes(string scenario)
    {
        string exe = C.Build("tests/races.c");
        using var region = new TestRegion("craces");
        var r = C.Run(exe, region.Path, scenario);
        Assert.That(r.ExitCode, Is.Zero, r.ToString());
        Assert.That(r.Stdout, Does.Contain($"{scenario}: ok"));
    }

    [TestCase("pre_save-in-kstate_save_state")]
    [TestCase("pre_save-in-kho_finalize")]
    [TestCase("custom-save")]
    [TestCase("custom-restore")]
    [TestCase("post_load")]
    [TestCase("session-pre_save-in-kho_finalize")]
    public void Kho_exit_and_kho_init_from_a_callback_are_refused_with_EBUSY_and_the_call_goes_on(string scenario)
    {
        string exe = C.Build("tests/callbacks.c");
        using var region = new TestRegion("ccallbacks");
        var r = C.Run(exe, region.Path, scenario);
        Assert.That(r.ExitCode, Is.Zero, r.ToString());
        Assert.That(r.Stdout, Does.Contain($"ok {scenario}"));
    }

    [TestCase("rewritten-in-place")]                    // item 9
    [TestCase("field-table-edited")]                    // item 9
    [TestCase("stack-descriptions-reuse-an-address")]   // item 9
    [TestCase("custom-restore-writes-the-object")]      // item 10
    [TestCase("custom-field-in-a-nested-description")]  // item 10
    [TestCase("pointer-filled-in-place")]               // item 13
    public void Descriptions_are_read_at_every_call_custom_restores_write_the_object_and_pointers_fill_in_place(string scenario)
    {
        string exe = C.Build("tests/descriptions.c");
        using var region = new TestRegion("cdesc");
        var r = C.Run(exe, region.Path, scenario);
        Assert.That(r.ExitCode, Is.Zero, r.ToString());
        Assert.That(r.Stdout, Does.Contain($"ok {scenario}"));
    }

    [TestCase("chain-depth-outer-first")]
    [TestCase("chain-depth-inner-first")]
    public void A_deep_struct_chain_is_refused_or_accepted_the_same_whatever_was_used_first_and_what_is_accepted_saves(string scenario)
    {
        string exe = C.Build("tests/core_rules.c");
        using var region = new TestRegion("cdepth");
        var r = C.Run(exe, region.Path, scenario);
        Assert.That(r.ExitCode, Is.Zero, r.ToString());
        Assert.That(r.Stdout, Does.Contain($"ok {scenario}"));
    }

    // A prototype starts in column 0 with its return type; indented lines (macro bodies, the C++ checks) are not prototypes.
    [GeneratedRegex(@"^(?=[a-z])[a-z_ ]*?[\w ]+?\**\s*\**(\w+)\((?:[^;{}]*)\);", RegexOptions.Multiline)]
    private static partial Regex Prototype();

    [GeneratedRegex(@"\[UnmanagedCallersOnly\(EntryPoint = ""(\w+)""\)\]\s*public static [^=]+?=>\s*([^;]+)", RegexOptions.Singleline)]
    private static partial Regex Export();
}
