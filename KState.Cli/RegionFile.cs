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

    /// <summary>True when the file begins with the region magic.</summary>
    /// <exception cref="KStateException">The file cannot be opened or read.</exception>
    public static bool IsRegion(string path) => KhoInspector.IsRegionFile(path);

    /// <summary>Opens a region for reading; a mode open to group or others is a warning on <paramref name="stderr"/>.</summary>
    public static KhoInspector Open(string path, TextWriter stderr) =>
        KhoInspector.Open(path, why => stderr.WriteLine($"kstate: warning: {why}; reading it anyway"));
}
