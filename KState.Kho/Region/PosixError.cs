using System.Diagnostics.CodeAnalysis;
using Mono.Unix.Native;

namespace KState.Machine.Region;

/// <summary>The one place where an errno from a region call becomes a KState exception.</summary>
internal static class PosixError
{
    /// <summary>The errno of the last failed Mono.Unix or <see cref="Libc"/> call on this thread.</summary>
    public static Errno Last => Stdlib.GetLastError();

    /// <summary>An errno returned as a value (posix_fallocate) rather than set.</summary>
    public static Errno FromReturn(int rc) => NativeConvert.ToErrno(rc);

    /// <summary>Throws the exception for <paramref name="errno"/>; <paramref name="what"/> names the region and the
    /// step ("region /dev/shm/x: open").</summary>
    [DoesNotReturn]
    public static void Throw(Errno errno, string what) => throw Exception(errno, what);

    public static KStateException Exception(Errno errno, string what) => errno switch
    {
        Errno.ENOENT => new KStateNotFoundException($"{what}: does not exist"),
        Errno.ELOOP => new KStateInvalidException($"{what}: it is a symbolic link; refusing to follow it"),
        Errno.EWOULDBLOCK or Errno.EBUSY => new KStateBusyException($"{what}: booted by another process (locked)"),
        Errno.EEXIST => new KStateExistsException($"{what}: the file exists"),
        Errno.ENOSPC or Errno.EDQUOT or Errno.EFBIG => new KStateNoSpaceException($"{what}: no space left on the file system ({Text(errno)})"),
        Errno.ENOMEM => new KStateOutOfMemoryException($"{what}: {Text(errno)}"),
        Errno.EOPNOTSUPP => new KStateInvalidException($"{what}: the file system does not support it ({Text(errno)})"),
        _ => new KStateInvalidException($"{what}: {Text(errno)}"),
    };

    public static string Text(Errno errno) => $"{Stdlib.strerror(errno)} ({errno})";
}
