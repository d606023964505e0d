using System.Runtime.InteropServices;

namespace KState.Native;

/// <summary>The <c>kstate_*</c> functions of kstate.h. Every body is one <see cref="Barrier"/> call (a test checks it).</summary>
internal static unsafe class KStateExports
{
    [UnmanagedCallersOnly(EntryPoint = "kstate_save_state")]
    public static int SaveState(CDescription* ksd, void* obj, ulong instance) =>
        Barrier.Run(() => NativeState.Reg.Save(NativeDescriptions.Get(ksd), NotNull(obj), instance));

    [UnmanagedCallersOnly(EntryPoint = "kstate_register")]
    public static int Register(CDescription* ksd, void* obj, ulong instance) =>
        Barrier.Run(() => NativeState.Reg.Register(NativeDescriptions.Get(ksd), NotNull(obj), instance));

    [UnmanagedCallersOnly(EntryPoint = "kstate_unregister")]
    public static int Unregister(CDescription* ksd, void* obj, ulong instance) =>
        Barrier.Run(() => NativeState.Reg.Unregister(NativeDescriptions.Get(ksd), obj, instance));

    [UnmanagedCallersOnly(EntryPoint = "kstate_restore")]
    public static int Restore(CDescription* ksd, void* obj, ulong instance) => Barrier.Run(() =>
    {
        var d = NativeDescriptions.Get(ksd);
        using var into = NativeDescriptions.RestoringInto(NotNull(obj), d);
        NativeState.Reg.Restore(d, obj, instance);
    });

    [UnmanagedCallersOnly(EntryPoint = "kstate_save_data")]
    public static int SaveData(NativeStream* stream, void* data, nuint size) => Barrier.Run(() =>
    {
        if (stream == null || stream->Writer == 0) throw new KStateInvalidException("kstate_save_data: not a save stream");
        if (data == null && size != 0) throw new KStateInvalidException("kstate_save_data: data is NULL");
        if (size > int.MaxValue) throw new KStateInvalidException("kstate_save_data: size too large");
        var writer = (RecordWriter)GCHandle.FromIntPtr(stream->Writer).Target!;
        writer.Put(new ReadOnlySpan<byte>(data, (int)size));
    });

    [UnmanagedCallersOnly(EntryPoint = "kstate_restore_data")]
    public static int RestoreData(NativeStream* stream, void* data, nuint size) => Barrier.Run(() =>
    {
        if (stream == null || stream->Data == null && stream->Length != 0 || stream->Writer != 0) throw new KStateInvalidException("kstate_restore_data: not a restore stream");
        if (data == null && size != 0) throw new KStateInvalidException("kstate_restore_data: data is NULL");
        if (size > (nuint)(stream->Length - stream->Position))
            throw new KStateCorruptException($"kstate_restore_data: {size} bytes asked, {stream->Length - stream->Position} left in the field");
        new ReadOnlySpan<byte>(stream->Data + stream->Position, (int)size).CopyTo(new Span<byte>(data, (int)size));
        stream->Position += (int)size;
    });

    [UnmanagedCallersOnly(EntryPoint = "kstate_strerror")]
    public static byte* StrError(int err) => (byte*)Barrier.Get(() => (nint)ErrorText.For(err));

    [UnmanagedCallersOnly(EntryPoint = "kstate_last_error")]
    public static byte* LastError() => (byte*)Barrier.Get(() => NativeState.LastError == 0 ? (nint)ErrorText.For(0) : NativeState.LastError);

    private static void* NotNull(void* obj) => obj != null ? obj : throw new KStateInvalidException("NULL object");
}

/// <summary>Static texts for every error the ABI returns.</summary>
internal static unsafe class ErrorText
{
    private static readonly Dictionary<int, nint> Texts = new()
    {
        [0] = Utf8("success"),
        [2] = Utf8("no handover, or no such record, session or item (ENOENT)"),
        [5] = Utf8("internal error (EIO)"),
        [12] = Utf8("out of memory in the region (ENOMEM)"),
        [16] = Utf8("busy: the region is booted elsewhere, the handover is finalized, or a session is already retrieved or not all restored (EBUSY)"),
        [17] = Utf8("already exists (EEXIST)"),
        [22] = Utf8("invalid argument or description (EINVAL)"),
        [28] = Utf8("no space: the file system or the stream is full (ENOSPC)"),
        [71] = Utf8("record version out of the description's range (EPROTO)"),
        [74] = Utf8("corrupt stream or handover (EBADMSG)"),
        [110] = Utf8("timed out: another process still has the region booted (ETIMEDOUT)"),
    };

    private static readonly nint Unknown = Utf8("unknown error");

    private static nint Utf8(string s) => Marshal.StringToCoTaskMemUTF8(s);

    public static byte* For(int err) => (byte*)(err != int.MinValue && Texts.TryGetValue(Math.Abs(err), out var t) ? t : Unknown);
}
