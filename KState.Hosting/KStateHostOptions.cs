namespace KState.Hosting;

/// <summary>Options of <see cref="KStateServiceCollectionExtensions.AddKState"/>: where the region is (exactly one of
/// <see cref="RegionPath"/>, <see cref="RegionFd"/>, <see cref="RegionFdName"/>), its size, and the time limits of
/// boot and finalize (docs/HOSTING.md).</summary>
public sealed class KStateHostOptions
{
    /// <summary>The region file, e.g. <c>/dev/shm/my-service</c>; created with <see cref="RegionSize"/> bytes when it
    /// does not exist, adopted as it is when it does.</summary>
    public string? RegionPath { get; set; }

    /// <summary>An inherited open file descriptor of the region (a memfd passed by the previous generation or a
    /// supervisor); formatted with <see cref="RegionSize"/> bytes when empty. The fd stays open.</summary>
    public int? RegionFd { get; set; }

    /// <summary>The name of the region's fd in systemd's file descriptor store (<c>LISTEN_FDS</c> /
    /// <c>LISTEN_FDNAMES</c>, <c>FileDescriptorStoreMax=</c> in the unit). When the store has no fd of that name (the
    /// first start), a memfd of <see cref="RegionSize"/> bytes is created and, when <see cref="StoreRegionFd"/> is
    /// set and <c>NOTIFY_SOCKET</c> is there, handed to the store (<c>FDSTORE=1</c>, <c>FDNAME=</c> this name).</summary>
    public string? RegionFdName { get; set; }

    /// <summary>Give a new memfd region to systemd's fd store (see <see cref="RegionFdName"/>). Default true.</summary>
    public bool StoreRegionFd { get; set; } = true;

    /// <summary>The size of a new region in bytes (a multiple of 4096). Default 64 MiB. An existing region keeps its size.</summary>
    public ulong RegionSize { get; set; } = 64 << 20;

    /// <summary>How long boot waits for the previous generation to finalize and let go of the region
    /// (<see cref="Kho.InitWait(string, ulong, TimeSpan, KhoOptions?)"/>, <see cref="RegionPath"/> only). Default
    /// zero: no wait, a region still held is an error (<see cref="KStateBusyException"/>).</summary>
    public TimeSpan WaitForPredecessor { get; set; } = TimeSpan.Zero;

    /// <summary>The longest a finalize may take when the host stops. A finalize that fails, or ends later than
    /// this, leaves no handover: the next start is cold, and the error is logged. Default 10 s; keep it below the
    /// host's <c>ShutdownTimeout</c> and systemd's <c>TimeoutStopSec=</c>.</summary>
    public TimeSpan FinalizeTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Boot options of the machine (poisoning, scratch size).</summary>
    public KhoOptions? Kho { get; set; }

    /// <summary>The version saved for the next generation in the live-update record (<see cref="KStateSessions.Version"/>);
    /// null: the entry assembly's name and version.</summary>
    public string? Version { get; set; }
}
