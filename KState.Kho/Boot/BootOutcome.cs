using KState.Machine.Handover;
using KState.Machine.Memory;
using KState.Machine.Region;

namespace KState;

/// <summary>
/// What a boot found in its region (C: <c>enum kho_boot_kind</c>, the same values). Tells a first start from lost
/// state: only <see cref="Handover"/> restores anything; the others are cold boots, each for its own reason.
/// </summary>
public enum KhoBootKind
{
    /// <summary>The region was created by this boot: a first start (<c>KHO_BOOT_FIRST</c>).</summary>
    First = 0,

    /// <summary>A committed handover was found, validated and booted (<c>KHO_BOOT_HANDOVER</c>).</summary>
    Handover = 1,

    /// <summary>An existing region with no handover: never finalized, or the newest was aborted (<c>KHO_BOOT_NONE</c>).</summary>
    None = 2,

    /// <summary>The newest handover was already booted by an earlier generation (<c>KHO_BOOT_CONSUMED</c>).</summary>
    Consumed = 3,

    /// <summary>A handover or commit slot was there but failed validation; <see cref="KhoBootStatus.Part"/> and
    /// <see cref="KhoBootStatus.Offset"/> say where. Booted cold (<c>KHO_BOOT_DAMAGED</c>).</summary>
    Damaged = 4,

    /// <summary>A handover of a format version this library cannot read (its root tree's compatible string is not
    /// "kho-v1"). Booted cold (<c>KHO_BOOT_INCOMPATIBLE</c>).</summary>
    Incompatible = 5,

    /// <summary>Another process has the region booted: no boot happened. Only inspection and the tools report it
    /// (<see cref="Kho.Init(string, ulong, KhoOptions?)"/> throws <see cref="KStateBusyException"/> instead;
    /// <c>KHO_BOOT_BUSY</c>, never returned by <c>kho_boot_status</c>).</summary>
    Busy = 6,
}

/// <summary>
/// The outcome of a boot as data (C: <c>struct kho_boot_status</c>): see <see cref="Kho.BootStatus"/> and
/// <see cref="Inspection.KhoInspector.BootStatus"/>.
/// </summary>
/// <param name="Kind">What the boot found.</param>
/// <param name="Generation">The handover's generation (booted, consumed, aborted, rejected), 0 when there is none or
/// its commit slot is unreadable.</param>
/// <param name="Part">For <see cref="KhoBootKind.Damaged"/>: what failed ("commit slot", "root tree", "map",
/// "map summary"); for <see cref="KhoBootKind.Incompatible"/>: "root tree"; else null.</param>
/// <param name="Offset">For <see cref="KhoBootKind.Damaged"/> and <see cref="KhoBootKind.Incompatible"/>: the byte
/// offset in the region of what failed (the start of the part when a checksum, which cannot say which byte, caught
/// it); else null.</param>
/// <param name="Error">For <see cref="KhoBootKind.Damaged"/> and <see cref="KhoBootKind.Incompatible"/>: the error the
/// check gave (EBADMSG); for <see cref="KhoBootKind.Busy"/>: EBUSY; else null.</param>
/// <param name="Reason">The text the tools print (the same as <see cref="Kho.BootReport"/>).</param>
public sealed record KhoBootStatus(KhoBootKind Kind, ulong Generation, string? Part, ulong? Offset, KStateErrno? Error, string Reason)
{
    /// <summary>The status the tools report for a region another process has booted.</summary>
    public static KhoBootStatus Busy(string reason) => new(KhoBootKind.Busy, 0, null, null, KStateErrno.EBUSY, reason);

    /// <summary>The kind's name as the tools and the JSON output print it: "first", "handover", "none", "consumed",
    /// "damaged", "incompatible", "busy".</summary>
    public string KindName => Kind.ToString().ToLowerInvariant();
}

/// <summary>Which check of a committed handover was running when validation failed: where the damage is.</summary>
internal enum HandoverCheck
{
    CommitSlot,
    RootTreeArea,
    Map,
    MapSummary,
    RootTree,
}

/// <summary>Turns what boot (or inspection) found in the commit slots and the newest handover into a <see cref="KhoBootStatus"/>.</summary>
internal static class BootDiagnosis
{
    /// <summary>The outcome when no committed handover was tried: none, consumed, or a damaged commit slot.</summary>
    public static KhoBootStatus Cold(bool created, (CommitSlot? Slot, string? Problem)[] slots, int newest, string reason)
    {
        for (int i = 0; i < slots.Length; i++)
            if (slots[i].Problem is not null)
                return new KhoBootStatus(KhoBootKind.Damaged, 0, $"commit slot {i}", (ulong)CommitSlot.OffsetOf(i), KStateErrno.EBADMSG, reason);
        CommitSlot? chosen = newest < 0 ? null : slots[newest].Slot;
        if (chosen is not { } c) return new KhoBootStatus(created ? KhoBootKind.First : KhoBootKind.None, 0, null, null, null, reason);
        var kind = c.State == CommitState.Consumed ? KhoBootKind.Consumed : KhoBootKind.None;
        return new KhoBootStatus(kind, c.Generation, null, null, null, reason);
    }

    /// <summary>A committed handover that failed <paramref name="check"/>: damaged, or incompatible when its root tree
    /// is intact but names another format.</summary>
    public static KhoBootStatus Rejected(RegionMemory memory, CommitSlot slot, HandoverCheck check, KStateCorruptException e, string reason)
    {
        ulong area = slot.AreaPhys - Layout.PhysBase; // only meaningful once the commit slot's checks passed
        ulong? offset = e.Offset < 0 ? null : (ulong)e.Offset;
        (string part, offset) = check switch
        {
            HandoverCheck.CommitSlot => ("commit slot", (ulong?)null),
            HandoverCheck.RootTreeArea => ("root tree", offset ?? area),
            HandoverCheck.Map => ("map", offset),
            HandoverCheck.MapSummary => ("map summary", offset),
            _ => ("root tree", area + (offset ?? 0)), // the root tree reports offsets inside the FDT
        };
        // The root tree is checked only after the area's checksum and bounds passed, so its bytes can be read here.
        if (check == HandoverCheck.RootTree && ForeignCompatible(memory.Phys(slot.AreaPhys, (int)slot.FdtSize)) is { } foreign)
            return new KhoBootStatus(KhoBootKind.Incompatible, slot.Generation, part, foreign + area, KStateErrno.EBADMSG, reason);
        return new KhoBootStatus(KhoBootKind.Damaged, slot.Generation, part, offset, KStateErrno.EBADMSG, reason);
    }

    /// <summary>The FDT offset of the compatible string when the tree parses and names a format other than
    /// <see cref="RootTree.Compatible"/>; null otherwise (then the tree is damaged, not foreign).</summary>
    private static ulong? ForeignCompatible(ReadOnlySpan<byte> fdt)
    {
        try
        {
            var p = FdtReader.Parse(fdt).FindProperty("compatible");
            return p is not null && p.TryGetString(out var c) && c != RootTree.Compatible ? (ulong)p.ValueOffset : null;
        }
        catch (KStateCorruptException)
        {
            return null;
        }
    }
}
