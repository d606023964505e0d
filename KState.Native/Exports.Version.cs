using System.Runtime.InteropServices;

namespace KState.Native;

/// <summary><c>kstate_version</c>: the library's version for C, as <see cref="KStateVersion.Value"/> gives it to C#.</summary>
internal static unsafe class VersionExports
{
    // Allocated once and never freed: the caller may keep the pointer for the life of the process.
    private static readonly nint Text = Marshal.StringToCoTaskMemUTF8(KStateVersion.Value);

    [UnmanagedCallersOnly(EntryPoint = "kstate_version")]
    public static byte* Version() => (byte*)Barrier.Get(() => Text);
}
