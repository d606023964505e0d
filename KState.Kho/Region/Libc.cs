using System.Runtime.InteropServices;

namespace KState.Machine.Region;

/// <summary>The few libc calls the region needs, bound directly so the library stays AOT-friendly with no native dependency of its own.</summary>
internal static unsafe partial class Libc
{
    public const int O_RDONLY = 0, O_RDWR = 2, O_CREAT = 0x40, O_EXCL = 0x80, O_NOFOLLOW = 0x20000, O_CLOEXEC = 0x80000;
    public const int LOCK_SH = 1, LOCK_EX = 2, LOCK_NB = 4, LOCK_UN = 8;
    public const int PROT_READ = 1, PROT_WRITE = 2, MAP_SHARED = 1;
    public const int EWOULDBLOCK = 11, ENOSPC = 28, EEXIST = 17, ENOENT = 2, ELOOP = 40, EINTR = 4, EACCES = 13, EPERM = 1;
    public const uint S_IFMT = 0xF000, S_IFREG = 0x8000;
    public static readonly nint MAP_FAILED = -1;

    /// <summary>x86_64 glibc <c>struct stat</c>.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct Stat
    {
        public ulong st_dev, st_ino, st_nlink;
        public uint st_mode, st_uid, st_gid, _pad0;
        public ulong st_rdev;
        public long st_size, st_blksize, st_blocks;
        public long st_atime, st_atime_nsec, st_mtime, st_mtime_nsec, st_ctime, st_ctime_nsec;
        public long _r0, _r1, _r2;
    }

    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int Open(string path, int flags, uint mode);

    [LibraryImport("libc", EntryPoint = "close", SetLastError = true)]
    public static partial int Close(int fd);

    [LibraryImport("libc", EntryPoint = "fstat", SetLastError = true)]
    public static partial int FStat(int fd, out Stat st);

    [LibraryImport("libc", EntryPoint = "flock", SetLastError = true)]
    public static partial int Flock(int fd, int op);

    [LibraryImport("libc", EntryPoint = "posix_fallocate")]
    public static partial int PosixFallocate(int fd, long offset, long len);

    [LibraryImport("libc", EntryPoint = "mmap", SetLastError = true)]
    public static partial nint Mmap(nint addr, nuint length, int prot, int flags, int fd, long offset);

    [LibraryImport("libc", EntryPoint = "munmap", SetLastError = true)]
    public static partial int Munmap(nint addr, nuint length);

    [LibraryImport("libc", EntryPoint = "unlink", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int Unlink(string path);

    [LibraryImport("libc", EntryPoint = "geteuid")]
    public static partial uint GetEuid();

    public static string ErrorText(int errno) => Marshal.GetPInvokeErrorMessage(errno);
}
