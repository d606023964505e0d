using System.Runtime.InteropServices;

namespace KState.Machine.Region;

/// <summary>
/// The libc calls Mono.Unix does not cover; everything else goes through <c>Mono.Unix.Native.Syscall</c>.
/// Each binding takes only integers or bytes, so no libc structure layout is written here.
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
}
