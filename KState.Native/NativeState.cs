using System.Runtime.InteropServices;
using System.Text;

namespace KState.Native;

/// <summary>The process's one booted generation, as the C ABI sees it (the kernel has one KHO too).</summary>
internal static partial class NativeState
{
    private static readonly Lock Gate = new();
    public static Kho? Kho { get; private set; }
    public static KStateStreams? Streams { get; private set; }
    public static KStateRegistry? Registry { get; private set; }
    public static KStateSessions? Sessions { get; private set; }

    [ThreadStatic] private static nint t_lastError;

    public static void Boot(ReadOnlySpan<byte> path, ulong size, TimeSpan? wait = null)
    {
        lock (Gate) // held while waiting too: this process has no region then, and a second boot must not race the first
        {
            if (Kho is not null) throw new KStateBusyException($"{(wait is null ? "kho_init" : "kho_init_wait")}: this process has already booted a region (kho_exit first)");
            Install(wait is { } w ? Kho.InitWait(path, size, w) : Kho.Init(path, size));
        }
    }

    /// <summary><c>kho_init_fd</c>: as <see cref="Boot(ReadOnlySpan{byte}, ulong, TimeSpan?)"/> on an open file; the fd stays the caller's.</summary>
    public static void Boot(int fd, ulong size)
    {
        lock (Gate)
        {
            if (Kho is not null) throw new KStateBusyException("kho_init_fd: this process has already booted a region (kho_exit first)");
            Install(Kho.Init(fd, size));
        }
    }

    /// <summary>Makes a booted Kho the process's one (called under <see cref="Gate"/>).</summary>
    private static void Install(Kho kho)
    {
        try
        {
            var streams = new KStateStreams(kho);
            var registry = new KStateRegistry(streams);
            var sessions = new KStateSessions(streams); // finalize saves registered objects, then sessions
            Registry = registry;
            Sessions = sessions;
            Streams = streams;
            Kho = kho;
        }
        catch
        {
            kho.Dispose();
            throw;
        }
    }

    public static void Exit()
    {
        lock (Gate)
        {
            if (Kho is null) throw new KStateInvalidException("kho_exit: no region is booted");
            Streams!.Dispose();
            Kho.Dispose();
            Kho = null;
            Streams = null;
            Registry = null;
            Sessions = null;
            ClearSessionHandles();
            NativeDescriptions.Clear();
        }
    }

    public static Kho Machine => Kho ?? throw new KStateInvalidException("no region is booted (call kho_init first)");

    public static KStateRegistry Reg => Registry ?? throw new KStateInvalidException("no region is booted (call kho_init first)");

    /// <summary>Remembers why a call failed (kstate_last_error) and gives the positive errno to return negated:
    /// a KState exception's own <see cref="KStateException.Errno"/>; anything else is a bug of ours, never a crash of the caller.</summary>
    public static int Fail(Exception e)
    {
        var k = AsKState(e);
        SetLastError(k is null ? $"{e.GetType().Name}: {e.Message}" : e.Message);
        return k?.Errno ?? Errno.EIO;
    }

    private static KStateException? AsKState(Exception e) => e switch
    {
        KStateException k => k,
        OutOfMemoryException => new KStateOutOfMemoryException(e.Message),
        ArgumentException or ObjectDisposedException or LockRecursionException => new KStateInvalidException(e.Message),
        _ => null,
    };

    public static void SetLastError(string text)
    {
        if (t_lastError != 0) Marshal.FreeCoTaskMem(t_lastError);
        t_lastError = Marshal.StringToCoTaskMemUTF8(text);
    }

    public static nint LastError => t_lastError;

    public static unsafe string? Utf8(byte* s)
    {
        if (s == null) return null;
        int n = 0;
        while (s[n] != 0)
        {
            if (++n > 4096) throw new KStateInvalidException("string longer than 4096 bytes (missing NUL?)");
        }
        return Encoding.UTF8.GetString(s, n);
    }
}
