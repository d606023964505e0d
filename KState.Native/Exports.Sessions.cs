using System.Runtime.InteropServices;

namespace KState.Native;

/// <summary>The <c>kstate_session_*</c> functions of kstate.h. A session handle is a key into NativeState's table.</summary>
internal static unsafe class SessionExports
{
    [UnmanagedCallersOnly(EntryPoint = "kstate_session_create")]
    public static int Create(byte* name, nint* session) => Barrier.Run(() =>
    {
        if (session == null) throw new KStateInvalidException("kstate_session_create: NULL output pointer");
        *session = 0;
        string n = NativeState.SessionName(name, "kstate_session_create");
        *session = NativeState.AddSessionHandle(NativeState.BootedSessions.Create(n));
    });

    [UnmanagedCallersOnly(EntryPoint = "kstate_session_retrieve")]
    public static int Retrieve(byte* name, nint* session) => Barrier.Run(() =>
    {
        if (session == null) throw new KStateInvalidException("kstate_session_retrieve: NULL output pointer");
        *session = 0;
        string n = NativeState.SessionName(name, "kstate_session_retrieve");
        *session = NativeState.AddSessionHandle(NativeState.BootedSessions.Retrieve(n));
    });

    [UnmanagedCallersOnly(EntryPoint = "kstate_session_save_state")]
    public static int SaveState(nint session, CDescription* ksd, void* obj, ulong token) => Barrier.Run(() =>
        NativeState.SessionFor<Session>(session, "kstate_session_save_state").SaveState(NativeDescriptions.Get(ksd), obj, token));

    [UnmanagedCallersOnly(EntryPoint = "kstate_session_restore")]
    public static int Restore(nint session, CDescription* ksd, void* obj, ulong token) => Barrier.Run(() =>
    {
        var s = NativeState.SessionFor<RetrievedSession>(session, "kstate_session_restore");
        var d = NativeDescriptions.Get(ksd);
        using var into = NativeDescriptions.RestoringInto(obj, d);
        s.Restore(d, obj, token);
    });

    [UnmanagedCallersOnly(EntryPoint = "kstate_session_finish")]
    public static int Finish(nint session) => Barrier.Run(() =>
    {
        NativeState.SessionFor<RetrievedSession>(session, "kstate_session_finish").Finish();
        NativeState.DropSessionHandle(session);
    });

    [UnmanagedCallersOnly(EntryPoint = "kstate_session_discard")]
    public static int Discard(nint session, ulong token) => Barrier.Run(() =>
        NativeState.SessionFor<RetrievedSession>(session, "kstate_session_discard").Discard(token));

    [UnmanagedCallersOnly(EntryPoint = "kstate_session_close")]
    public static int Close(nint session) => Barrier.Run(() =>
    {
        NativeState.SessionFor<Session>(session, "kstate_session_close").Close();
        NativeState.DropSessionHandle(session);
    });
}
