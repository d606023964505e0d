namespace KState.Core.Records;

/// <summary>
/// The KSTATE streams of one generation on KHO: the incoming set is read from the handover's "kstate" subtree;
/// the outgoing set is completed and named in the handover when it is finalized.
/// </summary>
public sealed class KStateStreams : IKhoParticipant, IDisposable
{
    /// <summary>The KHO subtree that holds the root blob.</summary>
    public const string SubtreeName = "kstate";

    /// <summary>Attaches to <paramref name="kho"/>: loads the incoming streams (when the boot carried any) and takes
    /// part in finalize. A damaged or unknown root blob does not stop the generation: it is kept in
    /// <see cref="IncomingProblem"/> and reported by every restore.</summary>
    public KStateStreams(Kho kho)
    {
        Kho = kho;
        Memory = new KhoSegmentMemory(kho);
        Set = new StreamSet(Memory);
        try
        {
            if (kho.TryRetrieveSubtree(SubtreeName, out var root)) Set.LoadIncoming(root);
        }
        catch (Exception e) when (e is KStateCorruptException or KStateVersionException)
        {
            IncomingProblem = (KStateException)e;
        }
        kho.AddParticipant(this);
    }

    /// <summary>Why the incoming streams could not be read (a damaged or unknown root blob), or null.</summary>
    public KStateException? IncomingProblem { get; }

    /// <summary>The machine.</summary>
    public Kho Kho { get; }

    /// <summary>Segment memory in KHO folios.</summary>
    public KhoSegmentMemory Memory { get; }

    /// <summary>The streams.</summary>
    public StreamSet Set { get; }

    /// <summary>Work to do at finalize before the streams are completed (the registry saves its objects here).</summary>
    internal List<Action> BeforeComplete { get; } = [];

    /// <inheritdoc/>
    public void OnFinalize(Kho kho)
    {
        foreach (var step in BeforeComplete) step();
        var root = Set.Complete();
        try
        {
            kho.AddSubtree(SubtreeName, root);
        }
        catch
        {
            Set.ReopenAll();
            throw;
        }
    }

    /// <inheritdoc/>
    public void OnAbort(Kho kho)
    {
        kho.RemoveSubtree(SubtreeName);
        Set.ReopenAll();
    }

    /// <summary>Stops taking part in finalize.</summary>
    public void Dispose() => Kho.RemoveParticipant(this);
}
