using System.Buffers.Binary;
using KState.Inspection;
using Mono.Unix.Native;

namespace KState.Cli;

/// <summary>
/// How the read-only commands (inspect, verify, compat) reach a file: why it cannot be read at all (exit 2), whether
/// it is a region, and a region open that warns about a mode open to group or others instead of refusing it, since
/// reading exposes nothing the mode does not already expose.
/// </summary>
internal static class RegionFile
{
    private const ulong Magic = 0x3130_4F48_4B54_534B; // "KSTKHO01", docs/FORMAT.md

    /// <summary>Why <paramref name="path"/> cannot be read as a file, or null when it can.</summary>
    public static string? CannotRead(string path)
    {
        if (Syscall.stat(path, out var st) != 0)
        {
            var e = Stdlib.GetLastError();
            return e == Errno.ENOENT ? "no such file" : Stdlib.strerror(e);
        }
        var type = st.st_mode & FilePermissions.S_IFMT;
        if (type == FilePermissions.S_IFDIR) return "it is a directory";
        if (type != FilePermissions.S_IFREG) return "it is not a regular file (a FIFO, socket or device)";
        if (Syscall.access(path, AccessModes.R_OK) != 0)
            return $"{Stdlib.strerror(Stdlib.GetLastError())} (mode {Convert.ToString((int)(st.st_mode & FilePermissions.ACCESSPERMS), 8)}, owner uid {st.st_uid})";
        return null;
    }

    /// <summary>True when the file begins with the region magic (the file must be readable).</summary>
    /// <exception cref="IOException">The file cannot be opened or read.</exception>
    public static unsafe bool IsRegion(string path)
    {
        // Read with open(2), not FileStream: .NET takes a shared flock on every file it opens for reading, which a
        // booted region's lock refuses, and the tool would say "being used by another process" instead of "busy".
        int fd = Syscall.open(path, OpenFlags.O_RDONLY | OpenFlags.O_NONBLOCK | OpenFlags.O_CLOEXEC);
        if (fd < 0) throw new IOException($"{path}: {Stdlib.strerror(Stdlib.GetLastError())}");
        try
        {
            ulong magic = 0;
            long n = Syscall.pread(fd, &magic, 8, 0);
            if (n < 0) throw new IOException($"{path}: {Stdlib.strerror(Stdlib.GetLastError())}");
            return n == 8 && BinaryPrimitives.ReadUInt64LittleEndian(new ReadOnlySpan<byte>(&magic, 8)) == Magic;
        }
        finally
        {
            Syscall.close(fd);
        }
    }

    /// <summary>Opens a region for reading; a mode open to group or others is a warning on <paramref name="stderr"/>.</summary>
    public static KhoInspector Open(string path, TextWriter stderr) =>
        KhoInspector.Open(path, why => stderr.WriteLine($"kstate: warning: {why}; reading it anyway"));
}
