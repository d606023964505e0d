using System.Diagnostics;
using KState.Tests.Support;

namespace KState.Tests.Native;

/// <summary>
/// Builds and runs C programs against libkstate.so (./build.sh native), found through KSTATE_NATIVE_DIR or
/// artifacts/native and pkg-config. ./build.sh test publishes the library first and requires it.
/// </summary>
internal sealed class NativeToolchain : IDisposable
{
    private NativeToolchain(string dir, string work)
    {
        Dir = dir;
        Work = work;
    }

    /// <summary>The folder with libkstate.so, kstate.h and kstate.pc.</summary>
    public string Dir { get; }

    /// <summary>A temporary folder for compiled programs, removed on dispose.</summary>
    public string Work { get; }

    /// <summary>Finds the library, or ignores the fixture (fails it when KSTATE_REQUIRE_NATIVE=1).</summary>
    public static NativeToolchain Find()
    {
        string? dir = Environment.GetEnvironmentVariable("KSTATE_NATIVE_DIR");
        if (dir is null) dir = Path.Combine(Root(), "artifacts", "native");
        if (!File.Exists(Path.Combine(dir, "libkstate.so")))
        {
            const string why = "libkstate.so not found: run ./build.sh native (or ./build.sh test)";
            if (Environment.GetEnvironmentVariable("KSTATE_REQUIRE_NATIVE") == "1") Assert.Fail(why);
            Assert.Ignore(why);
        }
        return new NativeToolchain(dir, Directory.CreateTempSubdirectory("kstate-ctest-").FullName);
    }

    public void Dispose() => Directory.Delete(Work, recursive: true);

    /// <summary>The repository's root (the folder with KState.sln).</summary>
    public static string Root()
    {
        var root = new DirectoryInfo(AppContext.BaseDirectory);
        while (!File.Exists(Path.Combine(root!.FullName, "KState.sln"))) root = root.Parent;
        return root.FullName;
    }

    /// <summary>A file of KState.Native.</summary>
    public static string Source(string relative) => Path.Combine(Root(), "KState.Native", relative);

    public Child.Result Run(string file, params string[] args)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args) psi.ArgumentList.Add(a);
        psi.Environment["PKG_CONFIG_PATH"] = Dir;
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(TimeSpan.FromSeconds(120)))
        {
            p.Kill(entireProcessTree: true);
            throw new TimeoutException(file);
        }
        return new Child.Result(p.ExitCode, stdout.Result, stderr.Result);
    }

    /// <summary>gcc -Wall -Werror SOURCE $(pkg-config --cflags --libs kstate).</summary>
    public Child.Result Compile(string relative, string output, string extra = "")
    {
        string cmd = $"gcc -Wall -Werror {extra} -o '{output}' '{Source(relative)}' $(pkg-config --cflags --libs kstate)";
        return Run("/bin/sh", "-c", cmd);
    }

    /// <summary>Compiles a program of KState.Native (with -pthread) and gives its path.</summary>
    public string Build(string relative)
    {
        string exe = Path.Combine(Work, Path.GetFileNameWithoutExtension(relative));
        var r = Compile(relative, exe, "-pthread");
        Assert.That(r.ExitCode, Is.Zero, r.ToString());
        return exe;
    }
}
