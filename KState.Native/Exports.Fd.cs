using System.Runtime.InteropServices;

namespace KState.Native;

/// <summary><c>kho_init_fd</c> of kstate.h: booting on an open file (a memfd, or one received over a unix socket or
/// from systemd's fd store). Every body is one <see cref="Barrier"/> call (a test checks it).</summary>
internal static class FdExports
{
    [UnmanagedCallersOnly(EntryPoint = "kho_init_fd")]
    public static int InitFd(int fd, ulong size) => Barrier.Lifetime("kho_init_fd", () => NativeState.Boot(fd, size));
}
