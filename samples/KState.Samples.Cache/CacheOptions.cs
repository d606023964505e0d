namespace KState.Samples.Cache;

/// <summary>The sample's own switches.</summary>
internal sealed class CacheOptions
{
    /// <summary>Adds a handover participant that throws: the finalize fails and the next start is cold.</summary>
    public bool FailFinalize { get; init; }

    /// <summary>Stop the service when stdin ends (false under systemd, whose stdin is /dev/null: it stops on SIGTERM).</summary>
    public bool StopAtEndOfInput { get; init; } = true;
}
