namespace KState.Hosting;

/// <summary>What became of the handover when the host stopped (<see cref="IKStateHost.Handover"/>).</summary>
public enum KStateHandoverState
{
    /// <summary>The host has not stopped yet (or never booted the region).</summary>
    Pending = 0,

    /// <summary>Finalized in time: the next generation boots on this one's state.</summary>
    Committed = 1,

    /// <summary>The finalize failed (logged); nothing was committed: the next start is cold.</summary>
    Failed = 2,

    /// <summary>The finalize took longer than <see cref="KStateHostOptions.FinalizeTimeout"/> (logged); what it
    /// committed was withdrawn: the next start is cold.</summary>
    TimedOut = 3,

    /// <summary><see cref="IKStateHost.HandOverOnStop"/> was false: no finalize, the next start is cold.</summary>
    Skipped = 4,
}
