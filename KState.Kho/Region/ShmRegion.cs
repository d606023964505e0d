using System.Buffers.Binary;
using Mono.Unix.Native;

namespace KState.Machine.Region;

/// <summary>
/// The file that plays the machine's physical memory. A new region is made under a temporary name beside its path
/// (<see cref="UnixPath.TempPrefix"/>), reserved in full (so a full tmpfs fails here, never with SIGBUS later),
/// given its header, and only then renamed into place without replacing anything: a file at a region's path is a
/// complete region or not ours, and is never written unless its header proves it a region. Files are opened without
/// following links or blocking, refused unless regular, owned by this user and mode 0600, locked exclusively by the
/// one generation that has them booted, and mapped shared at whatever address the OS picks.
/// </summary>
internal sealed unsafe partial class ShmRegion : IDisposable
{
    // O_NONBLOCK: opening a FIFO must not wait for a writer before we can see it is not a regular file.
    private const OpenFlags OpenExisting = OpenFlags.O_NOFOLLOW | OpenFlags.O_CLOEXEC | OpenFlags.O_NONBLOCK;
    private const FilePermissions Mode0600 = FilePermissions.S_IRUSR | FilePermissions.S_IWUSR;

    private int _fd;

    public string Path { get; }

    /// <summary>The open region file (vmalloc areas map parts of it); -1 once disposed.</summary>
    public int Fd => _fd;

    public byte* Base { get; private set; }
    public ulong Size { get; }

    /// <summary>True when this call made the region: its header is written, everything after it is zero.</summary>
    public bool Created { get; }

    private ShmRegion(string path, int fd, byte* mapped, ulong size, bool created)
    {
        Path = path;
        _fd = fd;
        Base = mapped;
        Size = size;
        Created = created;
    }

    /// <summary>Adopts <paramref name="path"/> if it exists, else creates it with <paramref name="create"/>'s size and header.</summary>
    /// <param name="path">The region file.</param>
    /// <param name="create">The layout of a new region, or null to adopt only.</param>
    /// <param name="wait">Null refuses a region another process has booted (busy); otherwise how long to wait for it
    /// to let go (<see cref="Timeout.InfiniteTimeSpan"/>: no limit) before a <see cref="KStateTimeoutException"/>.</param>
    public static ShmRegion OpenOrCreate(string path, Layout? create, TimeSpan? wait = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        for (int attempt = 0; ; attempt++)
        {
            int fd = Syscall.open(path, OpenFlags.O_RDWR | OpenExisting);
            if (fd >= 0) return Adopt(path, fd, writable: true, wait: wait);
            var e = PosixError.Last;
            if (e != Errno.ENOENT) PosixError.Throw(e, $"region {path}");
            if (create is null) Throw.NotFound($"region {path} does not exist and no size was given to create it");
            var made = Create(path, create);
            if (made is not null) return made;
            // Another process put its region at the path first: adopt it (busy while it is booted), once.
            if (attempt > 0) Throw.Busy($"region {path} is being created and removed by other processes at the same moment");
        }
    }

    /// <summary>Maps a region read-only for inspection, under a shared lock: busy while a generation has it booted.</summary>
    /// <param name="path">The region file.</param>
    /// <param name="sharedMode">Null refuses a region group or others may access; otherwise it is told why the mode
    /// is wrong and the region is opened anyway (reading it exposes nothing the mode does not already expose).</param>
    public static ShmRegion OpenReadOnly(string path, Action<string>? sharedMode = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        int fd = Syscall.open(path, OpenFlags.O_RDONLY | OpenExisting);
        if (fd < 0) PosixError.Throw(PosixError.Last, $"region {path}");
        return Adopt(path, fd, writable: false, sharedMode);
    }

    private static void CheckOwner(string name, Stat st)
    {
        if (st.st_uid != Syscall.geteuid()) Throw.Invalid($"region {name} is owned by uid {st.st_uid}, not by this user (uid {Syscall.geteuid()})");
    }

    /// <summary>Refuses a mode that lets group or others in, or, with <paramref name="warn"/> (read-only opens), tells it.</summary>
    private static void CheckMode(string name, FilePermissions access, Action<string>? warn)
    {
        if ((access & (FilePermissions.S_IRWXG | FilePermissions.S_IRWXO)) == 0) return;
        string why = $"region {name} has mode {Convert.ToString((int)access, 8)}: group or others may access it (expected 600)";
        if (warn is null) Throw.Invalid(why);
        warn(why);
    }

    private static ShmRegion Adopt(string path, int fd, bool writable, Action<string>? sharedMode = null, TimeSpan? wait = null)
    {
        try
        {
            var type = Stat(path, fd).st_mode & FilePermissions.S_IFMT;
            if (type != FilePermissions.S_IFREG) Throw.Invalid($"region {path} is not a regular file ({Describe(type)})");
            int flags = Syscall.fcntl(fd, FcntlCommand.F_GETFL);
            if (flags < 0 || Syscall.fcntl(fd, FcntlCommand.F_SETFL, flags & ~NativeConvert.FromOpenFlags(OpenFlags.O_NONBLOCK)) < 0)
                PosixError.Throw(PosixError.Last, $"region {path}: fcntl");
            if (wait is { } w) LockWaiting(path, fd, w);
            else Lock(path, fd, writable ? Libc.LOCK_EX : Libc.LOCK_SH);
            var st = Stat(path, fd); // again under the lock: owner, mode and size as the lock holder sees them
            CheckOwner(path, st);
            CheckMode(path, st.st_mode & FilePermissions.ACCESSPERMS, writable ? null : sharedMode);
            if (st.st_size < (long)Layout.PageSize) Throw.Corrupt($"region {path} has {st.st_size} bytes: too small to be a KState region", 0);
            ulong size = (ulong)st.st_size; // a size differing from the header's is judged by whoever reads the header
            BackingProbe.CheckSize(fd, path, size);
            return new ShmRegion(path, fd, Map(path, fd, size, writable), size, created: false);
        }
        catch
        {
            Syscall.close(fd); // closing drops the lock
            throw;
        }
    }

    /// <summary>Makes a complete region under a temporary name and renames it into place; null when another
    /// process put a file at the path first (nothing is left behind then).</summary>
    private static ShmRegion? Create(string path, Layout layout)
    {
        string temp = UnixPath.TempBeside(path);
        int fd = Syscall.open(temp, OpenFlags.O_RDWR | OpenFlags.O_CREAT | OpenFlags.O_EXCL | OpenFlags.O_NOFOLLOW | OpenFlags.O_CLOEXEC, Mode0600);
        if (fd < 0) PosixError.Throw(PosixError.Last, $"region {path}: creating {temp}");
        byte* mapped = null;
        try
        {
            if (Syscall.fchmod(fd, Mode0600) != 0) PosixError.Throw(PosixError.Last, $"region {path}: fchmod"); // whatever the umask
            Lock(path, fd, Libc.LOCK_EX); // locked before it has its name, so nobody else boots it in between
            Reserve(path, fd, layout.RegionSize);
            mapped = Map(path, fd, layout.RegionSize, writable: true);
            layout.WriteHeader(new Span<byte>(mapped, Layout.HeaderBytes));
            // On a disk-backed path the header must be on disk before the name is, or a power cut could name a blank file.
            if (Syscall.msync((nint)mapped, Layout.PageSize, MsyncFlags.MS_SYNC) != 0) PosixError.Throw(PosixError.Last, $"region {path}: msync");
            if (!Publish(temp, path))
            {
                Syscall.munmap((nint)mapped, layout.RegionSize);
                Syscall.unlink(temp);
                Syscall.close(fd);
                return null;
            }
            return new ShmRegion(path, fd, mapped, layout.RegionSize, created: true);
        }
        catch
        {
            if (mapped != null) Syscall.munmap((nint)mapped, layout.RegionSize);
            Syscall.unlink(temp);
            Syscall.close(fd);
            throw;
        }
    }

    /// <summary>Gives the temporary file the region's name unless something already has it: false then.</summary>
    private static bool Publish(string temp, string path)
    {
        byte[] from = UnixPath.ToNulTerminated(temp), to = UnixPath.ToNulTerminated(path);
        Errno e;
        try
        {
            fixed (byte* f = from, t = to)
                e = Libc.RenameAt2(Libc.AT_FDCWD, f, Libc.AT_FDCWD, t, Libc.RENAME_NOREPLACE) == 0 ? 0 : PosixError.Last;
        }
        catch (EntryPointNotFoundException)
        {
            e = Errno.ENOSYS; // glibc before 2.28: fall back to link below
        }
        if (e == 0) return true;
        if (e == Errno.EEXIST) return false;
        if (e != Errno.EINVAL && e != Errno.ENOSYS) PosixError.Throw(e, $"region {path}: renaming {temp} into place");
        // No RENAME_NOREPLACE here (kernel or file system): a hard link never replaces an existing file either.
        if (Syscall.link(temp, path) != 0)
        {
            e = PosixError.Last;
            if (e == Errno.EEXIST) return false;
            PosixError.Throw(e, $"region {path}: linking {temp} into place");
        }
        Syscall.unlink(temp);
        return true;
    }

    /// <summary>Reserves the file's full size; the errno is returned, not set.</summary>
    internal static void Reserve(string path, int fd, ulong size)
    {
        BackingProbe.CheckSize(fd, path, size);
        int rc;
        do rc = Syscall.posix_fallocate(fd, 0, size);
        while (rc != 0 && PosixError.FromReturn(rc) == Errno.EINTR); // a signal during a long reservation
        if (rc != 0) PosixError.Throw(PosixError.FromReturn(rc), $"region {path}: cannot reserve {size} bytes");
    }

    private static void Lock(string path, int fd, int op)
    {
        if (Libc.Flock(fd, op | Libc.LOCK_NB) != 0) PosixError.Throw(PosixError.Last, $"region {path}");
    }

    /// <summary>Takes the exclusive lock, waiting at most <paramref name="wait"/> for its holder to let go. Polls
    /// with LOCK_NB and a short sleep rather than blocking in flock: a blocked flock cannot be called off at the
    /// deadline (only a signal ends it), and one left behind in a helper thread would later take the lock for nobody.</summary>
    private static void LockWaiting(string path, int fd, TimeSpan wait)
    {
        long deadline = wait == Timeout.InfiniteTimeSpan ? long.MaxValue : Environment.TickCount64 + (long)Math.Ceiling(wait.TotalMilliseconds);
        while (Libc.Flock(fd, Libc.LOCK_EX | Libc.LOCK_NB) != 0)
        {
            var e = PosixError.Last;
            if (e == Errno.EINTR) continue;
            if (e != Errno.EWOULDBLOCK) PosixError.Throw(e, $"region {path}");
            long left = deadline - Environment.TickCount64;
            if (left <= 0) Throw.Timeout($"region {path}: still booted by another process after waiting {wait.TotalMilliseconds} ms (it has not finalized and let go, nor exited)");
            Thread.Sleep(1); // polled every millisecond: the let-go is on the blackout's path, and a poll costs one syscall
        }
    }

    private static Stat Stat(string path, int fd)
    {
        if (Syscall.fstat(fd, out var st) != 0) PosixError.Throw(PosixError.Last, $"region {path}: fstat");
        return st;
    }

    private static byte* Map(string path, int fd, ulong size, bool writable)
    {
        var prot = writable ? MmapProts.PROT_READ | MmapProts.PROT_WRITE : MmapProts.PROT_READ;
        nint p = Syscall.mmap(0, size, prot, MmapFlags.MAP_SHARED, fd, 0);
        if (p == -1) PosixError.Throw(PosixError.Last, $"region {path}: mapping {size} bytes");
        return (byte*)p;
    }

    private static string Describe(FilePermissions type) => type switch
    {
        FilePermissions.S_IFIFO => "a FIFO",
        FilePermissions.S_IFDIR => "a directory",
        FilePermissions.S_IFCHR or FilePermissions.S_IFBLK => "a device",
        FilePermissions.S_IFSOCK => "a socket",
        _ => $"file type 0{Convert.ToString((int)type, 8)}",
    };

    /// <summary>Whether the file at <paramref name="path"/> begins with the region magic. Read with open(2) and without
    /// a lock (a booted region is still recognized), non-blocking (a FIFO is never waited on).</summary>
    /// <exception cref="KStateException">The file cannot be opened or read (the errno's error).</exception>
    public static bool HasRegionMagic(string path)
    {
        int fd = Syscall.open(path, OpenFlags.O_RDONLY | OpenFlags.O_NONBLOCK | OpenFlags.O_CLOEXEC);
        if (fd < 0) PosixError.Throw(PosixError.Last, $"region {path}");
        try
        {
            Span<byte> magic = stackalloc byte[8];
            long n;
            fixed (byte* p = magic) n = Syscall.pread(fd, p, 8, 0);
            if (n < 0) PosixError.Throw(PosixError.Last, $"region {path}");
            return n == 8 && BinaryPrimitives.ReadUInt64LittleEndian(magic) == Layout.Magic;
        }
        finally
        {
            Syscall.close(fd);
        }
    }

    /// <summary>Removes a region file (used by tests and tools). Missing files are not an error.</summary>
    public static void Remove(string path) => Syscall.unlink(path);

    public void Dispose()
    {
        // Unlocked first, before the unmap: a successor waiting for the lock (Kho.InitWait) boots while this one tears down.
        // Unlock explicitly: a child forked by this process but not yet exec'd shares the open file description,
        // and would otherwise keep the lock until its exec closes the descriptor.
        if (_fd >= 0) Libc.Flock(_fd, Libc.LOCK_UN);
        if (Base != null)
        {
            Syscall.munmap((nint)Base, Size);
            Base = null;
        }
        if (_fd >= 0)
        {
            Syscall.close(_fd);
            _fd = -1;
        }
    }
}
