using System.Runtime.InteropServices;

namespace KState.Machine.Region;

/// <summary>
/// The libc calls Mono.Unix does not cover; everything else goes through <c>Mono.Unix.Native.Syscall</c>.
/// Each binding takes only integers or bytes, so no libc structure layout is written here (of struct statfs, only
/// its first two words are read).
/// </summary>
internal static unsafe partial class Libc
{
    public const int LOCK_SH = 1, LOCK_EX = 2, LOCK_NB = 4, LOCK_UN = 8;
    public const int AT_FDCWD = -100;
    public const uint RENAME_NOREPLACE = 1;

    /// <summary>flock(2): Mono.Unix has only fcntl record locks, which are per process (a second boot in the same
    /// process would not be refused and any close would drop them); regions are locked per open file with flock.</summary>
    [LibraryImport("libc", EntryPoint = "flock", SetLastError = true)]
    public static partial int Flock(int fd, int op);

    /// <summary>renameat2(2) with RENAME_NOREPLACE: Mono.Unix has rename and renameat, which replace an existing file;
    /// a new region is moved into place only where nothing is. Path bytes come from <see cref="UnixPath"/>.</summary>
    [LibraryImport("libc", EntryPoint = "renameat2", SetLastError = true)]
    public static partial int RenameAt2(int oldDirFd, byte* oldPath, int newDirFd, byte* newPath, uint flags);

    /// <summary>fstatfs(2): Mono.Unix has only fstatvfs, which has no file system type (f_type tells tmpfs from
    /// hugetlbfs). Called into a byte buffer larger than struct statfs (120 bytes on 64-bit Linux).</summary>
    [LibraryImport("libc", EntryPoint = "fstatfs", SetLastError = true)]
    private static partial int Fstatfs(int fd, byte* buf);

    /// <summary>The file system type (f_type) and block size (f_bsize: the page size on hugetlbfs) of an open file.
    /// Both are the first two words of struct statfs on Linux (__fsword_t: the machine word), whatever the architecture.</summary>
    public static (long Type, ulong BlockSize) FileSystemOf(int fd, string name)
    {
        byte* buf = stackalloc byte[256];
        if (Fstatfs(fd, buf) != 0) PosixError.Throw(PosixError.Last, $"region {name}: fstatfs");
        return nint.Size == 8 ? (*(long*)buf, *(ulong*)(buf + 8)) : ((uint)*(int*)buf, *(uint*)(buf + 4));
    }
}
