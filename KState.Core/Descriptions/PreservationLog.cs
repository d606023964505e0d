namespace KState;

/// <summary>
/// What the saves of one finalize preserved, so that a finalize that fails or is aborted takes all of it back (folios
/// and vmalloc areas), and the in-place memory those saves recorded: one block of in-place memory may be held by one
/// object of a handover only, since the next generation restores it once (a second object's restore could never
/// succeed, so its save is refused instead).
/// </summary>
internal sealed class PreservationLog
{
    /// <summary>Folios the saves preserved.</summary>
    public List<Folio> Folios { get; } = [];

    /// <summary>Vmalloc areas the saves preserved, with their preservation records.</summary>
    public List<(VmallocArea Area, KhoVmalloc Record)> Areas { get; } = [];

    /// <summary>First frames of the in-place memory recorded by every object saved with this log.</summary>
    public HashSet<ulong> Held { get; } = [];

    /// <summary>Unpreserves everything logged, last first, and forgets it. Best effort, as on every failure path.</summary>
    public void TakeBack(Kho? kho)
    {
        KStateDescription.UnpreserveVmallocs(kho, Areas);
        KStateDescription.Unpreserve(kho, Folios, 0);
        Held.Clear();
    }
}
