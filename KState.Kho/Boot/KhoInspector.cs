using KState.Machine.Boot;
using KState.Machine.Handover;
using KState.Machine.Memory;
using KState.Machine.Preservation;
using KState.Machine.Region;

namespace KState.Inspection;

/// <summary>A commit slot as inspection sees it.</summary>
/// <param name="Index">0 or 1.</param>
/// <param name="State">committed, consumed, aborted, empty or damaged.</param>
/// <param name="Generation">Its generation (0 when empty or damaged).</param>
/// <param name="Problem">Why it is damaged, or null.</param>
public sealed record CommitSlotInfo(int Index, string State, ulong Generation, string? Problem);

/// <summary>A subtree of the handover.</summary>
public sealed record SubtreeInfo(string Name, ulong Phys, ulong Size);

/// <summary>
/// Looks inside a region without booting it, as the kernel's KHO debugfs files do: the read-only mapping, a shared
/// lock (so a running generation makes it busy), the commit slots, and the newest committed handover checked exactly
/// as boot checks it. Nothing is written and nothing is consumed.
/// </summary>
public sealed class KhoInspector : IDisposable
{
    private readonly RegionMemory _memory;
    private readonly Layout _layout;
    private readonly ValidatedHandover? _handover;
    private readonly HashSet<ulong> _attached = [];

    private KhoInspector(RegionMemory memory, Layout layout)
    {
        _memory = memory;
        _layout = layout;
        var read = CommitSlot.ReadBoth(memory.At(0, (int)Layout.PageSize), out int newestIndex);
        var slots = new List<CommitSlotInfo>();
        for (int i = 0; i < 2; i++)
            slots.Add(read[i].Slot is { } v ? new CommitSlotInfo(i, v.State.ToString().ToLowerInvariant(), v.Generation, null)
                : new CommitSlotInfo(i, read[i].Problem is null ? "empty" : "damaged", 0, read[i].Problem));
        CommitSlot? newest = newestIndex < 0 ? null : read[newestIndex].Slot;
        Slots = slots;
        if (newest is { State: CommitState.Committed } committed)
        {
            var check = HandoverCheck.CommitSlot;
            try
            {
                _handover = HandoverValidator.Validate(memory, layout, new PreservationMap(memory, layout), committed, ref check);
                Status = $"committed handover, generation {committed.Generation}";
                BootStatus = new KhoBootStatus(KhoBootKind.Handover, committed.Generation, null, null, null, Status);
            }
            catch (KStateCorruptException e)
            {
                Problem = e;
                Status = $"handover of generation {committed.Generation} is invalid: {e.Message}";
                BootStatus = BootDiagnosis.Rejected(memory, committed, check, e, Status);
            }
        }
        else
        {
            Status = newest is null ? "no handover" : $"no handover: the newest (generation {newest.Value.Generation}) was {newest.Value.State.ToString().ToLowerInvariant()}";
            BootStatus = BootDiagnosis.Cold(false, read, newestIndex, Status);
        }
        if (_handover is null && Problem is null && slots.Find(s => s.Problem is not null) is { } damaged)
            Problem = new KStateCorruptException($"commit slot {damaged.Index} is damaged ({damaged.Problem})", CommitSlot.OffsetOf(damaged.Index));
    }

    /// <summary>Whether <paramref name="path"/> is a KState region by its first bytes (the region magic), without opening
    /// it as one: tools tell "not a region" from "a damaged region" with it. A booted region is recognized too.</summary>
    /// <exception cref="KStateException">The file cannot be opened or read.</exception>
    public static bool IsRegionFile(string path) => ShmRegion.HasRegionMagic(path);

    /// <summary>Opens a region for inspection.</summary>
    /// <exception cref="KStateNotFoundException">No such file.</exception>
    /// <exception cref="KStateBusyException">A generation has it booted.</exception>
    /// <exception cref="KStateInvalidException">A symlink, or owned by someone else, or open to group/others.</exception>
    /// <exception cref="KStateCorruptException">The region header is damaged or the file truncated.</exception>
    public static KhoInspector Open(string path) => Open(path, null);

    /// <summary>Opens a region for inspection; a region group or others may access is reported to
    /// <paramref name="sharedMode"/> (when not null) and inspected anyway, as reading it exposes nothing more.</summary>
    /// <param name="path">The region file.</param>
    /// <param name="sharedMode">Told why the region's mode is wrong; null refuses such a region.</param>
    /// <exception cref="KStateNotFoundException">No such file.</exception>
    /// <exception cref="KStateBusyException">A generation has it booted.</exception>
    /// <exception cref="KStateInvalidException">A symlink, or owned by someone else, or (without <paramref name="sharedMode"/>) open to group/others.</exception>
    /// <exception cref="KStateCorruptException">The region header is damaged or the file truncated.</exception>
    public static KhoInspector Open(string path, Action<string>? sharedMode)
    {
        var memory = new RegionMemory(ShmRegion.OpenReadOnly(path, sharedMode));
        try
        {
            var layout = Layout.ReadHeader(memory.At(0, Layout.HeaderBytes), memory.Size);
            return new KhoInspector(memory, layout);
        }
        catch
        {
            memory.Close();
            throw;
        }
    }

    /// <summary>Region size in bytes.</summary>
    public ulong RegionSize => _layout.RegionSize;

    /// <summary>Scratch area (phys, size).</summary>
    public (ulong Phys, ulong Size) Scratch => (Layout.PhysBase + _layout.ScratchOffset, _layout.ScratchSize);

    /// <summary>Allocatable memory [start, end) in phys.</summary>
    public (ulong Start, ulong End) DataRange => (Layout.PhysBase + _layout.DataOffset, Layout.PhysBase + _layout.RegionSize);

    /// <summary>Both commit slots.</summary>
    public IReadOnlyList<CommitSlotInfo> Slots { get; }

    /// <summary>What a boot of the region now would find (never <see cref="KhoBootKind.First"/>: the region exists),
    /// as data; its reason is <see cref="Status"/>.</summary>
    public KhoBootStatus BootStatus { get; }

    /// <summary>One line: what the region holds.</summary>
    public string Status { get; }

    /// <summary>What backs the region: file system and page size (<see cref="Kho.Backing"/>).</summary>
    public KhoBacking Backing => _memory.Backing;

    /// <summary>True when the newest commit is a handover that passed every check.</summary>
    public bool HasHandover => _handover is not null;

    /// <summary>Generation of the valid handover (0 when none).</summary>
    public ulong Generation => _handover?.Slot.Generation ?? 0;

    /// <summary>Why the region is not valid: a rejected handover or a damaged slot; null when it is valid.</summary>
    public KStateCorruptException? Problem { get; }

    /// <summary>The root tree's FDT bytes (empty without a valid handover).</summary>
    public ReadOnlySpan<byte> RootFdt => _handover is null ? [] : _handover.Fdt;

    /// <summary>Subtrees of the handover.</summary>
    public IReadOnlyList<SubtreeInfo> Subtrees => _handover is null ? [] : [.. _handover.Subtrees.Select(s => new SubtreeInfo(s.Name, s.Phys, s.Size))];

    /// <summary>The mapping's owner, for readers of the inspected streams (they take leases on it).</summary>
    internal RegionMemory Memory => _memory;

    /// <summary>A subtree's bytes, valid until <see cref="Dispose"/>.</summary>
    /// <exception cref="ObjectDisposedException">The inspector was disposed.</exception>
    public bool TryGetSubtree(string name, out ReadOnlySpan<byte> blob)
    {
        _memory.ThrowIfClosed();
        blob = default;
        // SubtreeRef is a struct: List.Find would give a default one, not null, for a missing name.
        int i = _handover?.Subtrees.FindIndex(x => x.Name == name) ?? -1;
        if (i < 0) return false;
        var s = _handover!.Subtrees[i];
        blob = _memory.Phys(s.Phys, (int)s.Size);
        return true;
    }

    /// <summary>Every preserved block of the handover (the root tree's own area included).</summary>
    public IReadOnlyList<PreservedBlock> PreservedBlocks => _handover is null ? [] : PreservationMap.Blocks(_handover.Incoming);

    /// <summary>
    /// A preserved folio's bytes for reading, as a restore would see them (once per phys, like a restore); false when
    /// the phys is not the head of a preserved folio of this handover. Valid until <see cref="Dispose"/>.
    /// </summary>
    /// <exception cref="ObjectDisposedException">The inspector was disposed.</exception>
    public bool TryAttachPreserved(ulong phys, out ReadOnlySpan<byte> folio)
    {
        _memory.ThrowIfClosed();
        folio = default;
        if (_handover is null || !_layout.IsBlock(phys, 0, out ulong page)) return false;
        byte head = _handover.Incoming[page];
        int order = head & PreservationMap.OrderMask;
        if (head != PreservationMap.HeadByte(order, range: false) || order > Layout.MaxOrder || !_layout.IsBlock(phys, order, out _)
            || !_attached.Add(phys)) return false;
        folio = _memory.Pages(page, order);
        return true;
    }

    /// <summary>Unmaps and unlocks (once every reader's operation in flight has ended).</summary>
    public void Dispose() => _memory.Close();
}
