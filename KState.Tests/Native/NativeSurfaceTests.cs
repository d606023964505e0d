using KState.Tests.Support;

namespace KState.Tests.Native;

/// <summary>
/// libkstate as others embed it (issue 15): its version, kstate.h from C++17 and C++20 with the C checks, the C++
/// and Python examples as live updates across two processes, and the installed prefix of ./build.sh install.
/// </summary>
[NonParallelizable]
public class NativeSurfaceTests : NativeFixture
{
    /// <summary>Directory.Build.props' Version: the one place it is typed.</summary>
    private static string PropsVersion()
    {
        var props = File.ReadAllText(Path.Combine(NativeToolchain.Root(), "Directory.Build.props"));
        var m = System.Text.RegularExpressions.Regex.Match(props, "<Version>([^<]+)</Version>");
        Assert.That(m.Success, Is.True, "Directory.Build.props has a <Version>");
        return m.Groups[1].Value;
    }

    private static void RequireCompiler(string cxx)
    {
        if (!File.Exists($"/usr/bin/{cxx}") && !File.Exists($"/usr/local/bin/{cxx}")) Assert.Ignore($"{cxx} is not installed");
    }

    /// <summary>CXX -std=STD -Wall -Werror SOURCE $(pkg-config --cflags --libs kstate); only --cflags with -c.</summary>
    private Child.Result CompileCpp(string cxx, string std, string source, string output, string extra = "", bool link = true) =>
        C.Run("/bin/sh", "-c",
            $"{cxx} -std={std} -Wall -Werror {extra} -o '{output}' '{source}' $(pkg-config --cflags {(link ? "--libs" : "")} kstate)");

    [Test]
    public void Kstate_version_through_the_C_ABI_is_the_assemblies_and_the_props_version()
    {
        string exe = C.Build("tests/version.c");
        var r = C.Run(exe);
        Assert.That(r.ExitCode, Is.Zero, r.ToString());
        using (Assert.EnterMultipleScope())
        {
            Assert.That(r.Stdout.Trim(), Is.EqualTo(KStateVersion.Value));
            Assert.That(KStateVersion.Value, Does.StartWith(typeof(Kho).Assembly.GetName().Version!.ToString(3))); // a pre-release suffix is not in AssemblyVersion
            Assert.That(KStateVersion.Value, Is.EqualTo(PropsVersion()));
        }
    }

    [Test]
    public void The_library_carries_the_soname_of_its_major_version()
    {
        var r = C.Run("/bin/sh", "-c", $"readelf -d '{Path.Combine(C.Dir, "libkstate.so")}'");
        Assert.That(r.ExitCode, Is.Zero, r.ToString());
        Assert.That(r.Stdout, Does.Contain($"Library soname: [libkstate.so.{PropsVersion().Split('.')[0]}]"));
    }

    [TestCase("g++")]
    [TestCase("clang++")]
    public void The_cpp_example_built_as_cpp17_hands_over_to_itself_built_as_cpp20(string cxx)
    {
        RequireCompiler(cxx);
        string source = NativeToolchain.Source("examples/talk.cpp");
        string gen1 = Path.Combine(C.Work, $"talk-{cxx}-17"), gen2 = Path.Combine(C.Work, $"talk-{cxx}-20");
        var built17 = CompileCpp(cxx, "c++17", source, gen1);
        Assert.That(built17.ExitCode, Is.Zero, built17.ToString());
        var built20 = CompileCpp(cxx, "c++20", source, gen2);
        Assert.That(built20.ExitCode, Is.Zero, built20.ToString());

        using var region = new TestRegion("cxx-talk");
        var save = C.Run(gen1, "save", region.Path);
        Assert.That(save.ExitCode, Is.Zero, save.ToString());
        Assert.That(save.Stdout, Does.Contain($"saved by libkstate {KStateVersion.Value}: i=42"));
        var restore = C.Run(gen2, "restore", region.Path);
        Assert.That(restore.ExitCode, Is.Zero, restore.ToString());
        Assert.That(restore.Stdout, Does.Contain("restored: i=42 *p_ulong=0xdeadbeef s=kstate! folio order 1 contents ok"));
        var again = C.Run(gen2, "restore", region.Path); // consumed: the next boot is cold
        Assert.That(again.ExitCode, Is.EqualTo(1), again.ToString());
        Assert.That(again.Stderr, Does.Contain("is_kho_boot"));
    }

    [Test]
    public void Every_field_macro_compiles_as_cpp_with_the_values_c_gives([Values("g++", "clang++")] string cxx,
        [Values("c++11", "c++17", "c++20")] string std)
    {
        RequireCompiler(cxx);
        string exe = Path.Combine(C.Work, $"fields-{cxx}-{std}");
        var r = CompileCpp(cxx, std, NativeToolchain.Source("tests/fields.cpp"), exe, "-Wextra -pedantic");
        Assert.That(r.ExitCode, Is.Zero, r.ToString());
        var run = C.Run(exe);
        Assert.That(run.ExitCode, Is.Zero, "a field macro gives C++ other values than the C test expects");
    }

    [Test]
    public void Field_macros_check_member_types_at_compile_time_in_cpp(
        [Values("tests/wrong_type.c", "tests/not_a_folio.c", "tests/not_a_pointer.c")] string file,
        [Values("g++", "clang++")] string cxx, [Values("c++17", "c++20")] string std)
    {
        RequireCompiler(cxx);
        // The C sources compiled as C++: the same code, so the C++ checks are exactly the C ones.
        var r = CompileCpp(cxx, std, NativeToolchain.Source(file), Path.Combine(C.Work, "must-not-exist.o"), "-x c++ -c", link: false);
        Assert.That(r.ExitCode, Is.Not.Zero, $"{file} compiled as {std}, but its field macro names a member of the wrong type");
        var why = file.Contains("pointer")
            ? Does.Contain("invalid type argument of unary").Or.Contain("indirection requires pointer operand")
            : Does.Contain("KSTATE field macro: the member's type differs from the type the macro names");
        Assert.That(r.Stderr, why, "refused for the member's type, not for something else");
    }

    [Test]
    public void The_python_example_hands_over_from_one_python_process_to_another()
    {
        string script = NativeToolchain.Source("examples/talk.py");
        string lib = Path.Combine(C.Dir, "libkstate.so");
        using var region = new TestRegion("py-talk");
        var save = C.Run("/usr/bin/env", "KSTATE_LIBRARY=" + lib, "python3", script, "save", region.Path);
        Assert.That(save.ExitCode, Is.Zero, save.ToString());
        Assert.That(save.Stdout, Does.Contain($"saved by libkstate {KStateVersion.Value}: i=42"));
        var restore = C.Run("/usr/bin/env", "KSTATE_LIBRARY=" + lib, "python3", script, "restore", region.Path);
        Assert.That(restore.ExitCode, Is.Zero, restore.ToString());
        Assert.That(restore.Stdout, Does.Contain("restored: i=42 *p_ulong=0xdeadbeef s=kstate! folio order 1 contents ok"));
    }

    [Test]
    public void The_python_example_restores_what_the_c_example_saved()
    {
        string exe = C.Build("examples/talk.c");
        using var region = new TestRegion("py-c-talk");
        var save = C.Run(exe, "save", region.Path);
        Assert.That(save.ExitCode, Is.Zero, save.ToString());
        // No KSTATE_LIBRARY: the example finds the library through pkg-config (PKG_CONFIG_PATH names the build folder).
        var restore = C.Run("python3", NativeToolchain.Source("examples/talk.py"), "restore", region.Path);
        Assert.That(restore.ExitCode, Is.Zero, restore.ToString());
        Assert.That(restore.Stdout, Does.Contain("restored: i=42 *p_ulong=0xdeadbeef s=kstate! folio order 1 contents ok"));
    }

    [Test]
    public void The_installed_prefix_is_a_versioned_library_with_header_and_pkg_config_file()
    {
        string prefix = Environment.GetEnvironmentVariable("KSTATE_INSTALL_DIR") ?? Path.Combine(NativeToolchain.Root(), "artifacts", "install");
        if (!File.Exists(Path.Combine(prefix, "lib", "pkgconfig", "kstate.pc")))
        {
            const string why = "no installed prefix: run ./build.sh install (./build.sh test does)";
            if (Environment.GetEnvironmentVariable("KSTATE_REQUIRE_NATIVE") == "1") Assert.Fail(why);
            Assert.Ignore(why);
        }
        string version = PropsVersion(), major = version.Split('.')[0], lib = Path.Combine(prefix, "lib");
        string pc = $"PKG_CONFIG_PATH='{Path.Combine(lib, "pkgconfig")}' pkg-config";
        var vars = C.Run("/bin/sh", "-c", $"{pc} --modversion kstate && {pc} --variable=libdir kstate && {pc} --variable=includedir kstate");
        Assert.That(vars.ExitCode, Is.Zero, vars.ToString());
        using (Assert.EnterMultipleScope())
        {
            Assert.That(new FileInfo(Path.Combine(lib, "libkstate.so")).LinkTarget, Is.EqualTo($"libkstate.so.{major}"));
            Assert.That(new FileInfo(Path.Combine(lib, $"libkstate.so.{major}")).LinkTarget, Is.EqualTo($"libkstate.so.{version}"));
            Assert.That(File.Exists(Path.Combine(lib, $"libkstate.so.{version}")), Is.True);
            Assert.That(File.Exists(Path.Combine(lib, "libMono.Unix.so")), Is.True, "libkstate's run path ($ORIGIN) finds it beside");
            Assert.That(File.Exists(Path.Combine(prefix, "include", "kstate.h")), Is.True);
            Assert.That(vars.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries),
                Is.EqualTo(new[] { version, lib, Path.Combine(prefix, "include") }));
        }

        // Built with nothing but the prefix's pkg-config file, run with no LD_LIBRARY_PATH: it needs the SONAME.
        string exe = Path.Combine(C.Work, "talk-installed");
        var built = C.Run("/bin/sh", "-c",
            $"gcc -Wall -Werror -o '{exe}' '{NativeToolchain.Source("examples/talk.c")}' $({pc} --cflags --libs kstate) && readelf -d '{exe}'");
        Assert.That(built.ExitCode, Is.Zero, built.ToString());
        Assert.That(built.Stdout, Does.Contain($"Shared library: [libkstate.so.{major}]"));
        using var region = new TestRegion("installed-talk");
        var save = C.Run("/usr/bin/env", "-u", "LD_LIBRARY_PATH", exe, "save", region.Path);
        Assert.That(save.ExitCode, Is.Zero, save.ToString());
        var restore = C.Run("/usr/bin/env", "-u", "LD_LIBRARY_PATH", exe, "restore", region.Path);
        Assert.That(restore.ExitCode, Is.Zero, restore.ToString());
        Assert.That(restore.Stdout, Does.Contain("restored: i=42"));
    }
}
