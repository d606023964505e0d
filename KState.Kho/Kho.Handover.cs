using System.IO.Hashing;
using KState.Machine.Diagnostics;
using KState.Machine.Handover;
using KState.Machine.Region;

namespace KState;

/// <summary>A subsystem that takes part in the handover: called before the commit of <see cref="Kho.FinalizeHandover"/>
/// (save state, add subtrees) and after <see cref="Kho.AbortHandover"/> (undo that). The kernel's KHO notifiers.</summary>
public interface IKhoParticipant
{
    /// <summary>Called by <see cref="Kho.FinalizeHandover"/> before the root tree is written. Throwing aborts the finalize.</summary>
    void OnFinalize(Kho kho);

    /// <summary>Called when a finalize is withdrawn or fails after this participant's <see cref="OnFinalize"/> ran.</summary>
    void OnAbort(Kho kho);
}

public sealed partial class Kho
{
    private readonly List<(string Name, byte[] Blob)> _subtrees = [];
    private readonly List<IKhoParticipant> _participants = [];
    private bool _finalized;
    private bool _finalizing; // participants are running: a second finalize is refused, not interleaved
    private (ulong Page, int Order) _outgoingArea;
    private int _outgoingSlot = -1;
    private byte[]? _outgoingFdt;

    /// <summary>True between <see cref="FinalizeHandover"/> and <see cref="AbortHandover"/>.</summary>
    public bool IsFinalized
    {
        get { lock (_lock) return _finalized; }
    }

    /// <summary>Adds a participant, called at every finalize and abort.</summary>
    public void AddParticipant(IKhoParticipant participant)
    {
        lock (_lock) _participants.Add(participant);
    }

    /// <summary>Removes a participant.</summary>
    public void RemoveParticipant(IKhoParticipant participant)
    {
        lock (_lock) _participants.Remove(participant);
    }

    /// <summary>Subtree names the library itself puts in the root tree ("kstate": KSTATE's stream root, see
    /// <c>KStateStreams.SubtreeName</c>). <see cref="AddSubtree"/> refuses them: a second "kstate" would make every
    /// finalize fail.</summary>
    public static IReadOnlyList<string> ReservedSubtreeNames { get; } = ["kstate"];

    /// <summary>Names a blob in the outgoing handover (<c>kho_add_subtree</c>). The bytes are copied.</summary>
    /// <exception cref="KStateExistsException">A subtree of that name exists.</exception>
    /// <exception cref="KStateInvalidException">The name is not a valid node name (1 to 63 of [A-Za-z0-9,._+-]), or is
    /// one of <see cref="ReservedSubtreeNames"/>.</exception>
    /// <exception cref="KStateBusyException">The handover is finalized.</exception>
    public void AddSubtree(string name, ReadOnlySpan<byte> blob)
    {
        if (ReservedSubtreeNames.Contains(name))
            Throw.Invalid($"subtree name '{name}' is reserved for the library (reserved: {string.Join(", ", ReservedSubtreeNames)})");
        AddSubtreeCore(name, blob);
    }

    /// <summary>Adds one of the <see cref="ReservedSubtreeNames"/>: for the library's own layers.</summary>
    internal void AddReservedSubtree(string name, ReadOnlySpan<byte> blob)
    {
        if (!ReservedSubtreeNames.Contains(name)) Throw.Invalid($"subtree name '{name}' is not reserved");
        AddSubtreeCore(name, blob);
    }

    private void AddSubtreeCore(string name, ReadOnlySpan<byte> blob)
    {
        if (!IsValidSubtreeName(name)) Throw.Invalid($"subtree name '{name}' must be 1 to 63 characters of [A-Za-z0-9,._+-]");
        if (blob.Length > PageSize << MaxOrder) Throw.Invalid($"subtree '{name}' is {blob.Length} bytes; at most {PageSize << MaxOrder}");
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_finalized) Throw.Busy($"cannot add subtree '{name}': the handover is finalized");
            foreach (var (n, _) in _subtrees)
                if (n == name) Throw.Exists($"a subtree named '{name}' already exists");
            _subtrees.Add((name, blob.ToArray()));
        }
    }

    /// <summary>Drops a subtree from the outgoing handover; false when there was none of that name.</summary>
    /// <exception cref="KStateBusyException">The handover is finalized.</exception>
    public bool RemoveSubtree(string name)
    {
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_finalized) Throw.Busy($"cannot remove subtree '{name}': the handover is finalized");
            return _subtrees.RemoveAll(s => s.Name == name) > 0;
        }
    }

    private static bool IsValidSubtreeName(string name) =>
        name.Length is >= 1 and <= 63 && name.All(c => char.IsAsciiLetterOrDigit(c) || c is ',' or '.' or '_' or '+' or '-');

    /// <summary>
    /// Finalizes the handover (<c>kho_finalize</c>): runs the participants, writes the root tree and the subtrees into
    /// preserved memory, and commits it atomically. Preserving then fails with busy until <see cref="AbortHandover"/>.
    /// </summary>
    /// <exception cref="KStateBusyException">Already finalized.</exception>
    /// <exception cref="KStateOutOfMemoryException">No memory for the root tree.</exception>
    public void FinalizeHandover()
    {
        long started = System.Diagnostics.Stopwatch.GetTimestamp();
        IKhoParticipant[] participants;
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_finalized) Throw.Busy("the handover is already finalized");
            if (_finalizing) Throw.Busy("another thread is finalizing the handover");
            _finalizing = true;
            participants = [.. _participants];
        }
        int ran = 0;
        try
        {
            foreach (var p in participants)
            {
                p.OnFinalize(this);
                ran++;
            }
            lock (_lock)
            {
                ObjectDisposedException.ThrowIf(_disposed, this);
                if (_finalized) Throw.Busy("the handover is already finalized");
                Commit();
            }
        }
        catch (Exception e)
        {
            for (int i = ran - 1; i >= 0; i--) participants[i].OnAbort(this);
            KStateMeter.FinalizeFailed(this, started, e);
            throw;
        }
        finally
        {
            lock (_lock) _finalizing = false;
        }
        ReportFinalized(started);
    }

    private void Commit()
    {
        ulong generation = NewestGeneration() + 1;
        if (generation > CommitSlot.MaxGeneration) Throw.Invalid($"generation {generation} exceeds {CommitSlot.MaxGeneration}");
        var refs = new List<SubtreeRef>(_subtrees.Count);
        foreach (var (name, blob) in _subtrees) refs.Add(new SubtreeRef(name, PhysBase, (ulong)blob.Length));
        // Phys values are fixed-width, so a tree built with placeholders has the final tree's size.
        int fdtSize = RootTree.Build(generation, _layout, refs).Length;
        ulong total = Layout.AlignUp((ulong)fdtSize, 8);
        foreach (var (_, blob) in _subtrees) total += Layout.AlignUp((ulong)blob.Length, 8);
        ulong pages = Layout.AlignUp(total, Layout.PageSize) >> Layout.PageShift;
        int order = 0;
        while ((1UL << order) < pages) order++;
        if (order > MaxOrder) Throw.Invalid($"the root tree and subtrees take {total} bytes; at most {PageSize << MaxOrder} fit in one handover");
        if (!_memory.TryAllocate(order, out ulong areaPage)) Throw.OutOfMemory($"no free folio of order {order} for the root tree");

        ulong areaPhys = PhysOfPage(areaPage);
        var area = _mem.Pages(areaPage, order);
        area.Clear();
        ulong at = Layout.AlignUp((ulong)fdtSize, 8);
        for (int i = 0; i < _subtrees.Count; i++)
        {
            refs[i] = refs[i] with { Phys = areaPhys + at };
            _subtrees[i].Blob.CopyTo(area[(int)at..]);
            at += Layout.AlignUp((ulong)_subtrees[i].Blob.Length, 8);
        }
        var fdt = RootTree.Build(generation, _layout, refs);
        fdt.CopyTo(area);
        _map.Mark(areaPage, order, range: false);

        var slot = new CommitSlot(CommitState.Committed, generation, areaPhys, total, (uint)fdtSize, order,
            XxHash3.HashToUInt64(area[..(int)total]), _map.Checksum());
        int index = NewestSlotIndex() == 0 ? 1 : 0; // never overwrite the newest slot
        slot.Write(SlotSpan(index));
        _finalized = true;
        _outgoingArea = (areaPage, order);
        _outgoingSlot = index;
        _outgoingFdt = fdt;
    }

    /// <summary>Withdraws a finalized handover (<c>kho_abort</c>) and goes on running; preserving works again.</summary>
    /// <exception cref="KStateInvalidException">The handover is not finalized.</exception>
    public void AbortHandover()
    {
        IKhoParticipant[] participants;
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (!_finalized) Throw.Invalid("the handover is not finalized; nothing to abort");
            var slot = CommitSlot.TryRead(SlotSpan(_outgoingSlot), out _);
            if (slot is { } s) (s with { State = CommitState.Aborted }).Write(SlotSpan(_outgoingSlot));
            _map.Clear(_outgoingArea.Page, _outgoingArea.Order);
            _memory.Free(_outgoingArea.Page, _outgoingArea.Order);
            _finalized = false;
            _outgoingFdt = null;
            participants = [.. _participants];
        }
        for (int i = participants.Length - 1; i >= 0; i--) participants[i].OnAbort(this);
        ReportAborted();
    }

    private Span<byte> SlotSpan(int index) => _mem.At((ulong)CommitSlot.OffsetOf(index), CommitSlot.Size);

    /// <summary>Index of the valid slot with the highest generation, or -1.</summary>
    private int NewestSlotIndex()
    {
        CommitSlot.ReadBoth(_mem.At(0, PageSize), out int newest);
        return newest;
    }

    private ulong NewestGeneration()
    {
        var slots = CommitSlot.ReadBoth(_mem.At(0, PageSize), out int newest);
        return newest < 0 ? 0 : slots[newest].Slot!.Value.Generation;
    }
}
