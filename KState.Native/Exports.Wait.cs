using System.Runtime.InteropServices;

namespace KState.Native;

/// <summary><c>kho_init_wait</c> of kstate.h: a successor that is ready before the handover waits for the generation
/// that has the region booted to finalize and let go (or exit). Every body is one <see cref="Barrier"/> call (a test
/// checks it).</summary>
internal static unsafe class WaitExports
{
    [UnmanagedCallersOnly(EntryPoint = "kho_init_wait")]
    public static int InitWait(byte* path, ulong size, uint timeoutMs) => Barrier.Lifetime("kho_init_wait", () =>
    {
        if (path == null) throw new KStateInvalidException("kho_init_wait: region path is NULL");
        // The path's bytes exactly as given; timeout_ms up to UINT_MAX (about 49 days) fits a TimeSpan.
        NativeState.Boot(MemoryMarshal.CreateReadOnlySpanFromNullTerminated(path), size, TimeSpan.FromMilliseconds(timeoutMs));
    });
}
