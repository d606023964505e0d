using System.Diagnostics;

namespace KState.Tests.Support;

/// <summary>
/// A file system mounted for one test (a tmpfs with a <c>huge=</c> option, or hugetlbfs) in a fresh directory under
/// /tmp, unmounted and removed when disposed, even when the test failed. Mounting needs root: without it the test is
/// ignored with what was not tested.
/// </summary>
public sealed class HugeMount : IDisposable
{
    private bool _mounted;

    private HugeMount(string dir) => Dir = dir;

    public string Dir { get; }

    /// <summary>A region path inside the mount.</summary>
    public string Region(string tag) => System.IO.Path.Combine(Dir, $"kstate-test-{tag}-{Guid.NewGuid():N}");

    /// <summary>Mounts <paramref name="type"/> with <paramref name="options"/>; ignores the test when not root.</summary>
    public static HugeMount Mount(string type, string options, string untested)
    {
        if (Environment.UserName != "root" && Mono.Unix.Native.Syscall.geteuid() != 0)
            Assert.Ignore($"not root: cannot mount {type} -o {options}, so {untested} is not tested (./build.sh test as root runs it)");
        var dir = Directory.CreateTempSubdirectory("kstate-mount-").FullName;
        var mount = new HugeMount(dir);
        try
        {
            var r = Run("mount", "-t", type, "-o", options, type, dir);
            if (r.Code != 0) Assert.Fail($"mount -t {type} -o {options} {dir} failed ({r.Code}): {r.Output}");
            mount._mounted = true;
            return mount;
        }
        catch
        {
            mount.Dispose();
            throw;
        }
    }

    private static (int Code, string Output) Run(string file, params string[] args)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        string output = p.StandardOutput.ReadToEnd() + p.StandardError.ReadToEnd();
        p.WaitForExit();
        return (p.ExitCode, output);
    }

    public void Dispose()
    {
        if (_mounted)
        {
            var r = Run("umount", Dir);
            // Still busy (a mapping this process leaked after a failure): detach it now, the kernel frees it when unused.
            if (r.Code != 0) r = Run("umount", "--lazy", Dir);
            if (r.Code != 0) TestContext.Progress.WriteLine($"umount {Dir} failed: {r.Output}");
            _mounted = r.Code != 0;
        }
        if (!_mounted) Directory.Delete(Dir, recursive: true);
    }
}
