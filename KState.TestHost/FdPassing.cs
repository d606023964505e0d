using System.Runtime.InteropServices;
using Mono.Unix.Native;

namespace KState.TestHost;

/// <summary>File descriptors sent and received as SCM_RIGHTS ancillary data on unix sockets (Mono.Unix's sendmsg):
/// how a generation hands its memfd region to the next, and how a service gives it to systemd's fd store.</summary>
public static unsafe class FdPassing
{
    /// <summary>A unix socket of <paramref name="type"/>, close-on-exec; "@name" is Linux's abstract namespace, as
    /// systemd writes it in NOTIFY_SOCKET.</summary>
    public static int Socket(UnixSocketType type)
    {
        int s = Syscall.socket(UnixAddressFamily.AF_UNIX, type, UnixSocketFlags.SOCK_CLOEXEC, UnixSocketProtocol.IPPROTO_IP);
        return s >= 0 ? s : throw Fail("socket");
    }

    public static SockaddrUn Address(string path) =>
        path.StartsWith('@') ? new SockaddrUn(path[1..], linuxAbstractNamespace: true) : new SockaddrUn(path);

    public static void Connect(int socket, string path)
    {
        if (Syscall.connect(socket, Address(path)) != 0) throw Fail($"connect {path}");
    }

    public static void Bind(int socket, string path)
    {
        if (Syscall.bind(socket, Address(path)) != 0) throw Fail($"bind {path}");
    }

    /// <summary>Sends <paramref name="data"/> (at least one byte: a stream carries no ancillary data alone) with
    /// <paramref name="fds"/> as one SCM_RIGHTS message.</summary>
    public static void Send(int socket, ReadOnlySpan<byte> data, params int[] fds)
    {
        var control = new byte[Syscall.CMSG_SPACE((ulong)(sizeof(int) * fds.Length))];
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
                cmsg_len = (long)Syscall.CMSG_LEN((ulong)(sizeof(int) * fds.Length)),
                cmsg_level = UnixSocketProtocol.SOL_SOCKET,
                cmsg_type = UnixSocketControlMessage.SCM_RIGHTS,
            }.WriteToBuffer(msg, header);
            long at = Syscall.CMSG_DATA(msg, header);
            for (int i = 0; i < fds.Length; i++) MemoryMarshal.Write(control.AsSpan((int)at + 4 * i), in fds[i]);
            if (Syscall.sendmsg(socket, msg, MessageFlags.MSG_NOSIGNAL) != data.Length) throw Fail("sendmsg");
        }
    }

    /// <summary>Receives one message: its bytes and the fds it carried (close-on-exec, owned by the caller).</summary>
    public static (byte[] Data, int[] Fds) Receive(int socket, int maxFds = 8)
    {
        var buffer = new byte[4096];
        var control = new byte[Syscall.CMSG_SPACE((ulong)(sizeof(int) * maxFds))];
        fixed (byte* b = buffer)
        {
            var msg = new Msghdr
            {
                msg_iov = [new Iovec { iov_base = (nint)b, iov_len = (ulong)buffer.Length }],
                msg_iovlen = 1,
                msg_control = control,
                msg_controllen = control.Length,
            };
            long n = Syscall.recvmsg(socket, msg, MessageFlags.MSG_CMSG_CLOEXEC);
            if (n < 0) throw Fail("recvmsg");
            if ((msg.msg_flags & MessageFlags.MSG_CTRUNC) != 0) throw new InvalidOperationException("recvmsg: fds were dropped (MSG_CTRUNC)");
            var fds = new List<int>();
            for (long h = Syscall.CMSG_FIRSTHDR(msg); h != -1; h = Syscall.CMSG_NXTHDR(msg, h))
            {
                var c = Cmsghdr.ReadFromBuffer(msg, h);
                if (c.cmsg_level != UnixSocketProtocol.SOL_SOCKET || c.cmsg_type != UnixSocketControlMessage.SCM_RIGHTS) continue;
                long at = Syscall.CMSG_DATA(msg, h);
                int count = (int)((c.cmsg_len - (long)Syscall.CMSG_LEN(0)) / sizeof(int));
                for (int i = 0; i < count; i++) fds.Add(MemoryMarshal.Read<int>(control.AsSpan((int)at + 4 * i)));
            }
            return (buffer[..(int)n], [.. fds]);
        }
    }

    private static InvalidOperationException Fail(string what) =>
        new($"{what}: {Stdlib.strerror(Stdlib.GetLastError())} ({Stdlib.GetLastError()})");
}
