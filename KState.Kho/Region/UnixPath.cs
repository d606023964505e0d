using Mono.Unix;

namespace KState.Machine.Region;

/// <summary>
/// Region paths as the file system sees them: bytes. A path given as bytes is kept exactly (invalid UTF-8 included)
/// by Mono.Unix's <see cref="UnixEncoding"/>, which every Mono.Unix call uses to turn the string back into those bytes.
/// </summary>
internal static class UnixPath
{
    /// <summary>New regions are made as <c>DIR/.kstate-new-PID-RANDOM</c> beside their path and renamed into place
    /// once complete; a creator that died leaves only such a file, which tools may delete when PID is gone.</summary>
    public const string TempPrefix = ".kstate-new-";

    /// <exception cref="KStateInvalidException">The path is empty or holds a NUL byte.</exception>
    public static string FromBytes(ReadOnlySpan<byte> path)
    {
        if (path.IsEmpty) Throw.Invalid("region path is empty");
        if (path.Contains((byte)0)) Throw.Invalid("region path holds a NUL byte");
        return UnixEncoding.Instance.GetString(path.ToArray());
    }

    /// <summary>The path's bytes with a terminating NUL, for the calls bound in <see cref="Libc"/>.</summary>
    public static byte[] ToNulTerminated(string path)
    {
        byte[] bytes = UnixEncoding.Instance.GetBytes(path);
        Array.Resize(ref bytes, bytes.Length + 1);
        return bytes;
    }

    /// <summary>A fresh temporary name in the directory of <paramref name="path"/> (same file system, so a rename works).</summary>
    public static string TempBeside(string path)
    {
        int slash = path.LastIndexOf('/');
        string dir = slash < 0 ? "" : path[..(slash + 1)];
        return $"{dir}{TempPrefix}{Environment.ProcessId}-{Random.Shared.NextInt64():x16}";
    }
}
