using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text;
using KState.TestHost;
using KState.Tests.Support;
using Mono.Unix.Native;

namespace KState.Tests.Machine;

/// <summary>A memfd region handed on as a file descriptor between real processes: over a unix socket to the next
/// generation, and through a service manager's fd store the way systemd keeps it across a restart.</summary>
public partial class FdHandoverTests
{
    private static string SocketPath(string tag) => Path.Combine(Path.GetTempPath(), $"kstate-test-{tag}-{Environment.ProcessId}-{Guid.NewGuid():N}.sock");

    [Test]
    public void A_memfd_region_is_handed_to_the_next_process_over_a_unix_socket()
    {
        string socket = SocketPath("fdpass");
        try
        {
            using var gen2 = Child.Start("fd-receive", socket);
            gen2.StandardInput.Close();
            var stderr2 = gen2.StandardError.ReadToEndAsync();
            Assert.That(gen2.StandardOutput.ReadLine(), Is.EqualTo("listening"), () => stderr2.Result);
            var gen1 = Child.Run("fd-send", socket, "from generation 1");
            Assert.That(gen1.ExitCode, Is.Zero, gen1.ToString());
            string stdout2 = gen2.StandardOutput.ReadToEnd();
            Assert.That(gen2.WaitForExit(TimeSpan.FromSeconds(120)), Is.True, "generation 2 hung");
            Assert.That(gen2.ExitCode, Is.Zero, stdout2 + stderr2.Result);
            Assert.That(stdout2, Does.Match(@"gen2: fd \d+ \(/memfd:kstate-test.*\): restored ""from generation 1""; size sealed: True; ftruncate refused: True"));
        }
        finally
        {
            File.Delete(socket);
        }
    }

    [Test]
    public void A_memfd_stored_with_FDSTORE_comes_back_through_LISTEN_FDS_and_boots_the_restarted_service()
    {
        string notify = SocketPath("notify");
        int receiver = FdPassing.Socket(UnixSocketType.SOCK_DGRAM);
        int stored = -1;
        try
        {
            FdPassing.Bind(receiver, notify);
            // The service, stopping: sd_notify("FDSTORE=1\nFDNAME=kstate") with its memfd.
            var stop = RunWithEnvironment(["fd-store", "kstate", "kept by the service manager"], ("NOTIFY_SOCKET", notify));
            Assert.That(stop.ExitCode, Is.Zero, stop.ToString());

            // The service manager's side: one datagram of KEY=VALUE lines, the fd as SCM_RIGHTS.
            var (data, fds) = FdPassing.Receive(receiver);
            stored = fds.Single();
            var fields = Encoding.ASCII.GetString(data).Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Split('=', 2)).ToDictionary(kv => kv[0], kv => kv[1]);
            Assert.That(fields, Is.EqualTo(new Dictionary<string, string> { ["FDSTORE"] = "1", ["FDNAME"] = "kstate" }));

            // Started again: the stored fd at 3 (SD_LISTEN_FDS_START), LISTEN_FDS, LISTEN_FDNAMES, LISTEN_PID.
            var start = ServiceManager.Start(stored, "kstate", "fd-listen", "kstate");
            Assert.That(start.ExitCode, Is.Zero, start.ToString());
            Assert.That(start.Stdout, Does.Match(@"restarted: fd 3 \(/memfd:kstate-test.*\): restored ""kept by the service manager""; size sealed: True; ftruncate refused: True"));
        }
        finally
        {
            if (stored >= 0) Syscall.close(stored);
            Syscall.close(receiver);
            File.Delete(notify);
        }
    }

    private static Child.Result RunWithEnvironment(string[] args, params (string Name, string Value)[] environment)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "KState.TestHost.dll"));
        foreach (var a in args) psi.ArgumentList.Add(a);
        foreach (var (name, value) in environment) psi.Environment[name] = value;
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(TimeSpan.FromSeconds(120)))
        {
            p.Kill(entireProcessTree: true);
            throw new TimeoutException(string.Join(' ', args));
        }
        return new Child.Result(p.ExitCode, stdout.Result, stderr.Result);
    }

    /// <summary>Starts a test-host scenario as systemd starts a service with stored fds: the fd dup'ed to 3 in the
    /// child (posix_spawn, as .NET's Process cannot place an fd), LISTEN_FDS=1, LISTEN_FDNAMES=NAME, and LISTEN_PID set
    /// to the child's own pid (by a shell that then execs the service, keeping its pid).</summary>
    private static unsafe partial class ServiceManager
    {
        private const int ListenFdsStart = 3;

        public static Child.Result Start(int fd, string fdName, params string[] args)
        {
            if (fd == ListenFdsStart) // dup2 onto itself would leave close-on-exec set
            {
                int moved = Syscall.dup(fd);
                Assert.That(Syscall.fcntl(moved, FcntlCommand.F_SETFD, 1), Is.Zero, "FD_CLOEXEC");
                try { return Start(moved, fdName, args); }
                finally { Syscall.close(moved); }
            }
            string dir = Directory.CreateTempSubdirectory("kstate-fdstore-").FullName;
            var strings = new List<nint>();
            byte[] actions = new byte[512]; // posix_spawn_file_actions_t is opaque; glibc's is 80 bytes
            try
            {
                string outPath = Path.Combine(dir, "out"), errPath = Path.Combine(dir, "err");
                string[] argv = ["/bin/sh", "-c", "LISTEN_PID=$$; export LISTEN_PID; exec \"$0\" \"$@\"", "dotnet",
                    Path.Combine(AppContext.BaseDirectory, "KState.TestHost.dll"), .. args];
                var env = Environment.GetEnvironmentVariables().Cast<System.Collections.DictionaryEntry>()
                    .Where(e => !((string)e.Key).StartsWith("LISTEN_", StringComparison.Ordinal))
                    .Select(e => $"{e.Key}={e.Value}").Concat(["LISTEN_FDS=1", $"LISTEN_FDNAMES={fdName}"]).ToArray();
                nint Str(string s) { nint p = Marshal.StringToCoTaskMemUTF8(s); strings.Add(p); return p; }
                nint[] argvp = [.. argv.Select(Str), 0], envp = [.. env.Select(Str), 0];
                int pid;
                fixed (byte* fa = actions)
                fixed (nint* a = argvp, e = envp)
                {
                    Check(PosixSpawnFileActionsInit(fa), "posix_spawn_file_actions_init");
                    try
                    {
                        const int Flags = 0x41 | 0x200; // O_WRONLY | O_CREAT | O_TRUNC
                        Check(PosixSpawnFileActionsAddOpen(fa, 1, Str(outPath), Flags, 0x180), "addopen stdout");
                        Check(PosixSpawnFileActionsAddOpen(fa, 2, Str(errPath), Flags, 0x180), "addopen stderr");
                        // dup2 clears close-on-exec on fd 3; the fd received from the socket keeps it, so it is not inherited twice.
                        Check(PosixSpawnFileActionsAddDup2(fa, fd, ListenFdsStart), "adddup2");
                        Check(PosixSpawn(&pid, argvp[0], fa, null, a, e), "posix_spawn");
                    }
                    finally
                    {
                        PosixSpawnFileActionsDestroy(fa);
                    }
                }
                int status;
                while (Syscall.waitpid(pid, out status, 0) < 0 && Stdlib.GetLastError() == Errno.EINTR) { }
                int exit = Syscall.WIFEXITED(status) ? Syscall.WEXITSTATUS(status) : 128 + (int)Syscall.WTERMSIG(status);
                return new Child.Result(exit, File.ReadAllText(outPath), File.ReadAllText(errPath));
            }
            finally
            {
                foreach (var p in strings) Marshal.FreeCoTaskMem(p);
                Directory.Delete(dir, recursive: true);
            }
        }

        private static void Check(int rc, string what) => Assert.That(rc, Is.Zero, $"{what}: errno {rc}");

        [LibraryImport("libc", EntryPoint = "posix_spawn")]
        private static partial int PosixSpawn(int* pid, nint path, byte* fileActions, void* attributes, nint* argv, nint* envp);

        [LibraryImport("libc", EntryPoint = "posix_spawn_file_actions_init")]
        private static partial int PosixSpawnFileActionsInit(byte* fileActions);

        [LibraryImport("libc", EntryPoint = "posix_spawn_file_actions_destroy")]
        private static partial int PosixSpawnFileActionsDestroy(byte* fileActions);

        [LibraryImport("libc", EntryPoint = "posix_spawn_file_actions_adddup2")]
        private static partial int PosixSpawnFileActionsAddDup2(byte* fileActions, int fd, int newFd);

        [LibraryImport("libc", EntryPoint = "posix_spawn_file_actions_addopen")]
        private static partial int PosixSpawnFileActionsAddOpen(byte* fileActions, int fd, nint path, int flags, uint mode);
    }
}
