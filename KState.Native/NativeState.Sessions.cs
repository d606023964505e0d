using System.Text;

namespace KState.Native;

/// <summary>
/// Session handles: C gets (serial &lt;&lt; 4) | 0x8, never a pointer or a GCHandle, and every call looks the handle up
/// here, so a stale (finished, closed, from before kho_exit) or made-up handle is -EINVAL, never a crash. Serials
/// are never reused in a process, so an old handle cannot name a newer session.
/// </summary>
internal static partial class NativeState
{
    private const nint SessionTag = 0x8;
    private const int SessionNameMaxBytes = 63; // LUO's limit, as KState.Core's SessionNames
    private static readonly Dictionary<nint, object> SessionHandles = [];
    private static long s_lastSessionSerial;
    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    public static KStateSessions BootedSessions => Sessions ?? throw new KStateInvalidException("no region is booted (call kho_init first)");

    /// <summary>Hands out a new handle for an outgoing <see cref="Session"/> or a <see cref="RetrievedSession"/>.</summary>
    public static nint AddSessionHandle(object session)
    {
        lock (Gate)
        {
            var handle = (nint)(++s_lastSessionSerial << 4) | SessionTag;
            SessionHandles.Add(handle, session);
            return handle;
        }
    }

    /// <summary>The session behind a live handle, if it is a <typeparamref name="T"/>.</summary>
    /// <exception cref="KStateInvalidException">NULL, stale, made up, or a session of the other direction.</exception>
    public static T SessionFor<T>(nint handle, string function) where T : class
    {
        lock (Gate)
        {
            if (handle == 0) throw new KStateInvalidException($"{function}: session is NULL");
            if (!SessionHandles.TryGetValue(handle, out var session))
                throw new KStateInvalidException($"{function}: {handle:x} is not a live session (finished, closed, from before kho_exit, or never handed out)");
            if (session is T wanted) return wanted;
            throw new KStateInvalidException(session switch
            {
                Session s => $"{function}: session '{s.Name}' is outgoing (from kstate_session_create); this needs a retrieved one",
                RetrievedSession r => $"{function}: session '{r.Name}' is retrieved (from kstate_session_retrieve); this needs an outgoing one",
                _ => $"{function}: not a session",
            });
        }
    }

    public static void DropSessionHandle(nint handle)
    {
        lock (Gate) SessionHandles.Remove(handle);
    }

    private static void ClearSessionHandles() => SessionHandles.Clear();

    /// <summary>A session name from C: 1 to 63 bytes of valid UTF-8 (reads at most 64 bytes).</summary>
    /// <exception cref="KStateInvalidException">NULL, empty, too long, or not UTF-8.</exception>
    public static unsafe string SessionName(byte* name, string function)
    {
        if (name == null) throw new KStateInvalidException($"{function}: name is NULL");
        int n = 0;
        while (n <= SessionNameMaxBytes && name[n] != 0) n++;
        if (n == 0 || n > SessionNameMaxBytes) throw new KStateInvalidException($"{function}: a session name is 1 to {SessionNameMaxBytes} bytes");
        try
        {
            return StrictUtf8.GetString(name, n);
        }
        catch (DecoderFallbackException)
        {
            throw new KStateInvalidException($"{function}: the session name is not valid UTF-8");
        }
    }
}
