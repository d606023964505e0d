using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using Mono.Unix.Native;

namespace KState.Hosting;

/// <summary>systemd's file descriptor passing (sd_listen_fds(3), sd_pid_notify_with_fds(3)): the fds a service
/// inherits start at 3 and are named by <c>LISTEN_FDNAMES</c>; a service gives one to its fd store with a
/// <c>FDSTORE=1</c> message carrying it as SCM_RIGHTS on <c>NOTIFY_SOCKET</c>.</summary>
internal static unsafe class SystemdFds
{
    private const int FirstFd = 3; // SD_LISTEN_FDS_START

    /// <summary>The inherited fd named <paramref name="name"/>; false when systemd passed none of that name (or
    /// passed its fds to another process: <c>LISTEN_PID</c> must name this one).</summary>
    public static bool TryFind(string name, out int fd) =>
        TryFind(name, Environment.GetEnvironmentVariable("LISTEN_PID"), Environment.GetEnvironmentVariable("LISTEN_FDS"),
            Environment.GetEnvironmentVariable("LISTEN_FDNAMES"), Environment.ProcessId, out fd);

    internal static bool TryFind(string name, string? listenPid, string? listenFds, string? listenFdNames, int pid, out int fd)
    {
        fd = -1;
        // As sd_listen_fds(3): without LISTEN_PID naming this process, the variables were inherited, the fds are not ours.
        if (!int.TryParse(listenPid, NumberStyles.None, CultureInfo.InvariantCulture, out int forPid) || forPid != pid) return false;
        if (!int.TryParse(listenFds, NumberStyles.None, CultureInfo.InvariantCulture, out int count) || count <= 0) return false;
        var names = (listenFdNames ?? "").Split(':');
        for (int i = 0; i < Math.Min(count, names.Length); i++)
        {
            if (names[i] != name) continue;
            fd = FirstFd + i;
            return true;
        }
        return false;
    }

    /// <summary>Gives <paramref name="fd"/> to the fd store under <paramref name="name"/>; false when there is no
    /// <c>NOTIFY_SOCKET</c> (not run by systemd).</summary>
    /// <exception cref="IOException">The socket could not be reached or the message not sent.</exception>
    public static bool Store(SafeHandle fd, string name) => Store(fd, name, Environment.GetEnvironmentVariable("NOTIFY_SOCKET"));

    internal static bool Store(SafeHandle fd, string name, string? notifySocket)
    {
        if (string.IsNullOrEmpty(notifySocket)) return false;
        int s = Syscall.socket(UnixAddressFamily.AF_UNIX, UnixSocketType.SOCK_DGRAM, UnixSocketFlags.SOCK_CLOEXEC, UnixSocketProtocol.IPPROTO_IP);
        if (s < 0) throw Fail("socket");
        bool added = false;
        try
        {
            // "@name" is the abstract namespace, as systemd writes it.
            var address = notifySocket[0] == '@' ? new SockaddrUn(notifySocket[1..], linuxAbstractNamespace: true) : new SockaddrUn(notifySocket);
            if (Syscall.connect(s, address) != 0) throw Fail($"connect {notifySocket}");
            fd.DangerousAddRef(ref added);
            Send(s, Encoding.ASCII.GetBytes($"FDSTORE=1\nFDNAME={name}\n"), (int)fd.DangerousGetHandle());
            return true;
        }
        finally
        {
            if (added) fd.DangerousRelease();
            Syscall.close(s);
        }
    }

    private static void Send(int socket, byte[] data, int fd)
    {
        var control = new byte[Syscall.CMSG_SPACE(sizeof(int))];
        fixed (byte* d = data)
        {
            var msg = new Msghdr
            {
                msg_iov = [new Iovec { iov_base = (nint)d, iov_len = (ulong)data.Length }],
                msg_iovlen = 1,
                msg_control = control,
                msg_controllen = control.Length,
            };
            long header = Syscall.CMSG_FIRSTHDR(msg);
            new Cmsghdr
            {
                cmsg_len = (long)Syscall.CMSG_LEN(sizeof(int)),
                cmsg_level = UnixSocketProtocol.SOL_SOCKET,
                cmsg_type = UnixSocketControlMessage.SCM_RIGHTS,
            }.WriteToBuffer(msg, header);
            MemoryMarshal.Write(control.AsSpan((int)Syscall.CMSG_DATA(msg, header)), in fd);
            if (Syscall.sendmsg(socket, msg, MessageFlags.MSG_NOSIGNAL) != data.Length) throw Fail("sendmsg");
        }
    }

    private static IOException Fail(string what) => new($"systemd fd store: {what}: {Stdlib.GetLastError()}");
}
