using KState.Machine.Boot;
using KState.Machine.Handover;
using KState.Machine.Memory;
using KState.Machine.Preservation;
using KState.Machine.Region;

namespace KState;

public sealed partial class Kho
{
    private PageMap? _incoming;
    private readonly Dictionary<string, SubtreeRef> _incomingSubtrees = new(StringComparer.Ordinal);
    private byte[]? _incomingFdt;

    /// <summary>True when this boot found and ingested a committed handover (<c>is_kho_boot</c>).</summary>
    public bool IsKhoBoot { get; private set; }

    /// <summary>Generation of the handover this boot ingested (0 on a cold boot).</summary>
    public ulong BootGeneration { get; private set; }

    /// <summary>What boot found: "kho boot, generation N" or why it was cold (no handover, a damaged slot, a bad root
    /// tree...). The same text as <see cref="BootStatus"/>'s <see cref="KhoBootStatus.Reason"/>.</summary>
    public string BootReport => BootStatus.Reason;

    /// <summary>What boot found, as data (<c>kho_boot_status</c>): a first start, a handover booted, none, one
    /// consumed already, a damaged one (with the part and the region offset of the damage) or an incompatible one.</summary>
    public KhoBootStatus BootStatus { get; private set; } = new(KhoBootKind.None, 0, null, null, null, "");

    /// <summary>Number of preserved blocks the ingested handover carried.</summary>
    public int IncomingBlocks { get; private set; }

    /// <summary>The root tree's FDT bytes: the outgoing one once finalized, else the one this boot ingested (empty on a cold boot).</summary>
    public ReadOnlySpan<byte> RootFdt
    {
        get { lock (_lock) return _outgoingFdt ?? _incomingFdt ?? []; }
    }

    private void Boot()
    {
        var slots = CommitSlot.ReadBoth(_mem.At(0, PageSize), out int newest);
        var problems = new List<string>();
        for (int i = 0; i < 2; i++)
            if (slots[i].Problem is { } problem) problems.Add($"commit slot {i} damaged ({problem})");
        CommitSlot? chosen = newest < 0 ? null : slots[newest].Slot;

        string report;
        KhoBootStatus status; // its reason is the report, complete only at the end
        if (chosen is not { State: CommitState.Committed } slotToBoot)
        {
            report = chosen is null ? "cold boot: no handover" : $"cold boot: newest handover (generation {chosen.Value.Generation}) was {chosen.Value.State.ToString().ToLowerInvariant()}";
            status = BootDiagnosis.Cold(_mem.Created, slots, newest, "");
        }
        else
        {
            var check = HandoverCheck.CommitSlot;
            try
            {
                Ingest(slotToBoot, ref check);
                IsKhoBoot = true;
                BootGeneration = slotToBoot.Generation;
                report = $"kho boot: generation {slotToBoot.Generation}, {IncomingBlocks} preserved blocks, {_incomingSubtrees.Count} subtrees";
                status = new KhoBootStatus(KhoBootKind.Handover, slotToBoot.Generation, null, null, null, "");
            }
            catch (KStateCorruptException e)
            {
                ResetIncoming();
                report = $"cold boot: handover of generation {slotToBoot.Generation} rejected: {e.Message}";
                status = BootDiagnosis.Rejected(_mem, slotToBoot, check, e, ""); // before poisoning overwrites the rejected tree
            }
        }
        if (!IsKhoBoot) _memory.AddFreeRange(_layout.DataStartPage, _layout.TotalPages);
        _scratch.AddFreeRange(_layout.ScratchStartPage, _layout.ScratchEndPage);
        if (_options.Poison)
        {
            _memory.ForEachFree(Poison);
            _scratch.ForEachFree(Poison);
        }
        _options.BeforeConsume?.Invoke();
        // Consume the handover only now: a crash anywhere above leaves it for the next boot.
        if (chosen is { State: CommitState.Committed } c) (c with { State = CommitState.Consumed }).Write(SlotSpan(newest));
        _map.ClearAll();
        if (problems.Count > 0) report += "; " + string.Join("; ", problems);
        BootStatus = status with { Reason = report };
    }

    private void ResetIncoming()
    {
        _incoming = null;
        _incomingSubtrees.Clear();
        _incomingFdt = null;
        IncomingBlocks = 0;
        _memory.Reset();
    }

    /// <summary>Validates a committed handover completely, then reserves what it preserved.</summary>
    private void Ingest(CommitSlot slot, ref HandoverCheck check)
    {
        var h = HandoverValidator.Validate(_mem, _layout, _map, slot, ref check);
        BuildAllocator(h.Incoming);
        h.Incoming[h.AreaPage] = 0; // the area is KHO's own: restored here, never listed as a leak
        _memory.ClaimReserved(h.AreaPage, slot.AreaOrder);
        IncomingBlocks = h.Blocks - 1;
        _incoming = h.Incoming;
        _incomingFdt = h.Fdt;
        foreach (var s in h.Subtrees) _incomingSubtrees[s.Name] = s;
    }

    /// <summary>
    /// Free memory from the complement of the incoming map: preserved blocks are reserved, the rest is free. Runs of
    /// map chunks (16 MiB each) with nothing preserved become single free ranges, so boot costs what was preserved,
    /// not what the region holds.
    /// </summary>
    private void BuildAllocator(PageMap incoming)
    {
        ulong start = _layout.DataStartPage, end = _layout.TotalPages;
        ulong freeFrom = start;
        for (int c = (int)(start >> PageMap.ChunkShift); c < incoming.ChunkCount; c++)
        {
            if (incoming.Chunk(c) is null) continue;
            ulong chunkStart = Math.Max(start, (ulong)c << PageMap.ChunkShift);
            ulong chunkEnd = Math.Min(end, (ulong)(c + 1) << PageMap.ChunkShift);
            _memory.AddFreeRange(freeFrom, chunkStart);
            for (ulong page = chunkStart; page < chunkEnd;)
            {
                int order = BuddyAllocator.LargestOrder(page, chunkEnd - page);
                Carve(incoming, page, order);
                page += 1UL << order;
            }
            freeFrom = chunkEnd;
        }
        _memory.AddFreeRange(freeFrom, end);
    }

    private void Carve(PageMap incoming, ulong page, int order)
    {
        if (incoming.IsZero(page, 1 << order)) _memory.AddFreeRange(page, page + (1UL << order));
        else if ((incoming[page] & (PreservationMap.HeadFlag | PreservationMap.OrderMask)) == (PreservationMap.HeadFlag | order)) _memory.Reserve(page, order);
        else if (order == 0) Throw.Corrupt($"preserved-memory map: page {page} is covered but has no head", (long)(_layout.MapOffset + page));
        else
        {
            Carve(incoming, page, order - 1);
            Carve(incoming, page + (1UL << (order - 1)), order - 1);
        }
    }

    /// <summary>
    /// Takes ownership of a preserved folio (<c>kho_restore_folio</c>). Works once per folio; its order comes from
    /// the map. False when this is a cold boot, or the phys was never preserved as a block, or was already restored.
    /// </summary>
    public bool TryRestoreFolio(ulong phys, out Folio folio)
    {
        folio = default;
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_incoming is null || !IsValidBlock(phys, 0, out ulong page)) return false;
            byte head = _incoming[page];
            if ((head & PreservationMap.HeadFlag) == 0) return false;
            int order = head & PreservationMap.OrderMask;
            if (head != PreservationMap.HeadByte(order, range: false) || !_memory.IsReserved(page, order)) return false;
            Claim(page, order);
            folio = new Folio(phys, order);
            return true;
        }
    }

    /// <summary>Restores several preserved folios all or nothing (for KSTATE's restores, whose claims come last): when any
    /// of them cannot be restored (not preserved as a folio, restored already, or named twice), none is claimed and
    /// <paramref name="failed"/> names it.</summary>
    internal bool TryRestoreFolios(IReadOnlyList<ulong> phys, out ulong failed)
    {
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            failed = 0;
            var seen = new HashSet<ulong>();
            foreach (ulong p in phys)
            {
                if (seen.Add(p) && CanRestoreFolio(p, out _)) continue;
                failed = p;
                return false;
            }
            foreach (ulong p in phys)
                if (!TryRestoreFolio(p, out _)) throw new InvalidOperationException($"folio 0x{p:x} could be restored a moment ago, under the same lock"); // cannot happen
            return true;
        }
    }

    /// <summary>True when <see cref="TryRestoreFolio"/> would succeed now; gives the folio's order. Claims nothing.</summary>
    public bool CanRestoreFolio(ulong phys, out int order)
    {
        order = -1;
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_incoming is null || !IsValidBlock(phys, 0, out ulong page)) return false;
            byte head = _incoming[page];
            int o = head & PreservationMap.OrderMask;
            if (head != PreservationMap.HeadByte(o, range: false) || !_memory.IsReserved(page, o)) return false;
            order = o;
            return true;
        }
    }

    /// <summary>Restores a preserved folio; null when it cannot (see <see cref="TryRestoreFolio"/>).</summary>
    public Folio? RestoreFolio(ulong phys) => TryRestoreFolio(phys, out var f) ? f : null;

    /// <summary>
    /// Takes ownership of a range preserved with <see cref="PreservePhys"/> with the same address and size
    /// (<c>kho_restore_phys</c>); false when it was not preserved that way or was already restored. All or nothing.
    /// Reach its bytes with <see cref="PhysSpan"/> (or <see cref="DangerousPhysToVirt"/> for the C ABI).
    /// </summary>
    /// <exception cref="ObjectDisposedException">The Kho was disposed.</exception>
    public bool TryRestorePhys(ulong phys, ulong size)
    {
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_incoming is null || size == 0 || (size & (Layout.PageSize - 1)) != 0 || !IsValidBlock(phys, 0, out ulong first)
                || size >> Layout.PageShift > _layout.TotalPages - first) return false;
            // Every piece must be there, unrestored, in the same split, and the range must end where it ended.
            ulong end = first + (size >> Layout.PageShift);
            foreach (var (page, order) in new RangeSplit(first, size >> Layout.PageShift))
                if (_incoming[page] != PreservationMap.HeadByte(order, range: true, continuation: page != first) || !_memory.IsReserved(page, order))
                    return false;
            if (end < _layout.TotalPages && (_incoming[end] & PreservationMap.ContinuationFlag) != 0) return false;
            foreach (var (page, order) in new RangeSplit(first, size >> Layout.PageShift)) Claim(page, order);
            return true;
        }
    }

    private void Claim(ulong page, int order)
    {
        _incoming![page] = 0;
        _memory.ClaimReserved(page, order);
    }

    /// <summary>Frees memory restored with <see cref="TryRestorePhys"/> (same address and size), or any allocated range made of whole blocks.</summary>
    /// <exception cref="KStateInvalidException">The range is not made of allocated blocks of that split.</exception>
    /// <exception cref="KStateBusyException">Part of it is preserved.</exception>
    public void FreePhys(ulong phys, ulong size)
    {
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            ulong first = 0;
            if (size == 0 || (size & (Layout.PageSize - 1)) != 0 || !IsValidBlock(phys, 0, out first) || size >> Layout.PageShift > _layout.TotalPages - first)
                Throw.Invalid($"0x{phys:x}+{size} is not a page-aligned range of the region");
            foreach (var (page, order) in new RangeSplit(first, size >> Layout.PageShift))
            {
                if (!_memory.IsAllocated(page, order)) Throw.Invalid($"0x{phys:x}+{size}: block 0x{PhysOfPage(page):x} order {order} is not allocated");
                if (!_map.IsFree(page, order)) Throw.Busy($"0x{phys:x}+{size}: block 0x{PhysOfPage(page):x} is preserved");
            }
            foreach (var (page, order) in new RangeSplit(first, size >> Layout.PageShift))
            {
                Poison(page, order);
                _memory.Free(page, order);
            }
        }
    }

    /// <summary>Finds a subtree of the ingested handover (<c>kho_retrieve_subtree</c>); the span points into the region.</summary>
    public bool TryRetrieveSubtree(string name, out ReadOnlySpan<byte> blob)
    {
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (!_incomingSubtrees.TryGetValue(name, out var s))
            {
                blob = default;
                return false;
            }
            blob = _mem.Phys(s.Phys, (int)s.Size);
            return true;
        }
    }

    /// <summary>Finds a subtree of the ingested handover.</summary>
    /// <exception cref="KStateNotFoundException">No subtree of that name (or a cold boot).</exception>
    public ReadOnlySpan<byte> RetrieveSubtree(string name)
    {
        if (!TryRetrieveSubtree(name, out var blob)) Throw.NotFound($"no subtree named '{name}' in the handover");
        return blob;
    }

    /// <summary>Names of the ingested handover's subtrees.</summary>
    public IReadOnlyList<string> IncomingSubtreeNames
    {
        get { lock (_lock) return [.. _incomingSubtrees.Keys]; }
    }

    /// <summary>Preserved blocks of the ingested handover that were never restored (the leak report).</summary>
    public IReadOnlyList<PreservedBlock> ListUnrestored()
    {
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            return _incoming is null ? [] : PreservationMap.Blocks(_incoming);
        }
    }

    /// <summary>Releases every preserved block that was never restored back to the allocator; returns how many it released.</summary>
    /// <exception cref="ObjectDisposedException">The Kho was disposed.</exception>
    public int ReleaseUnrestored()
    {
        lock (_lock)
        {
            // Listed and released under one lock: a block restored meanwhile by another thread is neither.
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_incoming is null) return 0;
            int released = 0;
            foreach (var b in PreservationMap.Blocks(_incoming))
            {
                ulong page = PageOf(b.Phys);
                if (!_memory.IsReserved(page, b.Order)) continue;
                for (ulong p = page; p < page + (1UL << b.Order); p++) _incoming[p] = 0;
                _memory.ClaimReserved(page, b.Order);
                Poison(page, b.Order);
                _memory.Free(page, b.Order);
                released++;
            }
            return released;
        }
    }
}
