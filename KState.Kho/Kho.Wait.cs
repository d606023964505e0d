using KState.Machine.Region;

namespace KState;

public sealed partial class Kho
{
    /// <summary>
    /// A successor that is ready before the handover (<c>kho_init_wait</c>): as <see cref="Init(string, ulong, KhoOptions?)"/>,
    /// but while another process has the region booted it waits, for at most <paramref name="timeout"/>, until that
    /// process has finalized and let go of the region (<see cref="Dispose"/>, whose first step is to let go, before
    /// it unmaps) or has exited. Then it boots as Init does: on the handover if the other process finalized one, cold
    /// if it exited without finalizing. The wait polls the region's lock every millisecond, so it notices the let-go
    /// within about a millisecond, and leaves nothing behind when it gives up.
    /// </summary>
    /// <remarks>Another Kho of this same process that has the region booted is waited for too: dispose it from another
    /// thread, or the wait times out.</remarks>
    /// <param name="path">The region file; created with <paramref name="size"/> bytes when it does not exist.</param>
    /// <param name="size">As for Init: the size of a new region, or 0 to adopt only.</param>
    /// <param name="timeout">The longest wait (<see cref="Timeout.InfiniteTimeSpan"/>: no limit; zero: one try).</param>
    /// <param name="options">Boot options.</param>
    /// <exception cref="KStateTimeoutException">The other process still had the region booted at the deadline; the
    /// region is untouched (ETIMEDOUT).</exception>
    /// <exception cref="KStateInvalidException">A negative timeout (other than infinite), or as for Init.</exception>
    /// <exception cref="KStateException">As for <see cref="Init(string, ulong, KhoOptions?)"/>.</exception>
    public static Kho InitWait(string path, ulong size, TimeSpan timeout, KhoOptions? options = null)
    {
        if (timeout < TimeSpan.Zero && timeout != Timeout.InfiniteTimeSpan)
            Throw.Invalid($"timeout {timeout.TotalMilliseconds} ms: must be 0 or more (or infinite)");
        options ??= new KhoOptions();
        Layout? create = size == 0 ? null : Layout.Compute(size, options.ScratchSize ?? Layout.DefaultScratchSize(size));
        return BootOn(ShmRegion.OpenOrCreate(path, create, timeout), create, size, options);
    }

    /// <summary><see cref="InitWait(string, ulong, TimeSpan, KhoOptions?)"/> with the path as the file system's bytes,
    /// exactly as given (no UTF-8 decoding). For the C ABI.</summary>
    /// <exception cref="KStateInvalidException">The path is empty or holds a NUL byte, or as for the string overload.</exception>
    /// <exception cref="KStateTimeoutException">As for the string overload.</exception>
    public static Kho InitWait(ReadOnlySpan<byte> path, ulong size, TimeSpan timeout, KhoOptions? options = null) =>
        InitWait(UnixPath.FromBytes(path), size, timeout, options);
}
