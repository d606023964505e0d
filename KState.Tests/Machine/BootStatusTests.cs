using System.IO.Hashing;
using KState;
using KState.Inspection;
using KState.Machine.Handover;
using KState.Machine.Region;
using KState.Tests.Support;

namespace KState.Tests.Machine;

/// <summary>
/// The boot outcome as data (issue 15 item 4): each kind produced for real, by a region in that state, and the same
/// outcome seen by inspection without booting.
/// </summary>
[NonParallelizable] // regions opened and closed in quick succession; see CorruptionTests
public class BootStatusTests
{
    private const ulong Size = 1 << 20;

    /// <summary>Finalizes a handover of generation 1 carrying one preserved folio; returns its generation.</summary>
    private static ulong Handover(TestRegion r)
    {
        using var kho = r.Boot(Size);
        var f = kho.AllocFolio(0);
        kho.FolioSpan(f).Fill(0x5A);
        kho.PreserveFolio(f);
        kho.FinalizeHandover();
        return 1;
    }

    private static KhoBootStatus Inspect(TestRegion r)
    {
        using var inspector = KhoInspector.Open(r.Path);
        return inspector.BootStatus;
    }

    [Test]
    public void A_region_created_by_the_boot_is_a_first_start()
    {
        using var r = new TestRegion("bootfirst");
        using var kho = r.Boot(Size);
        var s = kho.BootStatus;
        using (Assert.EnterMultipleScope())
        {
            Assert.That(s.Kind, Is.EqualTo(KhoBootKind.First));
            Assert.That(s.Generation, Is.Zero);
            Assert.That(s.Part, Is.Null);
            Assert.That(s.Offset, Is.Null);
            Assert.That(s.Error, Is.Null);
            Assert.That(s.Reason, Is.EqualTo(kho.BootReport).And.EqualTo("cold boot: no handover"));
            Assert.That(s.KindName, Is.EqualTo("first"));
        }
    }

    [Test]
    public void An_existing_region_never_finalized_boots_with_no_handover()
    {
        using var r = new TestRegion("bootnone");
        r.Boot(Size).Dispose();
        using (Assert.EnterMultipleScope())
        {
            Assert.That(Inspect(r).Kind, Is.EqualTo(KhoBootKind.None));
            using var kho = r.Boot(Size);
            Assert.That(kho.BootStatus.Kind, Is.EqualTo(KhoBootKind.None));
        }
    }

    [Test]
    public void An_aborted_handover_boots_with_no_handover_and_names_its_generation()
    {
        using var r = new TestRegion("bootabort");
        using (var kho = r.Boot(Size))
        {
            kho.FinalizeHandover();
            kho.AbortHandover();
        }
        using var next = r.Boot(Size);
        Assert.That(next.BootStatus, Is.EqualTo(new KhoBootStatus(KhoBootKind.None, 1, null, null, null, next.BootReport)));
    }

    [Test]
    public void A_committed_handover_boots_as_handover_then_is_consumed()
    {
        using var r = new TestRegion("boothandover");
        ulong generation = Handover(r);
        Assert.That(Inspect(r), Is.EqualTo(new KhoBootStatus(KhoBootKind.Handover, generation, null, null, null, "committed handover, generation 1")));
        using (var kho = r.Boot(Size))
            Assert.That(kho.BootStatus, Is.EqualTo(new KhoBootStatus(KhoBootKind.Handover, generation, null, null, null, kho.BootReport)));
        Assert.That(Inspect(r).Kind, Is.EqualTo(KhoBootKind.Consumed));
        using var again = r.Boot(Size);
        Assert.That(again.BootStatus.Kind, Is.EqualTo(KhoBootKind.Consumed));
        Assert.That(again.BootStatus.Generation, Is.EqualTo(generation));
        Assert.That(again.IsKhoBoot, Is.False);
    }

    [Test]
    public void A_crash_before_consume_leaves_the_handover_for_the_next_boot()
    {
        using var r = new TestRegion("bootcrash");
        Handover(r);
        var crash = new KhoOptions { BeforeConsume = () => throw new InvalidOperationException("crash before consume") };
        Assert.That(() => Kho.Init(r.Path, 0, crash), Throws.InvalidOperationException);
        using var kho = r.Boot(Size);
        Assert.That(kho.BootStatus.Kind, Is.EqualTo(KhoBootKind.Handover), kho.BootReport);
        Assert.That(kho.BootStatus.Generation, Is.EqualTo(1UL));
    }

    [Test]
    public void One_damaged_byte_in_the_root_tree_is_damage_in_the_root_tree_at_its_area()
    {
        using var r = new TestRegion("bootroot");
        Handover(r);
        var slot = NewestSlot(r);
        ulong area = slot.AreaPhys - Kho.PhysBase;
        FlipByte(r, area + 20);
        AssertDamaged(r, new KhoBootStatus(KhoBootKind.Damaged, 1, "root tree", area, KStateErrno.EBADMSG, ""));
    }

    [Test]
    public void One_damaged_byte_in_the_map_is_damage_in_the_map()
    {
        using var r = new TestRegion("bootmap");
        Handover(r);
        var layout = ReadLayout(r);
        var slot = NewestSlot(r);
        FlipByte(r, layout.MapOffset + ((slot.AreaPhys - Kho.PhysBase) >> Layout.PageShift));
        AssertDamaged(r, new KhoBootStatus(KhoBootKind.Damaged, 1, "map", layout.MapOffset, KStateErrno.EBADMSG, ""));
    }

    [Test]
    public void A_damaged_commit_slot_is_damage_in_that_slot()
    {
        using var r = new TestRegion("bootslot");
        Handover(r);
        int index = NewestIndex(r);
        ulong slotOffset = (ulong)(index == 0 ? Layout.CommitSlotOffset0 : Layout.CommitSlotOffset1);
        FlipByte(r, slotOffset + 9);
        AssertDamaged(r, new KhoBootStatus(KhoBootKind.Damaged, 0, $"commit slot {index}", slotOffset, KStateErrno.EBADMSG, ""));
    }

    [Test]
    public void Root_tree_damage_behind_a_valid_checksum_names_the_exact_byte()
    {
        using var r = new TestRegion("bootexact");
        Handover(r);
        var slot = NewestSlot(r);
        ulong area = slot.AreaPhys - Kho.PhysBase;
        // kho,generation = 1 as a big-endian u64: its last byte becomes 7, and the checksums are made to match.
        ulong value = ValueOffset(r, area, slot, "kho,generation");
        Reseal(r, slot, area + value + 7, 7);
        AssertDamaged(r, new KhoBootStatus(KhoBootKind.Damaged, 1, "root tree", area + value, KStateErrno.EBADMSG, ""));
    }

    [Test]
    public void A_handover_of_a_future_format_is_incompatible_not_damaged()
    {
        using var r = new TestRegion("bootfuture");
        Handover(r);
        var slot = NewestSlot(r);
        ulong area = slot.AreaPhys - Kho.PhysBase;
        ulong value = ValueOffset(r, area, slot, "compatible");
        Reseal(r, slot, area + value + 5, (byte)'2'); // "kho-v1" -> "kho-v2"
        AssertDamaged(r, new KhoBootStatus(KhoBootKind.Incompatible, 1, "root tree", area + value, KStateErrno.EBADMSG, ""));
    }

    /// <summary>Inspection and boot agree, and the boot is cold.</summary>
    private static void AssertDamaged(TestRegion r, KhoBootStatus expected)
    {
        var inspected = Inspect(r);
        Assert.That(inspected with { Reason = "" }, Is.EqualTo(expected), inspected.Reason);
        using var kho = r.Boot(Size);
        using (Assert.EnterMultipleScope())
        {
            Assert.That(kho.BootStatus with { Reason = "" }, Is.EqualTo(expected), kho.BootReport);
            Assert.That(kho.BootStatus.Reason, Is.EqualTo(kho.BootReport));
            Assert.That(kho.IsKhoBoot, Is.False);
        }
    }

    private static Layout ReadLayout(TestRegion r)
    {
        var bytes = File.ReadAllBytes(r.Path);
        return Layout.ReadHeader(bytes, (ulong)bytes.Length);
    }

    private static CommitSlot NewestSlot(TestRegion r) => ReadSlots(r, out int newest)[newest].Slot!.Value;

    private static int NewestIndex(TestRegion r)
    {
        ReadSlots(r, out int newest);
        return newest;
    }

    private static (CommitSlot? Slot, string? Problem)[] ReadSlots(TestRegion r, out int newest)
    {
        var first = new byte[Kho.PageSize];
        using (var f = File.OpenRead(r.Path)) f.ReadExactly(first);
        return CommitSlot.ReadBoth(first, out newest);
    }

    private static void FlipByte(TestRegion r, ulong offset)
    {
        using var handle = File.OpenHandle(r.Path, FileMode.Open, FileAccess.ReadWrite);
        var b = new byte[1];
        RandomAccess.Read(handle, b, (long)offset);
        b[0] ^= 0x40;
        RandomAccess.Write(handle, b, (long)offset);
    }

    /// <summary>Offset in the FDT of a root property's value, from the reader the boot uses.</summary>
    private static ulong ValueOffset(TestRegion r, ulong area, CommitSlot slot, string property)
    {
        var fdt = File.ReadAllBytes(r.Path).AsSpan((int)area, (int)slot.FdtSize);
        return (ulong)FdtReader.Parse(fdt).FindProperty(property)!.ValueOffset;
    }

    /// <summary>Writes one byte of the root tree area, then recomputes the area checksum and rewrites the commit slot,
    /// so that only the root tree's own checks can tell.</summary>
    private static void Reseal(TestRegion r, CommitSlot slot, ulong offset, byte value)
    {
        var bytes = File.ReadAllBytes(r.Path);
        bytes[offset] = value;
        ulong area = slot.AreaPhys - Kho.PhysBase;
        var sealedSlot = slot with { AreaChecksum = XxHash3.HashToUInt64(bytes.AsSpan((int)area, (int)slot.AreaBytes)) };
        int index = NewestIndex(r);
        sealedSlot.Write(bytes.AsSpan(index == 0 ? Layout.CommitSlotOffset0 : Layout.CommitSlotOffset1, CommitSlot.Size));
        using var handle = File.OpenHandle(r.Path, FileMode.Open, FileAccess.Write);
        RandomAccess.Write(handle, bytes, 0);
    }
}
