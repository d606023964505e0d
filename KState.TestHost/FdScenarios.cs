using System.Text;
using KState;
using Mono.Unix.Native;

namespace KState.TestHost;

/// <summary>Generations whose region is a memfd, handed on as a file descriptor: directly to the next generation over
/// a unix socket, or to systemd's fd store (NOTIFY_SOCKET) and back (LISTEN_FDS).</summary>
internal static class FdScenarios
{
    public const string Subtree = "fd-test";
    private const ulong RegionSize = 8 << 20;

    /// <summary>Generation 1: a memfd region with a subtree naming <paramref name="payload"/>, finalized and exited,
    /// then the memfd sent over the unix stream socket at <paramref name="socketPath"/>.</summary>
    public static int Send(string socketPath, string payload)
    {
        using var memfd = SaveOnMemfd(payload);
        int s = FdPassing.Socket(UnixSocketType.SOCK_STREAM);
        try
        {
            FdPassing.Connect(s, socketPath);
            FdPassing.Send(s, "K"u8, (int)memfd.DangerousGetHandle());
        }
        finally
        {
            Syscall.close(s);
        }
        Console.WriteLine("gen1: sent the memfd");
        return 0;
    }

    /// <summary>Generation 2: listens at <paramref name="socketPath"/>, boots on the fd it receives and prints the subtree.</summary>
    public static int Receive(string socketPath)
    {
        int listener = FdPassing.Socket(UnixSocketType.SOCK_STREAM);
        try
        {
            FdPassing.Bind(listener, socketPath);
            if (Syscall.listen(listener, 1) != 0) throw new InvalidOperationException("listen failed");
            Console.WriteLine("listening");
            Console.Out.Flush();
            int conn = Syscall.accept(listener, new SockaddrUn());
            if (conn < 0) throw new InvalidOperationException($"accept: {Stdlib.GetLastError()}");
            var (_, fds) = FdPassing.Receive(conn);
            Syscall.close(conn);
            Require(fds.Length == 1, $"expected one fd, got {fds.Length}");
            return BootAndPrint(fds[0], "gen2");
        }
        finally
        {
            Syscall.close(listener);
            Syscall.unlink(socketPath);
        }
    }

    /// <summary>A service stopping for an update: saves on a memfd and stores it in the service manager's fd store
    /// the way sd_notify does (one datagram "FDSTORE=1\nFDNAME=NAME" with the fd, to $NOTIFY_SOCKET).</summary>
    public static int Store(string fdName, string payload)
    {
        string socketPath = Environment.GetEnvironmentVariable("NOTIFY_SOCKET") ?? throw new InvalidOperationException("NOTIFY_SOCKET is not set");
        using var memfd = SaveOnMemfd(payload);
        int s = FdPassing.Socket(UnixSocketType.SOCK_DGRAM);
        try
        {
            FdPassing.Connect(s, socketPath);
            FdPassing.Send(s, Encoding.ASCII.GetBytes($"FDSTORE=1\nFDNAME={fdName}"), (int)memfd.DangerousGetHandle());
        }
        finally
        {
            Syscall.close(s);
        }
        Console.WriteLine("stored the memfd");
        return 0;
    }

    /// <summary>A service started again: finds its fd the way systemd passes it (fds from 3 on, LISTEN_PID,
    /// LISTEN_FDS, LISTEN_FDNAMES, as sd_listen_fds_with_names reads them) and boots on it.</summary>
    public static int Listen(string fdName)
    {
        Require(Environment.GetEnvironmentVariable("LISTEN_PID") == Environment.ProcessId.ToString(), "LISTEN_PID is not this process: the fds are not ours");
        int count = int.Parse(Environment.GetEnvironmentVariable("LISTEN_FDS") ?? "0");
        string[] names = (Environment.GetEnvironmentVariable("LISTEN_FDNAMES") ?? "").Split(':');
        int index = Array.IndexOf(names, fdName);
        Require(index >= 0 && index < count, $"no fd named {fdName} among {count} ({string.Join(':', names)})");
        const int ListenFdsStart = 3; // SD_LISTEN_FDS_START
        return BootAndPrint(ListenFdsStart + index, "restarted");
    }

    private static Microsoft.Win32.SafeHandles.SafeFileHandle SaveOnMemfd(string payload)
    {
        var memfd = Kho.CreateMemfd("kstate-test");
        try
        {
            using (var kho = Kho.Init(memfd, RegionSize, new KhoOptions { Poison = true }))
            {
                Require(!kho.IsKhoBoot, "a new memfd boots cold");
                kho.AddSubtree(Subtree, Encoding.UTF8.GetBytes(payload));
                kho.FinalizeHandover();
            } // disposed before the fd is handed on: the next generation's boot would be refused as busy otherwise
            return memfd;
        }
        catch
        {
            memfd.Dispose();
            throw;
        }
    }

    private static int BootAndPrint(int fd, string who)
    {
        using (var kho = Kho.Init(fd, 0))
        {
            Require(kho.IsKhoBoot, $"not a handover boot: {kho.BootReport}");
            string payload = Encoding.UTF8.GetString(kho.RetrieveSubtree(Subtree));
            int seals = Syscall.fcntl(fd, FcntlCommand.F_GET_SEALS);
            bool sealedSize = seals >= 0 && (seals & (int)(SealType.F_SEAL_SHRINK | SealType.F_SEAL_GROW)) == (int)(SealType.F_SEAL_SHRINK | SealType.F_SEAL_GROW);
            bool truncated = Syscall.ftruncate(fd, 0) == 0;
            Console.WriteLine($"{who}: {kho.RegionPath}: restored \"{payload}\"; size sealed: {sealedSize}; ftruncate refused: {!truncated}");
        }
        Syscall.close(fd);
        return 0;
    }

    private static void Require(bool condition, string why)
    {
        if (!condition) throw new InvalidOperationException(why);
    }
}
