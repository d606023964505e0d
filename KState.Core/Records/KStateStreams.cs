using KState.Core.Records;
using KState.Machine.Diagnostics;

namespace KState;

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
            KStateMeter.Damaged(kho, "kstate root", IncomingProblem);
        }
        kho.AddParticipant(this);
    }

    /// <summary>Why the incoming streams could not be read (a damaged or unknown root blob), or null.</summary>
    public KStateException? IncomingProblem { get; }

    /// <summary>The machine.</summary>
    public Kho Kho { get; }

    /// <summary>Segment memory in KHO folios.</summary>
    internal KhoSegmentMemory Memory { get; }

    /// <summary>The streams.</summary>
    internal StreamSet Set { get; }

    /// <summary>Work to do at finalize before the streams are completed (sessions and the registry save here), in
    /// order; when the finalize fails or is aborted, the steps that ran are undone in reverse.</summary>
    internal List<FinalizeStep> Steps { get; } = [];

    /// <inheritdoc/>
    public void OnFinalize(Kho kho)
    {
        int ran = 0;
        try
        {
            foreach (var step in Steps)
            {
                step.Save();
                ran++;
            }
            var root = Set.Complete();
            kho.AddReservedSubtree(SubtreeName, root);
        }
        catch
        {
            Set.ReopenAll();
            for (int i = ran - 1; i >= 0; i--) Steps[i].Undo?.Invoke();
            throw;
        }
    }

    /// <inheritdoc/>
    public void OnAbort(Kho kho)
    {
        kho.RemoveSubtree(SubtreeName);
        Set.ReopenAll();
        for (int i = Steps.Count - 1; i >= 0; i--) Steps[i].Undo?.Invoke();
    }

    /// <summary>Stops taking part in finalize.</summary>
    public void Dispose() => Kho.RemoveParticipant(this);
}

/// <summary>One participant's work at finalize and, when the handover is not committed after all, its undo.</summary>
internal sealed record FinalizeStep(Action Save, Action? Undo = null, object? Owner = null);
