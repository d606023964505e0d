namespace KState.Hosting;

/// <summary>
/// The generation this host booted, for the app's services (from dependency injection): the boot outcome, the
/// incoming sessions and the registry are there from the services' <c>StartAsync</c> on, because the region is
/// booted in <c>IHostedLifecycleService.StartingAsync</c>, before any service starts. Save state during
/// <c>StopAsync</c> (or earlier): the handover is finalized after every service has stopped.
/// </summary>
public interface IKStateHost
{
    /// <summary>True once the region is booted (from the services' <c>StartAsync</c> on).</summary>
    bool IsBooted { get; }

    /// <summary>The machine.</summary>
    /// <exception cref="InvalidOperationException">The region is not booted yet.</exception>
    Kho Kho { get; }

    /// <summary>What boot found: a first start, a handover, or why it was cold.</summary>
    /// <exception cref="InvalidOperationException">The region is not booted yet.</exception>
    KhoBootStatus BootStatus { get; }

    /// <summary>True when this boot found a handover (the state of the previous generation is there to restore).</summary>
    /// <exception cref="InvalidOperationException">The region is not booted yet.</exception>
    bool IsKhoBoot { get; }

    /// <summary>The generation's KSTATE streams.</summary>
    /// <exception cref="InvalidOperationException">The region is not booted yet.</exception>
    KStateStreams Streams { get; }

    /// <summary>Objects saved and restored by (description, instance id).</summary>
    /// <exception cref="InvalidOperationException">The region is not booted yet.</exception>
    KStateRegistry Registry { get; }

    /// <summary>Sessions: the incoming ones to retrieve, the outgoing ones saved at finalize.</summary>
    /// <exception cref="InvalidOperationException">The region is not booted yet.</exception>
    KStateSessions Sessions { get; }

    /// <summary>Live updates the state has been through (0: a cold start).</summary>
    /// <exception cref="InvalidOperationException">The region is not booted yet.</exception>
    ulong LiveUpdateCount { get; }

    /// <summary>Finalize the handover when the host stops (default true). Set false to make the next start cold
    /// (after an error that makes the state untrustworthy, for instance).</summary>
    bool HandOverOnStop { get; set; }

    /// <summary>What became of the handover when the host stopped.</summary>
    KStateHandoverState Handover { get; }
}
