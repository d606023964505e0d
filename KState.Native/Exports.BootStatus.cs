using System.Runtime.InteropServices;
using System.Text;

namespace KState.Native;

/// <summary><c>struct kho_boot_status</c> of kstate.h, field for field.</summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct NativeBootStatus
{
    public const int PartBytes = 32, ReasonBytes = 224;
    public int Kind;
    public int Error;
    public ulong Generation;
    public ulong Offset;
    public fixed byte Part[PartBytes];
    public fixed byte Reason[ReasonBytes];
}

/// <summary><c>kho_boot_status</c>: <see cref="Kho.BootStatus"/> for C.</summary>
internal static unsafe class BootStatusExports
{
    [UnmanagedCallersOnly(EntryPoint = "kho_boot_status")]
    public static int BootStatus(NativeBootStatus* status) => Barrier.Run((nint)status, static p =>
    {
        if (p == 0) throw new KStateInvalidException("kho_boot_status: status is NULL");
        Fill((NativeBootStatus*)p, NativeState.Machine.BootStatus);
    });

    private static void Fill(NativeBootStatus* to, KhoBootStatus from)
    {
        to->Kind = (int)from.Kind;
        to->Error = from.Error is { } e ? -(int)e : 0;
        to->Generation = from.Generation;
        to->Offset = from.Offset ?? 0;
        Text(from.Part ?? "", new Span<byte>(to->Part, NativeBootStatus.PartBytes));
        Text(from.Reason, new Span<byte>(to->Reason, NativeBootStatus.ReasonBytes));
    }

    /// <summary>UTF-8, NUL-terminated, cut at a character boundary when it does not fit.</summary>
    private static void Text(string text, Span<byte> to)
    {
        to.Clear();
        var utf8 = Encoding.UTF8.GetBytes(text).AsSpan();
        int n = Math.Min(utf8.Length, to.Length - 1);
        while (n > 0 && n < utf8.Length && (utf8[n] & 0xC0) == 0x80) n--; // do not end inside a multi-byte character
        utf8[..n].CopyTo(to);
    }
}
