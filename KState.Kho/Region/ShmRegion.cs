using System.Runtime.InteropServices;

namespace KState.Machine.Region;

/// <summary>
/// The file that plays the machine's physical memory: created with its full size reserved (so a full tmpfs fails
/// here, never with SIGBUS later), mode 0600, opened without following links, owner-checked, locked exclusively
/// by the one generation that has it booted, and mapped shared at whatever address the OS picks.
/// </summary>
internal sealed unsafe class ShmRegion : IDisposable
{
    private int _fd;

    public string Path { get; }
    public byte* Base { get; private set; }
    public ulong Size { get; }
    public bool Created { get; }

    private ShmRegion(string path, int fd, byte* mapped, ulong size, bool created)
    {
        Path = path;
        _fd = fd;
        Base = mapped;
        Size = size;
        Created = created;
    }

    /// <summary>Adopts <paramref name="path"/> if it exists, else creates it with <paramref name="size"/> bytes.</summary>
    public static ShmRegion OpenOrCreate(string path, ulong size)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        bool created = false;
        int fd = Libc.Open(path, Libc.O_RDWR | Libc.O_NOFOLLOW | Libc.O_CLOEXEC, 0);
        if (fd < 0 && Marshal.GetLastPInvokeError() == Libc.ENOENT)
        {
            if (size == 0) Throw.NotFound($"region {path} does not exist and no size was given to create it");
            fd = Libc.Open(path, Libc.O_RDWR | Libc.O_CREAT | Libc.O_EXCL | Libc.O_NOFOLLOW | Libc.O_CLOEXEC, 0x180 /* 0600 */);
            created = fd >= 0;
        }
        if (fd < 0) ThrowOpenError(path, Marshal.GetLastPInvokeError());
        try
        {
            if (Libc.Flock(fd, Libc.LOCK_EX | Libc.LOCK_NB) != 0)
            {
                int e = Marshal.GetLastPInvokeError();
                if (e == Libc.EWOULDBLOCK) Throw.Busy($"region {path} is booted by another process (locked)");
                Throw.Invalid($"region {path}: flock failed: {Libc.ErrorText(e)}");
            }
            CheckOwnership(path, fd);
            if (Libc.FStat(fd, out var st) != 0) Throw.Invalid($"region {path}: fstat failed");
            if (st.st_size == 0)
            {
                // Created but never reserved (here, or by a creator that died before fallocate): finish the creation.
                if (size == 0) Throw.Corrupt($"region {path} is empty (a creation that never finished) and no size was given", 0);
                Reserve(path, fd, size);
                created = true;
                Libc.FStat(fd, out st);
            }
            ulong actual = (ulong)st.st_size; // a size differing from the one asked for is judged by Kho.Init, after the header
            nint p = Libc.Mmap(0, (nuint)actual, Libc.PROT_READ | Libc.PROT_WRITE, Libc.MAP_SHARED, fd, 0);
            if (p == Libc.MAP_FAILED) Throw.OutOfMemory($"region {path}: mmap of {actual} bytes failed: {Libc.ErrorText(Marshal.GetLastPInvokeError())}");
            return new ShmRegion(path, fd, (byte*)p, actual, created);
        }
        catch
        {
            if (created) Libc.Unlink(path); // unlink while still locked, so nobody adopts a half-made region
            Libc.Close(fd);
            throw;
        }
    }

    /// <summary>Maps a region read-only for inspection, under a shared lock: busy while a generation has it booted.</summary>
    public static ShmRegion OpenReadOnly(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        int fd = Libc.Open(path, Libc.O_RDONLY | Libc.O_NOFOLLOW | Libc.O_CLOEXEC, 0);
        if (fd < 0)
        {
            int e = Marshal.GetLastPInvokeError();
            if (e == Libc.ENOENT) Throw.NotFound($"region {path} does not exist");
            ThrowOpenError(path, e);
        }
        try
        {
            if (Libc.Flock(fd, Libc.LOCK_SH | Libc.LOCK_NB) != 0)
            {
                int e = Marshal.GetLastPInvokeError();
                if (e == Libc.EWOULDBLOCK) Throw.Busy($"region {path} is booted by a running process; inspect it after that generation exits");
                Throw.Invalid($"region {path}: flock failed: {Libc.ErrorText(e)}");
            }
            CheckOwnership(path, fd);
            if (Libc.FStat(fd, out var st) != 0) Throw.Invalid($"region {path}: fstat failed");
            if (st.st_size < (long)Layout.PageSize) Throw.Corrupt($"region {path} has {st.st_size} bytes: too small to be a region", 0);
            nint p = Libc.Mmap(0, (nuint)st.st_size, Libc.PROT_READ, Libc.MAP_SHARED, fd, 0);
            if (p == Libc.MAP_FAILED) Throw.OutOfMemory($"region {path}: mmap failed: {Libc.ErrorText(Marshal.GetLastPInvokeError())}");
            return new ShmRegion(path, fd, (byte*)p, (ulong)st.st_size, false);
        }
        catch
        {
            Libc.Close(fd);
            throw;
        }
    }

    private static void ThrowOpenError(string path, int errno)
    {
        if (errno == Libc.ELOOP) Throw.Invalid($"region {path} is a symbolic link; refusing to follow it");
        if (errno == Libc.EEXIST) Throw.Busy($"region {path} was created by another process at the same moment");
        if (errno == Libc.ENOSPC) Throw.NoSpace($"region {path}: no space to create it");
        Throw.Invalid($"region {path}: open failed: {Libc.ErrorText(errno)}");
    }

    private static void CheckOwnership(string path, int fd)
    {
        if (Libc.FStat(fd, out var st) != 0) Throw.Invalid($"region {path}: fstat failed");
        if ((st.st_mode & Libc.S_IFMT) != Libc.S_IFREG) Throw.Invalid($"region {path} is not a regular file");
        if (st.st_uid != Libc.GetEuid()) Throw.Invalid($"region {path} is owned by uid {st.st_uid}, not by this user (uid {Libc.GetEuid()})");
        if ((st.st_mode & 0x3F) != 0) Throw.Invalid($"region {path} has mode {Convert.ToString(st.st_mode & 0x1FF, 8)}: group or others may access it (expected 600)");
    }

    private static void Reserve(string path, int fd, ulong size)
    {
        if (size % Layout.PageSize != 0 || size < Layout.MinRegionSize || size > Layout.MaxRegionSize)
            Throw.Invalid($"region size {size} must be a multiple of {Layout.PageSize} between {Layout.MinRegionSize} and {Layout.MaxRegionSize}");
        int rc = Libc.PosixFallocate(fd, 0, (long)size);
        if (rc == Libc.ENOSPC) Throw.NoSpace($"region {path}: cannot reserve {size} bytes: no space left on the file system");
        if (rc != 0) Throw.NoSpace($"region {path}: cannot reserve {size} bytes: {Libc.ErrorText(rc)}");
    }

    /// <summary>Removes a region file (used by tests and tools). Missing files are not an error.</summary>
    public static void Remove(string path) => Libc.Unlink(path);

    public void Dispose()
    {
        // Unlock explicitly: a child forked by this process but not yet exec'd shares the open file description,
        // and would otherwise keep the lock until its exec closes the descriptor.
        if (_fd >= 0) Libc.Flock(_fd, Libc.LOCK_UN);
        if (Base != null)
        {
            Libc.Munmap((nint)Base, (nuint)Size);
            Base = null;
        }
        if (_fd >= 0)
        {
            Libc.Close(_fd); // closing drops the flock
            _fd = -1;
        }
    }
}
