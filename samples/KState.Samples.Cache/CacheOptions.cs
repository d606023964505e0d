namespace KState.Samples.Cache;

/// <summary>The sample's own switches.</summary>
internal sealed class CacheOptions
{
    /// <summary>Adds a handover participant that throws: the finalize fails and the next start is cold.</summary>
    public bool FailFinalize { get; init; }
}
