using Mono.Unix.Native;

namespace KState.Machine.Region;

/// <summary>
/// Regions on a file descriptor (a memfd, or a file received over a unix socket or from systemd's fd store). The
/// fd is reopened through <c>/proc/self/fd</c>, so the region gets its own open file description: the caller's fd is
/// never closed or changed, and the region's flock conflicts with every other description, even the one it came
/// from (flock locks a description, so a generation that still holds the fd it sent would otherwise share the lock
/// with the receiver, and both could boot). A memfd has no path and is made 0777, so its mode is set to 0600; an
/// empty file is formatted when a size is given, a non-empty one must carry a region's header; a memfd's size is
/// sealed once known, so nobody can truncate it under a mapping (the SIGBUS that truncation causes).
/// </summary>
internal sealed unsafe partial class ShmRegion
{
    private const string MemfdPrefix = "/memfd:";

    /// <summary>Whether the backing can carry seals and had none forbidding ours (a memfd made with sealing allowed).</summary>
    private bool _sealable;

    /// <summary>Creates a memfd for a region: close-on-exec, sealing allowed, mode 0600, empty.</summary>
    /// <param name="name">The memfd's name (shown in /proc/PID/fd as <c>/memfd:NAME</c>).</param>
    public static int CreateMemfd(string name)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        int fd = Syscall.memfd_create(name, MemfdFlags.MFD_CLOEXEC | MemfdFlags.MFD_ALLOW_SEALING);
        if (fd < 0) PosixError.Throw(PosixError.Last, $"memfd {name}: memfd_create");
        if (Syscall.fchmod(fd, Mode0600) != 0)
        {
            var e = PosixError.Last;
            Syscall.close(fd);
            PosixError.Throw(e, $"memfd {name}: fchmod");
        }
        return fd;
    }

    /// <summary>Boots on an open file: adopts it if it has content, formats it with <paramref name="create"/> if it is
    /// empty. The fd stays the caller's.</summary>
    /// <param name="fd">An open regular file (any access mode: the region reopens it read-write).</param>
    /// <param name="create">The layout for an empty file, or null to adopt only.</param>
    public static ShmRegion OpenFd(int fd, Layout? create)
    {
        if (fd < 0) Throw.Invalid($"region fd {fd}: not a file descriptor");
        if (Syscall.fstat(fd, out var given) != 0) PosixError.Throw(PosixError.Last, $"region fd {fd}");
        string? target = FdTarget(fd);
        string name = target is null ? $"fd {fd}" : $"fd {fd} ({target})";
        var type = given.st_mode & FilePermissions.S_IFMT;
        if (type != FilePermissions.S_IFREG) Throw.Invalid($"region {name} is not a regular file ({Describe(type)})");
        // Not O_NOFOLLOW: /proc/self/fd/N is a link by nature; the file behind it was checked just above.
        int own = Syscall.open($"/proc/self/fd/{fd}", OpenFlags.O_RDWR | OpenFlags.O_CLOEXEC);
        if (own < 0) PosixError.Throw(PosixError.Last, $"region {name}: reopening it through /proc/self/fd (is /proc mounted?)");
        byte* mapped = null;
        bool formatting = false;
        ulong size = 0;
        try
        {
            var st = Stat(name, own);
            if (st.st_dev != given.st_dev || st.st_ino != given.st_ino) Throw.Invalid($"region {name}: the fd was replaced while it was reopened");
            Lock(name, own, Libc.LOCK_EX);
            st = Stat(name, own); // under the lock: owner, mode and size as the lock holder sees them
            CheckOwner(name, st);
            bool memfd = target?.StartsWith(MemfdPrefix, StringComparison.Ordinal) == true;
            var access = st.st_mode & FilePermissions.ACCESSPERMS;
            if (memfd && access != Mode0600)
            {
                // A memfd has no path: only holders of the fd reach it, and it starts 0777 whatever the umask.
                if (Syscall.fchmod(own, Mode0600) != 0) PosixError.Throw(PosixError.Last, $"region {name}: fchmod");
                access = Mode0600;
            }
            CheckMode(name, access, warn: null);
            int seals = Syscall.fcntl(own, FcntlCommand.F_GET_SEALS);
            if (seals >= 0 && (seals & (int)(SealType.F_SEAL_WRITE | SealType.F_SEAL_FUTURE_WRITE)) != 0)
                Throw.Invalid($"region {name} is sealed against writing (F_SEAL_WRITE): a region must be writable");
            bool sealable = seals >= 0 && (seals & (int)SealType.F_SEAL_SEAL) == 0;
            bool created = st.st_size == 0;
            if (created)
            {
                if (create is null) Throw.NotFound($"region {name} is empty and no size was given to format it");
                size = create.RegionSize;
                formatting = true;
                Reserve(name, own, size); // fails with EPERM if someone sealed the empty file against growing
                mapped = Map(name, own, size, writable: true);
                create.WriteHeader(new Span<byte>(mapped, Layout.HeaderBytes));
                if (Syscall.msync((nint)mapped, Layout.PageSize, MsyncFlags.MS_SYNC) != 0) PosixError.Throw(PosixError.Last, $"region {name}: msync");
            }
            else
            {
                if (st.st_size < (long)Layout.PageSize) Throw.Corrupt($"region {name} has {st.st_size} bytes: too small to be a KState region", 0);
                size = (ulong)st.st_size;
                BackingProbe.CheckSize(own, name, size);
                mapped = Map(name, own, size, writable: true);
            }
            return new ShmRegion(name, own, mapped, size, created) { _sealable = sealable };
        }
        catch
        {
            if (mapped != null) Syscall.munmap((nint)mapped, size);
            // A formatting that failed gives the file back empty, as it came (a non-empty file without a header would be
            // refused by every later boot). A process killed here still leaves it half made: the fd's one unguarded window.
            if (formatting) Syscall.ftruncate(own, 0);
            Syscall.close(own); // closing drops the lock; the caller's fd is untouched
            throw;
        }
    }

    /// <summary>Seals the region's size where the backing supports seals (a memfd made with sealing allowed), once its
    /// header proved it a region: nobody can then shrink it under a mapping (SIGBUS) or grow it.</summary>
    public void SealSize()
    {
        if (!_sealable) return;
        if (Syscall.fcntl(_fd, FcntlCommand.F_ADD_SEALS, SealType.F_SEAL_SHRINK | SealType.F_SEAL_GROW) != 0)
            PosixError.Throw(PosixError.Last, $"region {Path}: sealing its size");
    }

    /// <summary>The seals on the region's file (F_GET_SEALS), or -1 where the backing has none.</summary>
    public int Seals => Syscall.fcntl(_fd, FcntlCommand.F_GET_SEALS);

    /// <summary>What /proc says the fd is ("/memfd:NAME (deleted)", a path), shown in errors and <c>RegionPath</c>.</summary>
    private static string? FdTarget(int fd)
    {
        var target = new System.Text.StringBuilder(256);
        return Syscall.readlink($"/proc/self/fd/{fd}", target) > 0 ? target.ToString() : null;
    }
}
