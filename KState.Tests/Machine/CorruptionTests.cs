using System.Buffers.Binary;
using System.IO.Hashing;
using System.Text;
using KState;
using KState.Machine.Handover;
using KState.Machine.Preservation;
using KState.Machine.Region;
using KState.Tests.Support;

namespace KState.Tests.Machine;

/// <summary>
/// A finalized region damaged between generations (the file is written directly while no generation has it booted).
/// Every kind of damage is reported (BootReport says what, IsKhoBoot is false) and the boot is cold; nothing
/// crashes; and the region stays usable: the generation that booted on the damage can hand over again. Where a
/// check sits behind a checksum, the checksum is recomputed so that the deeper validation is what catches it.
/// </summary>
// Not in parallel with other fixtures: some of them start child processes, and a child that has forked but not yet
// exec'd holds a copy of every open descriptor, a region's flock included, so a region this fixture has just closed
// can look "booted by another process" for a moment. These fixtures open and close regions thousands of times.
[NonParallelizable]
public class CorruptionTests
{
    private const ulong RegionSize = 512 << 10;
    private const int Newest = 1, Older = 0;
    private const ulong Page = (ulong)Kho.PageSize;

    // ---- commit slots ----

    [Test]
    public void A_bit_flip_in_any_byte_of_the_newest_commit_slot_boots_cold_and_says_why()
    {
        using var r = new TestRegion("corrupt");
        var h = PrepareHandover(r);
        var clean = RegionImage.Load(r.Path);
        for (int offset = 0; offset < CommitSlot.Size; offset++)
        {
            var img = clean.Copy();
            img.SlotBytes(Newest)[offset] ^= (byte)(1 << (offset % 8));
            img.Save();

            string what = $"slot 1 byte {offset} bit {offset % 8}:";
            using var kho = r.Boot(RegionSize);
            AssertColdBoot(kho, h, "commit slot 1 damaged", what);
            Assert.That(kho.BootReport, Does.Contain(offset < 4 ? "bad magic" : "checksum mismatch"), what);
            AssertStaysUsable(r, kho, what);
        }
    }

    [Test]
    public void A_bit_flip_in_any_byte_of_the_older_commit_slot_still_boots_the_handover()
    {
        using var r = new TestRegion("corrupt");
        var h = PrepareHandover(r);
        var clean = RegionImage.Load(r.Path);
        for (int offset = 0; offset < CommitSlot.Size; offset++)
        {
            var img = clean.Copy();
            img.SlotBytes(Older)[offset] ^= (byte)(1 << (offset % 8));
            img.Save();

            string what = $"slot 0 byte {offset} bit {offset % 8}:";
            using var kho = r.Boot(RegionSize);
            AssertHandoverRestores(kho, h, what);
            Assert.That(kho.BootReport, Does.StartWith("kho boot: generation 2").And.Contain("commit slot 0 damaged"), what);
            AssertStaysUsable(r, kho, what);
        }
    }

    [Test]
    public void Both_commit_slots_damaged_boot_cold_and_name_both()
    {
        using var r = new TestRegion("corrupt");
        var h = PrepareHandover(r);
        var img = RegionImage.Load(r.Path);
        img.SlotBytes(Older)[9] ^= 0x10;
        img.SlotBytes(Newest)[0] ^= 0x01;
        img.Save();

        using var kho = r.Boot(RegionSize);
        AssertColdBoot(kho, h, "no handover");
        using (Assert.EnterMultipleScope())
        {
            Assert.That(kho.BootReport, Does.Contain("commit slot 0 damaged (checksum mismatch)"));
            Assert.That(kho.BootReport, Does.Contain("commit slot 1 damaged (bad magic)"));
        }
        AssertStaysUsable(r, kho);
    }

    [TestCase(0u)]
    [TestCase(4u)]
    [TestCase(0x8000_0001u)]
    [TestCase(0xFFFF_FFFFu)]
    public void A_commit_slot_with_an_unknown_state_boots_cold_and_says_why(uint state)
    {
        using var r = new TestRegion("corrupt");
        var h = PrepareHandover(r);
        var img = RegionImage.Load(r.Path);
        img.WriteSlot(Newest, img.Slot(Newest) with { State = (CommitState)state });
        img.Save();

        using var kho = r.Boot(RegionSize);
        AssertColdBoot(kho, h, $"commit slot 1 damaged (unknown state {state})");
        AssertStaysUsable(r, kho);
    }

    /// <summary>Fields of a commit slot set out of range; the slot's own checksum is valid.</summary>
    public enum SlotDamage
    {
        AreaPhysZero,
        AreaPhysBelowTheRegion,
        AreaPhysAtTheEndOfTheRegion,
        AreaPhysFarOutsideTheRegion,
        AreaPhysNotPageAligned,
        AreaPhysMisalignedForItsOrder,
        AreaPhysInTheHeaderPage,
        AreaPhysInTheMap,
        AreaPhysInScratch,
        AreaOrderAboveMaxOrder,
        AreaOrderNegative,
        AreaOrderMinValue,
        AreaBytesLargerThanTheArea,
        AreaBytesHuge,
        FdtSizeLargerThanAreaBytes,
        FdtSizeHuge,
    }

    [Test]
    public void A_commit_slot_field_out_of_range_boots_cold_and_says_why([Values] SlotDamage damage)
    {
        using var r = new TestRegion("corrupt");
        var h = PrepareHandover(r);
        var img = RegionImage.Load(r.Path);
        var s = img.Slot(Newest);
        var layout = img.Layout;
        ulong areaPage = img.PageOf(s.AreaPhys);
        s = damage switch
        {
            SlotDamage.AreaPhysZero => s with { AreaPhys = 0 },
            SlotDamage.AreaPhysBelowTheRegion => s with { AreaPhys = Kho.PhysBase - Page },
            SlotDamage.AreaPhysAtTheEndOfTheRegion => s with { AreaPhys = Kho.PhysBase + RegionSize },
            SlotDamage.AreaPhysFarOutsideTheRegion => s with { AreaPhys = ulong.MaxValue & ~(Page - 1) },
            SlotDamage.AreaPhysNotPageAligned => s with { AreaPhys = s.AreaPhys + 8 },
            SlotDamage.AreaPhysMisalignedForItsOrder => s with { AreaPhys = Kho.PhysBase + (areaPage | 1) * Page, AreaOrder = 1 },
            SlotDamage.AreaPhysInTheHeaderPage => s with { AreaPhys = Kho.PhysBase },
            SlotDamage.AreaPhysInTheMap => s with { AreaPhys = Kho.PhysBase + layout.MapOffset },
            SlotDamage.AreaPhysInScratch => s with { AreaPhys = Kho.PhysBase + layout.ScratchOffset },
            SlotDamage.AreaOrderAboveMaxOrder => s with { AreaOrder = Kho.MaxOrder + 1 },
            SlotDamage.AreaOrderNegative => s with { AreaOrder = -1 },
            SlotDamage.AreaOrderMinValue => s with { AreaOrder = int.MinValue },
            SlotDamage.AreaBytesLargerThanTheArea => s with { AreaBytes = (Page << s.AreaOrder) + 1 },
            SlotDamage.AreaBytesHuge => s with { AreaBytes = ulong.MaxValue },
            SlotDamage.FdtSizeLargerThanAreaBytes => s with { FdtSize = (uint)s.AreaBytes + 1 },
            SlotDamage.FdtSizeHuge => s with { FdtSize = uint.MaxValue },
            _ => throw new ArgumentOutOfRangeException(nameof(damage)),
        };
        img.WriteSlot(Newest, s);
        img.Save();

        using var kho = r.Boot(RegionSize);
        // The enum lists where the area is before how big it is.
        string why = damage < SlotDamage.AreaBytesLargerThanTheArea ? "is not a block of allocatable memory" : "does not fit order";
        AssertColdBoot(kho, h, "rejected: commit: ");
        Assert.That(kho.BootReport, Does.Contain(why));
        AssertStaysUsable(r, kho);
    }

    [Test]
    public void A_commit_slot_generation_that_differs_from_the_root_tree_s_boots_cold_and_says_why()
    {
        using var r = new TestRegion("corrupt");
        var h = PrepareHandover(r);
        var img = RegionImage.Load(r.Path);
        img.WriteSlot(Newest, img.Slot(Newest) with { Generation = 7 });
        img.Save();

        using var kho = r.Boot(RegionSize);
        AssertColdBoot(kho, h, "kho,generation is missing or differs from the commit slot");
        AssertStaysUsable(r, kho);
    }

    [Test]
    public void A_consumed_slot_with_the_largest_generation_does_not_block_later_handovers()
    {
        using var r = new TestRegion("corrupt");
        var h = PrepareHandover(r);
        var img = RegionImage.Load(r.Path);
        img.WriteSlot(Newest, img.Slot(Newest) with { Generation = ulong.MaxValue, State = CommitState.Consumed });
        img.Save();

        using var kho = r.Boot(RegionSize);
        AssertColdBoot(kho, h, "was consumed");
        AssertStaysUsable(r, kho);
    }

    // ---- root tree area ----

    [Test]
    public void A_flipped_byte_in_the_root_tree_area_is_a_checksum_mismatch([Values(0, 30, 60, 99)] int percent)
    {
        using var r = new TestRegion("corrupt");
        var h = PrepareHandover(r);
        var img = RegionImage.Load(r.Path);
        var s = img.Slot(Newest);
        var area = img.Area(s);
        area[(int)((ulong)area.Length * (ulong)percent / 100)] ^= 0x04;
        img.Save();

        using var kho = r.Boot(RegionSize);
        AssertColdBoot(kho, h, "root tree area checksum mismatch");
        AssertStaysUsable(r, kho);
    }

    /// <summary>Damage to the root tree (and the subtrees behind it); the area checksum is recomputed.</summary>
    public enum TreeDamage
    {
        BadFdtMagic,
        CompatibleIsKhoV2,
        NoCompatibleProperty,
        TotalSizeHuge,
        TotalSizeBelowTheHeader,
        StructureSizeHuge,
        StringsOffsetHuge,
        PropertyLengthHuge,
        PropertyNameOffsetHuge,
        FdtSizeCutsTheTree,
        GenerationInTheTreeDiffers,
        MapPropertyDiffers,
        SubtreePastTheArea,
        SubtreeBeforeTheArea,
        SubtreeOutsideTheRegion,
        SubtreeAtPhysZero,
        SubtreeSizeHuge,
        AreaBytesCutOffTheSubtree,
    }

    [Test]
    public void A_damaged_root_tree_behind_a_valid_checksum_boots_cold_and_says_why([Values] TreeDamage damage)
    {
        using var r = new TestRegion("corrupt");
        var h = PrepareHandover(r);
        var img = RegionImage.Load(r.Path);
        var s = img.Slot(Newest);
        var fdt = img.Fdt(s);
        var root = FdtReader.Parse(fdt);
        var compatible = root.FindProperty("compatible")!;
        var subtree = root.FindChild("acme-fw")!;
        int compatibleAt = (int)compatible.ValueOffset;
        string why;
        switch (damage)
        {
            case TreeDamage.BadFdtMagic:
                fdt[0] ^= 0x01;
                why = "bad FDT magic";
                break;
            case TreeDamage.CompatibleIsKhoV2:
                Assert.That(Encoding.ASCII.GetString(fdt.Slice(compatibleAt, 7)), Is.EqualTo("kho-v1\0"));
                fdt[compatibleAt + 5] = (byte)'2';
                why = "compatible is \"kho-v2\"";
                break;
            case TreeDamage.NoCompatibleProperty:
                // The name lives in the strings block; renaming it removes the property.
                int name = fdt.IndexOf("compatible\0"u8);
                Assert.That(name, Is.GreaterThan(0));
                fdt[name + 9] = (byte)'f';
                why = "no compatible string";
                break;
            case TreeDamage.TotalSizeHuge:
                BinaryPrimitives.WriteUInt32BigEndian(fdt[4..], 0xFFFF_FF00);
                why = "FDT totalsize";
                break;
            case TreeDamage.TotalSizeBelowTheHeader:
                BinaryPrimitives.WriteUInt32BigEndian(fdt[4..], 12);
                why = "FDT totalsize";
                break;
            case TreeDamage.StructureSizeHuge:
                BinaryPrimitives.WriteUInt32BigEndian(fdt[36..], 0x7FFF_FFF0);
                why = "FDT structure block";
                break;
            case TreeDamage.StringsOffsetHuge:
                BinaryPrimitives.WriteUInt32BigEndian(fdt[12..], 0xFFFF_FFF0);
                why = "FDT strings block offset";
                break;
            case TreeDamage.PropertyLengthHuge:
                // A property is FDT_PROP, len, nameoff, then the value.
                Assert.That(BinaryPrimitives.ReadUInt32BigEndian(fdt[(compatibleAt - 12)..]), Is.EqualTo(3u), "FDT_PROP");
                BinaryPrimitives.WriteUInt32BigEndian(fdt[(compatibleAt - 8)..], 0x7FFF_FFF0);
                why = "FDT property length";
                break;
            case TreeDamage.PropertyNameOffsetHuge:
                BinaryPrimitives.WriteUInt32BigEndian(fdt[(compatibleAt - 4)..], 0x7FFF_FFF0);
                why = "FDT property name offset";
                break;
            case TreeDamage.FdtSizeCutsTheTree:
                s = s with { FdtSize = s.FdtSize - 8 };
                why = "FDT totalsize";
                break;
            case TreeDamage.GenerationInTheTreeDiffers:
                int gen = (int)root.FindProperty("kho,generation")!.ValueOffset;
                BinaryPrimitives.WriteUInt64BigEndian(fdt[gen..], s.Generation + 1);
                why = "kho,generation is missing or differs from the commit slot";
                break;
            case TreeDamage.MapPropertyDiffers:
                int map = (int)root.FindProperty("preserved-memory-map")!.ValueOffset;
                fdt[map + 15] ^= 0x10; // summary bytes
                why = "preserved-memory-map is missing or does not match";
                break;
            case TreeDamage.SubtreePastTheArea:
                SetU64(fdt, subtree, "phys", s.AreaPhys + s.AreaBytes);
                why = "lies outside the handover area";
                break;
            case TreeDamage.SubtreeBeforeTheArea:
                SetU64(fdt, subtree, "phys", s.AreaPhys - Page);
                why = "lies outside the handover area";
                break;
            case TreeDamage.SubtreeOutsideTheRegion:
                SetU64(fdt, subtree, "phys", Kho.PhysBase + RegionSize + Page);
                why = "lies outside the handover area";
                break;
            case TreeDamage.SubtreeAtPhysZero:
                SetU64(fdt, subtree, "phys", 0);
                why = "lies outside the handover area";
                break;
            case TreeDamage.SubtreeSizeHuge:
                SetU64(fdt, subtree, "size", ulong.MaxValue);
                why = "lies outside the handover area";
                break;
            case TreeDamage.AreaBytesCutOffTheSubtree:
                s = s with { AreaBytes = (s.FdtSize + 7UL) & ~7UL };
                why = "lies outside the handover area";
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(damage));
        }
        img.WriteSlot(Newest, s with { AreaChecksum = img.AreaChecksum(s) });
        img.Save();

        using var kho = r.Boot(RegionSize);
        AssertColdBoot(kho, h, "rejected: ");
        Assert.That(kho.BootReport, Does.Contain(why));
        AssertStaysUsable(r, kho);
    }

    private static void SetU64(Span<byte> fdt, FdtNode node, string property, ulong value) =>
        BinaryPrimitives.WriteUInt64BigEndian(fdt[(int)node.FindProperty(property)!.ValueOffset..], value);

    // ---- preserved-memory map ----

    /// <summary>Damage to the preserved-memory map; the map checksum in the commit slot is recomputed.</summary>
    public enum MapDamage
    {
        TailWithoutHead,
        HeadMissingFromAFolio,
        DamagedTail,
        OrderAboveMaxOrder,
        OrderFifteen,
        MisalignedHead,
        BlockInTheHeaderPage,
        BlockInTheMapPages,
        BlockInScratch,
        BlockPastTheEndOfTheRegion,
        ContinuationWithoutARange,
        RangeContinuationAfterAGap,
        AreaNotPreserved,
        AreaPreservedAsARange,
    }

    [Test]
    public void A_damaged_map_behind_a_valid_checksum_boots_cold_and_says_why([Values] MapDamage damage)
    {
        using var r = new TestRegion("corrupt");
        var h = PrepareHandover(r);
        var img = RegionImage.Load(r.Path);
        var s = img.Slot(Newest);
        var layout = img.Layout;
        var map = img.Map;
        var order2 = h.Folios.Single(f => f.Folio.Order == 2).Folio;
        int folioPage = (int)img.PageOf(order2.Phys), areaPage = (int)img.PageOf(s.AreaPhys);
        int free = img.FreePage(odd: false), odd = img.FreePage(odd: true);
        string why;
        switch (damage)
        {
            case MapDamage.TailWithoutHead:
                map[free] = PreservationMap.TailByte;
                why = $"byte 0x40 for page {free} is not a block head";
                break;
            case MapDamage.HeadMissingFromAFolio:
                map[folioPage] = 0;
                why = $"for page {folioPage + 1} is not a block head";
                break;
            case MapDamage.DamagedTail:
                map[folioPage + 2] = 0;
                why = $"block of order 2 at page {folioPage} has a damaged tail";
                break;
            case MapDamage.OrderAboveMaxOrder:
                map[free] = (byte)(PreservationMap.HeadFlag | (Kho.MaxOrder + 1));
                why = $"order {Kho.MaxOrder + 1} at page {free} exceeds {Kho.MaxOrder}";
                break;
            case MapDamage.OrderFifteen:
                map[free] = PreservationMap.HeadFlag | 15;
                why = "order 15";
                break;
            case MapDamage.MisalignedHead:
                map[odd] = PreservationMap.HeadByte(1, range: false);
                map[odd + 1] = PreservationMap.TailByte;
                why = $"block of order 1 at page {odd} is not naturally aligned";
                break;
            case MapDamage.BlockInTheHeaderPage:
                map[0] = PreservationMap.HeadByte(0, range: false);
                why = "block at page 0 lies outside allocatable memory";
                break;
            case MapDamage.BlockInTheMapPages:
                map[(int)(layout.MapOffset / Page)] = PreservationMap.HeadByte(0, range: false);
                why = "lies outside allocatable memory";
                break;
            case MapDamage.BlockInScratch:
                int inScratch = ((int)layout.ScratchStartPage + 1) & ~1;
                map[inScratch] = PreservationMap.HeadByte(1, range: false);
                map[inScratch + 1] = PreservationMap.TailByte;
                why = "lies outside allocatable memory";
                break;
            case MapDamage.BlockPastTheEndOfTheRegion:
                Assert.That(layout.TotalPages, Is.LessThan((ulong)map.Length));
                map[(int)layout.TotalPages] = PreservationMap.HeadByte(0, range: false);
                why = $"block at page {layout.TotalPages} lies outside allocatable memory";
                break;
            case MapDamage.ContinuationWithoutARange:
                map[free] = PreservationMap.HeadFlag | PreservationMap.ContinuationFlag;
                why = "continues no range";
                break;
            case MapDamage.RangeContinuationAfterAGap:
                map[free] = PreservationMap.HeadByte(0, range: true, continuation: true);
                why = "continues no range";
                break;
            case MapDamage.AreaNotPreserved:
                map.Slice(areaPage, 1 << s.AreaOrder).Clear();
                why = "the root tree area is not preserved in the map";
                break;
            case MapDamage.AreaPreservedAsARange:
                map[areaPage] = PreservationMap.HeadByte(s.AreaOrder, range: true);
                why = "the root tree area is not preserved in the map";
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(damage));
        }
        img.WriteSlot(Newest, s with { MapChecksum = img.MapChecksum() });
        img.Save();

        using var kho = r.Boot(RegionSize);
        AssertColdBoot(kho, h, "rejected: ");
        Assert.That(kho.BootReport, Does.Contain(why));
        AssertStaysUsable(r, kho);
    }

    [Test]
    public void A_summary_bit_past_the_end_of_the_map_boots_cold_and_says_why()
    {
        using var r = new TestRegion("corrupt");
        var h = PrepareHandover(r);
        var img = RegionImage.Load(r.Path);
        Assert.That(img.Layout.MapPages, Is.EqualTo(1UL));
        img.Summary[0] |= 0x02; // map page 1: the map has one page
        img.Reseal(Newest, area: false);
        img.Save();

        using var kho = r.Boot(RegionSize);
        AssertColdBoot(kho, h, "preserved-memory map");
        AssertStaysUsable(r, kho);
    }

    /// <summary>Map damage left as it is: the map checksum catches it.</summary>
    public enum UnsealedMapDamage
    {
        FolioHeadFlipped,
        HeadOnAFreePage,
        TailByteCleared,
        SummaryBitPastTheEndSet,
        SummaryBitOfAnUnusedMapPageSet,
    }

    [Test]
    public void A_damaged_map_without_a_matching_checksum_boots_cold_and_says_why([Values] UnsealedMapDamage damage)
    {
        using var r = new TestRegion("corrupt");
        var h = PrepareHandover(r);
        var img = RegionImage.Load(r.Path);
        var map = img.Map;
        var order2 = h.Folios.Single(f => f.Folio.Order == 2).Folio;
        int folioPage = (int)img.PageOf(order2.Phys);
        switch (damage)
        {
            case UnsealedMapDamage.FolioHeadFlipped: map[folioPage] ^= 0x01; break;
            case UnsealedMapDamage.HeadOnAFreePage: map[img.FreePage(odd: false)] = PreservationMap.HeadByte(0, range: false); break;
            case UnsealedMapDamage.TailByteCleared: map[folioPage + 3] = 0; break;
            case UnsealedMapDamage.SummaryBitPastTheEndSet: img.Summary[0] |= 0x08; break;
            case UnsealedMapDamage.SummaryBitOfAnUnusedMapPageSet: img.Summary[^1] |= 0x80; break;
            default: throw new ArgumentOutOfRangeException(nameof(damage));
        }
        img.Save();

        using var kho = r.Boot(RegionSize);
        AssertColdBoot(kho, h, "preserved-memory map checksum mismatch");
        AssertStaysUsable(r, kho);
    }

    // Three ways to leave non-zero map bytes outside the pages the summary lists. Boot trusts those pages to be zero
    // (it copies and clears only listed pages), so the stale bytes outlive the boot and resurface as "already
    // preserved" memory, or in a later handover's map, as soon as something is preserved in those 16 MiB.

    [Test]
    public void A_cold_boot_after_a_damaged_map_summary_leaves_no_stale_preservations()
    {
        using var r = new TestRegion("corrupt");
        var h = PrepareHandover(r);
        var img = RegionImage.Load(r.Path);
        Assert.That(img.Summary[0] & 1, Is.EqualTo(1));
        img.Summary[0] &= 0xFE; // map page 0 is no longer listed: checksum mismatch
        img.Save();

        using var kho = r.Boot(RegionSize);
        AssertColdBoot(kho, h, "preserved-memory map checksum mismatch");
        using (Assert.EnterMultipleScope())
        {
            foreach (var (f, _) in h.Folios) Assert.That(kho.IsPreserved(f), Is.False, $"{f} preserved in a cold boot");
        }
        AssertStaysUsable(r, kho);
    }

    [Test]
    public void Damage_in_a_map_page_the_handover_does_not_use_does_not_outlive_the_boot()
    {
        const ulong size = 64 << 20; // four map pages
        using var r = new TestRegion("corrupt");
        var h = PrepareHandover(r, size);
        var img = RegionImage.Load(r.Path);
        int unused = Enumerable.Range(0, (int)img.Layout.MapPages).First(p => (img.Summary[p >> 3] & (1 << (p & 7))) == 0);
        int page = unused * Layout.MapPageBytes + 64;
        img.Map[page] = PreservationMap.HeadByte(0, range: false);
        img.Save();

        using var kho = r.Boot(size);
        AssertHandoverRestores(kho, h); // not part of the handover: the boot is right to ignore it
        Assert.That(kho.IsPreserved(new Folio(Kho.PhysBase + (ulong)page * Page, 0)), Is.False, "stale mark");
        AssertStaysUsable(r, kho);
    }

    [Test]
    public void A_wiped_region_header_is_refused_and_the_file_left_untouched()
    {
        using var r = new TestRegion("corrupt");
        PrepareHandover(r);
        var img = RegionImage.Load(r.Path);
        img.Bytes.AsSpan(0, Layout.HeaderBytes).Clear();
        img.Save();
        var before = File.ReadAllBytes(r.Path);

        // A new region only appears at its path with its header written, so a blank header is not ours to format.
        var e = Assert.Throws<KStateCorruptException>(() => r.Boot(RegionSize).Dispose());
        Assert.That(e!.Message, Does.Contain("not a KState region"));
        Assert.That(File.ReadAllBytes(r.Path), Is.EqualTo(before));
    }

    // ---- region header and file size ----

    [Test]
    public void A_flipped_bit_in_any_byte_of_the_region_header_is_reported_as_corrupt()
    {
        using var r = new TestRegion("corrupt");
        var h = PrepareHandover(r);
        var img = RegionImage.Load(r.Path);
        var before = File.ReadAllBytes(r.Path);
        for (int offset = 0; offset < Layout.HeaderBytes; offset++)
        {
            byte bit = (byte)(1 << (offset % 8));
            img.Bytes[offset] ^= bit;
            img.Save();
            string what = $"header byte {offset} bit {offset % 8}";
            Assert.Throws<KStateCorruptException>(() => Kho.Init(r.Path, 0).Dispose(), what);
            Assert.Throws<KStateCorruptException>(() => Kho.Init(r.Path, RegionSize).Dispose(), what);
            img.Bytes[offset] ^= bit;
            img.Save();
        }

        // The refused boots touched nothing: with the header repaired, the handover is all there.
        Assert.That(File.ReadAllBytes(r.Path).AsSpan().SequenceEqual(before), Is.True, "a refused boot changed the region");
        using var kho = r.Boot(RegionSize);
        AssertHandoverRestores(kho, h);
    }

    [TestCase(RegionSize / 2)]
    [TestCase(RegionSize - Page)]
    [TestCase(RegionSize - 1)]
    [TestCase(Page)]
    [TestCase(100UL)]
    [TestCase(8UL)]
    [TestCase(0UL)]
    [TestCase(RegionSize + Page)]
    public void A_truncated_or_extended_region_is_reported_as_corrupt(ulong length)
    {
        using var r = new TestRegion("corrupt");
        PrepareHandover(r);
        using (var f = new FileStream(r.Path, FileMode.Open)) f.SetLength((long)length);
        Assert.Throws<KStateCorruptException>(() => Kho.Init(r.Path, 0).Dispose());
        Assert.That(new FileInfo(r.Path).Length, Is.EqualTo((long)length), "the refused boot left the file as it was");
    }

    [Test]
    public void A_truncated_region_booted_with_its_usual_size_is_reported_as_corrupt()
    {
        using var r = new TestRegion("corrupt");
        PrepareHandover(r);
        using (var f = new FileStream(r.Path, FileMode.Open)) f.SetLength((long)(RegionSize / 2));
        Assert.Throws<KStateCorruptException>(() => Kho.Init(r.Path, RegionSize).Dispose());
    }

    // ---- randomized sweep ----

    [Test]
    public void Random_damage_to_a_finalized_region_boots_the_handover_intact_or_boots_cold() =>
        Sweep(300, Seed(fallback: 20_251_101), checkUsable: false);

    [Test]
    [Category("Stress")]
    public void Stress_random_damage_to_a_finalized_region_boots_the_handover_intact_or_boots_cold() =>
        Sweep(20_000, Seed(fallback: Random.Shared.Next()), checkUsable: false);

    [Test]
    public void Random_damage_to_a_finalized_region_leaves_the_region_usable() =>
        Sweep(300, Seed(fallback: 20_251_101), checkUsable: true);

    private static int Seed(int fallback) =>
        int.TryParse(Environment.GetEnvironmentVariable("KSTATE_TEST_SEED"), out int seed) ? seed : fallback;

    /// <summary>
    /// Flips 1-8 random bytes of the metadata pages (header excluded), the commit slots or the root tree area, half
    /// of the cases as they are and half with the slot's checksums recomputed afterwards, then boots. The boot must
    /// either be a kho boot that restores everything intact, or a cold boot with a report; only Init may throw, and
    /// only KStateCorruptException. Without re-sealing, the outcome is exact: cold exactly when a byte that a
    /// checksum guards was changed.
    /// </summary>
    private static void Sweep(int cases, int seed, bool checkUsable)
    {
        TestContext.Out.WriteLine($"seed {seed}, {cases} cases (rerun with KSTATE_TEST_SEED={seed})");
        using var r = new TestRegion("sweep");
        var h = PrepareHandover(r, RegionSize, seed);
        var clean = RegionImage.Load(r.Path);
        var slot = clean.Slot(Newest);
        var layout = clean.Layout;
        bool[] guarded = clean.GuardedBytes(Newest);
        var work = new RegionImage(r.Path, new byte[clean.Bytes.Length], layout);
        ulong lastUsedPage = h.Folios.Select(f => clean.PageOf(f.Folio.Phys) + f.Folio.Pages)
            .Append(clean.PageOf(h.RangePhys + h.RangeSize)).Append(clean.PageOf(slot.AreaPhys) + 1).Max();
        var rng = new Random(seed);
        int khoBoots = 0, coldBoots = 0, refused = 0;
        for (int c = 0; c < cases; c++)
        {
            clean.Bytes.CopyTo(work.Bytes, 0);
            bool reseal = rng.Next(2) == 0;
            int flips = rng.Next(1, 9);
            var at = new List<int>(flips);
            for (int i = 0; i < flips; i++)
            {
                int offset = PickSweepOffset(rng, layout, slot, lastUsedPage);
                work.Bytes[offset] ^= (byte)rng.Next(1, 256);
                at.Add(offset);
            }
            var changed = at.Distinct().Where(o => work.Bytes[o] != clean.Bytes[o]).Order().ToList();
            bool hitGuarded = changed.Any(o => guarded[o]);
            string what = $"case {c} (seed {seed}, {(reseal ? "re-sealed" : "as is")}), changed: "
                + string.Join(", ", changed.Select(o => $"{clean.Describe(o)} {clean.Bytes[o]:x2}->{work.Bytes[o]:x2}"));
            if (reseal) work.ResealRaw(Newest);
            work.Save();

            Kho kho;
            try
            {
                kho = r.Boot(RegionSize);
            }
            catch (KStateCorruptException)
            {
                refused++;
                continue;
            }
            catch (Exception e)
            {
                Assert.Fail($"{what}: Init threw {e}");
                return;
            }
            using (kho)
            {
                try
                {
                    if (kho.IsKhoBoot) khoBoots++;
                    else coldBoots++;
                    CheckSweepBoot(kho, h, clean, changed, hitGuarded, reseal, what);
                    if (checkUsable) AssertStaysUsable(r, kho, what);
                }
                catch (Exception e) when (e is not AssertionException)
                {
                    Assert.Fail($"{what}: {e}");
                }
            }
        }
        TestContext.Out.WriteLine($"{khoBoots} kho boots, {coldBoots} cold boots, {refused} refused by Init");
    }

    private static int PickSweepOffset(Random rng, Layout layout, CommitSlot slot, ulong lastUsedPage)
    {
        int areaOffset = (int)(slot.AreaPhys - Kho.PhysBase);
        switch (rng.Next(3))
        {
            case 0: // metadata pages, header excluded
                switch (rng.Next(4))
                {
                    case 0: return rng.Next(Layout.HeaderBytes, Kho.PageSize); // rest of the header page, slots included
                    case 1: return (int)layout.SummaryOffset + (rng.Next(2) == 0 ? rng.Next(8) : rng.Next((int)layout.SummaryBytes));
                    case 2:
                        return (int)layout.MapOffset + (rng.Next(2) == 0
                            ? rng.Next((int)layout.DataStartPage - 1, (int)lastUsedPage + 2)
                            : rng.Next((int)layout.MapBytes));
                    default: return (int)layout.ScratchOffset + rng.Next((int)layout.ScratchSize);
                }
            case 1: // commit slots
                return (rng.Next(2) == 0 ? Layout.CommitSlotOffset0 : Layout.CommitSlotOffset1) + rng.Next(CommitSlot.Size);
            default: // root tree area: mostly what the slot covers, sometimes the rest of the block
                return areaOffset + (rng.Next(4) != 0 ? rng.Next((int)slot.AreaBytes) : rng.Next(Kho.PageSize << slot.AreaOrder));
        }
    }

    private static void CheckSweepBoot(Kho kho, Handover h, RegionImage clean, List<int> changed, bool hitGuarded, bool reseal, string what)
    {
        if (!hitGuarded) Assert.That(kho.IsKhoBoot, Is.True, $"{what}: nothing guarded changed, yet: {kho.BootReport}");
        if (!reseal && hitGuarded) Assert.That(kho.IsKhoBoot, Is.False, $"{what}: damage went unnoticed: {kho.BootReport}");
        if (!kho.IsKhoBoot)
        {
            Assert.That(kho.BootReport, Does.StartWith("cold boot: "), what);
            if (!reseal) Assert.That(kho.BootReport, Does.Contain("damaged").Or.Contain("rejected"), what);
            Assert.That(h.Folios.Any(f => kho.TryRestoreFolio(f.Folio.Phys, out _)), Is.False, $"{what}: restored on a cold boot");
            Assert.That(kho.ListUnrestored(), Is.Empty, what);
            return;
        }
        Assert.That(kho.BootReport, Does.StartWith("kho boot: generation 2"), what);
        if (!reseal)
        {
            AssertHandoverRestores(kho, h, what);
            return;
        }
        // Re-sealed damage may be a map that is well formed but says something else: whatever it no longer
        // describes need not restore, but everything that does restore must be intact.
        var changedPages = changed.Where(o => clean.IsMapByte(o)).Select(o => (ulong)o - clean.Layout.MapOffset).ToHashSet();
        foreach (var (f, hash) in h.Folios)
        {
            ulong first = clean.PageOf(f.Phys);
            bool untouched = !changedPages.Any(p => p >= first && p < first + f.Pages);
            bool restored = kho.TryRestoreFolio(f.Phys, out var got);
            if (untouched) Assert.That(restored, Is.True, $"{what}: {f} did not restore");
            if (restored)
            {
                Assert.That(got, Is.EqualTo(f), what);
                Assert.That(XxHash3.HashToUInt64(kho.FolioSpan(got)), Is.EqualTo(hash), $"{what}: {f} contents");
            }
        }
        ulong rangeFirst = clean.PageOf(h.RangePhys), rangeEnd = rangeFirst + h.RangeSize / Page;
        bool rangeUntouched = !changedPages.Any(p => p >= rangeFirst && p <= rangeEnd); // the page after it says where it ends
        bool rangeRestored = RestoreRange(kho, h.RangePhys, h.RangeSize);
        if (rangeUntouched) Assert.That(rangeRestored, Is.True, $"{what}: the range did not restore");
        if (rangeRestored)
            Assert.That(XxHash3.HashToUInt64(kho.PhysSpan(h.RangePhys, (int)h.RangeSize)), Is.EqualTo(h.RangeHash), $"{what}: range contents");
        kho.ReleaseUnrestored();
    }

    // ---- the scenario and its checks ----

    /// <summary>What generation 2 handed over, with contents hashed before the finalize.</summary>
    private sealed record Handover(List<(Folio Folio, ulong Hash)> Folios, ulong RangePhys, ulong RangeSize, ulong RangeHash, byte[] Subtree);

    /// <summary>
    /// Generation 1 hands over nothing and generation 2 consumes it, so both commit slots are in use; generation 2
    /// then preserves folios of several orders, a range of two pieces inside an unpreserved folio and a subtree, and
    /// finalizes. The handover under test is in slot 1; slot 0 holds generation 1, consumed.
    /// </summary>
    private static Handover PrepareHandover(TestRegion r, ulong size = RegionSize, int seed = 1)
    {
        using (var first = r.Boot(size)) first.FinalizeHandover();
        var rng = new Random(seed);
        using var kho = r.Boot(size);
        Assert.That(kho.IsKhoBoot, Is.True, kho.BootReport);
        var folios = new List<(Folio, ulong)>();
        foreach (int order in (int[])[0, 2, 1, 3, 0])
        {
            var f = kho.AllocFolio(order);
            rng.NextBytes(kho.FolioSpan(f));
            kho.PreserveFolio(f);
            folios.Add((f, XxHash3.HashToUInt64(kho.FolioSpan(f))));
        }
        var holder = kho.AllocFolio(2);
        rng.NextBytes(kho.FolioSpan(holder));
        ulong rangePhys = holder.Phys + Page, rangeSize = 3 * Page; // pages 1..3 of the folio: two pieces
        kho.PreservePhys(rangePhys, rangeSize);
        var subtree = new byte[100];
        rng.NextBytes(subtree);
        kho.AddSubtree("acme-fw", subtree);
        kho.FinalizeHandover();
        var handover = new Handover(folios, rangePhys, rangeSize, XxHash3.HashToUInt64(kho.PhysSpan(rangePhys, (int)rangeSize)), subtree);
        kho.Dispose();

        var img = RegionImage.Load(r.Path);
        Assert.That(img.Slot(Newest).State, Is.EqualTo(CommitState.Committed));
        Assert.That(img.Slot(Newest).Generation, Is.EqualTo(2UL));
        Assert.That(img.Slot(Older).State, Is.EqualTo(CommitState.Consumed));
        return handover;
    }

    private static bool RestoreRange(Kho kho, ulong phys, ulong size) => kho.TryRestorePhys(phys, size);

    private static void AssertHandoverRestores(Kho kho, Handover h, string what = "")
    {
        Assert.That(kho.IsKhoBoot, Is.True, $"{what} {kho.BootReport}");
        using (Assert.EnterMultipleScope())
        {
            Assert.That(kho.BootGeneration, Is.EqualTo(2UL), what);
            Assert.That(kho.IncomingBlocks, Is.EqualTo(h.Folios.Count + 2), what);
            foreach (var (f, hash) in h.Folios)
            {
                bool restored = kho.TryRestoreFolio(f.Phys, out var got);
                Assert.That(restored, Is.True, $"{what} {f} restores");
                if (restored)
                {
                    Assert.That(got, Is.EqualTo(f), what);
                    Assert.That(XxHash3.HashToUInt64(kho.FolioSpan(got)), Is.EqualTo(hash), $"{what} {f} contents");
                }
            }
            bool rangeRestored = RestoreRange(kho, h.RangePhys, h.RangeSize);
            Assert.That(rangeRestored, Is.True, $"{what} the range restores");
            if (rangeRestored)
                Assert.That(XxHash3.HashToUInt64(kho.PhysSpan(h.RangePhys, (int)h.RangeSize)), Is.EqualTo(h.RangeHash), $"{what} range contents");
            Assert.That(kho.TryRetrieveSubtree("acme-fw", out var blob), Is.True, what);
            Assert.That(blob.ToArray(), Is.EqualTo(h.Subtree), what);
            Assert.That(kho.ListUnrestored(), Is.Empty, what);
        }
    }

    private static void AssertColdBoot(Kho kho, Handover h, string why, string what = "")
    {
        using (Assert.EnterMultipleScope())
        {
            Assert.That(kho.IsKhoBoot, Is.False, $"{what} {kho.BootReport}");
            Assert.That(kho.BootGeneration, Is.Zero, what);
            Assert.That(kho.BootReport, Does.StartWith("cold boot: "), what);
            Assert.That(kho.BootReport, Does.Contain(why), what);
            Assert.That(h.Folios.Where(f => kho.TryRestoreFolio(f.Folio.Phys, out _)), Is.Empty, $"{what} restored on a cold boot");
            Assert.That(RestoreRange(kho, h.RangePhys, h.RangeSize), Is.False, $"{what} range restored on a cold boot");
            Assert.That(kho.IncomingSubtreeNames, Is.Empty, what);
            Assert.That(kho.ListUnrestored(), Is.Empty, what);
            Assert.That(kho.RootFdt.Length, Is.Zero, what);
        }
    }

    /// <summary>
    /// The generation that booted on the damage takes every page it can get, preserves all but one (room for the
    /// root tree) and hands them over (disposing <paramref name="kho"/>): the next boot must restore exactly those,
    /// intact. Memory that the damage left marked as preserved shows up here.
    /// </summary>
    private static void AssertStaysUsable(TestRegion r, Kho kho, string what = "")
    {
        ulong size = kho.RegionSize;
        var mine = new List<Folio>();
        while (kho.TryAllocFolio(0, out var f)) mine.Add(f);
        Assert.That(mine, Is.Not.Empty, $"{what} no memory after the damaged boot");
        kho.PutFolio(mine[^1]);
        mine.RemoveAt(mine.Count - 1);
        mine.Sort((a, b) => a.Phys.CompareTo(b.Phys));
        foreach (var f in mine)
        {
            kho.FolioSpan(f).Fill(Stamp(f));
            try
            {
                kho.PreserveFolio(f);
            }
            catch (KStateException e)
            {
                Assert.Fail($"{what} after the damaged boot, {f} cannot be preserved: {e.Message}");
            }
        }
        kho.FinalizeHandover();
        kho.Dispose();

        using var next = r.Boot(size);
        Assert.That(next.IsKhoBoot, Is.True, $"{what} the handover after the damage did not boot: {next.BootReport}");
        Assert.That(next.ListUnrestored(), Is.EqualTo(mine.Select(f => new PreservedBlock(f.Phys, 0, false)).ToList()), what);
        foreach (var f in mine)
        {
            Assert.That(next.TryRestoreFolio(f.Phys, out var got), Is.True, $"{what} {f}");
            if (next.FolioSpan(got).ContainsAnyExcept(Stamp(f))) Assert.Fail($"{what} {f}: contents differ after the handover");
        }
    }

    private static byte Stamp(Folio f) => (byte)((f.Phys >> 12) | 1);

    /// <summary>
    /// A region file's bytes, read and written while no generation has it booted (an open Kho holds an exclusive
    /// flock; .NET's own file handles take shared ones, so this never keeps a handle open).
    /// </summary>
    private sealed class RegionImage(string path, byte[] bytes, Layout layout)
    {
        public byte[] Bytes { get; } = bytes;
        public Layout Layout { get; } = layout;

        public RegionImage Copy() => new(path, (byte[])Bytes.Clone(), Layout);

        public static RegionImage Load(string path)
        {
            var bytes = File.ReadAllBytes(path);
            return new RegionImage(path, bytes, Layout.ReadHeader(bytes, (ulong)bytes.Length));
        }

        public void Save()
        {
            using var handle = File.OpenHandle(path, FileMode.Open, FileAccess.Write);
            RandomAccess.Write(handle, Bytes, 0);
        }

        private static int SlotOffset(int index) => index == 0 ? Layout.CommitSlotOffset0 : Layout.CommitSlotOffset1;

        public Span<byte> SlotBytes(int index) => Bytes.AsSpan(SlotOffset(index), CommitSlot.Size);

        public CommitSlot Slot(int index) =>
            CommitSlot.TryRead(SlotBytes(index), out var problem) ?? throw new AssertionException($"commit slot {index}: {problem ?? "empty"}");

        public void WriteSlot(int index, CommitSlot slot) => slot.Write(SlotBytes(index));

        public ulong PageOf(ulong phys) => (phys - Kho.PhysBase) >> Layout.PageShift;

        public Span<byte> Phys(ulong phys, int length) => Bytes.AsSpan(checked((int)(phys - Kho.PhysBase)), length);

        public Span<byte> Area(CommitSlot s) => Phys(s.AreaPhys, (int)s.AreaBytes);

        public Span<byte> Fdt(CommitSlot s) => Phys(s.AreaPhys, (int)s.FdtSize);

        public Span<byte> Summary => Bytes.AsSpan((int)Layout.SummaryOffset, (int)Layout.SummaryBytes);

        /// <summary>One byte per page of the region, indexed by page.</summary>
        public Span<byte> Map => Bytes.AsSpan((int)Layout.MapOffset, (int)Layout.MapBytes);

        public bool IsMapByte(int offset) => (ulong)offset >= Layout.MapOffset && (ulong)offset < Layout.MapOffset + Layout.MapBytes;

        public ulong AreaChecksum(CommitSlot s) => XxHash3.HashToUInt64(Area(s));

        /// <summary>The map checksum as FORMAT defines it: XxHash3 of the summary, then of each map page whose
        /// summary bit is set, in order (a bit for a page past the map adds nothing).</summary>
        public ulong MapChecksum()
        {
            var hash = new XxHash3();
            var summary = Summary;
            hash.Append(summary);
            for (int i = 0; i < summary.Length; i++)
                for (int bit = 0; bit < 8; bit++)
                {
                    ulong p = (ulong)i * 8 + (ulong)bit;
                    if ((summary[i] & (1 << bit)) != 0 && p < Layout.MapPages)
                        hash.Append(Map.Slice((int)(p * Page), Layout.MapPageBytes));
                }
            return hash.GetCurrentHashAsUInt64();
        }

        public void Reseal(int index, bool area = true, bool map = true)
        {
            var s = Slot(index);
            WriteSlot(index, s with { AreaChecksum = area ? AreaChecksum(s) : s.AreaChecksum, MapChecksum = map ? MapChecksum() : s.MapChecksum });
        }

        /// <summary>Recomputes a slot's checksums from its raw fields, however damaged (magic included).</summary>
        public void ResealRaw(int index)
        {
            var b = SlotBytes(index);
            var s = new CommitSlot(
                (CommitState)BinaryPrimitives.ReadUInt32LittleEndian(b[4..]),
                BinaryPrimitives.ReadUInt64LittleEndian(b[8..]),
                BinaryPrimitives.ReadUInt64LittleEndian(b[16..]),
                BinaryPrimitives.ReadUInt64LittleEndian(b[24..]),
                BinaryPrimitives.ReadUInt32LittleEndian(b[32..]),
                BinaryPrimitives.ReadInt32LittleEndian(b[36..]),
                BinaryPrimitives.ReadUInt64LittleEndian(b[40..]),
                BinaryPrimitives.ReadUInt64LittleEndian(b[48..]));
            ulong length = (ulong)Bytes.Length, offset = s.AreaPhys - Kho.PhysBase;
            if (s.AreaPhys >= Kho.PhysBase && offset <= length && s.AreaBytes <= length - offset)
                s = s with { AreaChecksum = XxHash3.HashToUInt64(Bytes.AsSpan((int)offset, (int)s.AreaBytes)) };
            (s with { MapChecksum = MapChecksum() }).Write(b);
        }

        /// <summary>Bytes that a checksum of the handover in slot <paramref name="index"/> guards.</summary>
        public bool[] GuardedBytes(int index)
        {
            var guarded = new bool[Bytes.Length];
            var s = Slot(index);
            guarded.AsSpan(SlotOffset(index), CommitSlot.Size).Fill(true);
            guarded.AsSpan((int)Layout.SummaryOffset, (int)Layout.SummaryBytes).Fill(true);
            for (ulong p = 0; p < Layout.MapPages; p++)
                if ((Summary[(int)(p >> 3)] & (1 << (int)(p & 7))) != 0)
                    guarded.AsSpan((int)(Layout.MapOffset + p * Page), Layout.MapPageBytes).Fill(true);
            guarded.AsSpan((int)(s.AreaPhys - Kho.PhysBase), (int)s.AreaBytes).Fill(true);
            return guarded;
        }

        /// <summary>A data page that nothing preserves (odd: an odd one whose successor is free too).</summary>
        public int FreePage(bool odd)
        {
            var map = Map;
            for (int p = (int)Layout.DataStartPage; p + 1 < (int)Layout.TotalPages; p++)
                if (map[p] == 0 && (!odd || (p % 2 == 1 && map[p + 1] == 0))) return p;
            throw new AssertionException("no free page in the map");
        }

        public string Describe(int offset)
        {
            ulong o = (ulong)offset;
            if (offset is >= Layout.CommitSlotOffset0 and < Layout.CommitSlotOffset0 + CommitSlot.Size) return $"slot0+{offset - Layout.CommitSlotOffset0}";
            if (offset is >= Layout.CommitSlotOffset1 and < Layout.CommitSlotOffset1 + CommitSlot.Size) return $"slot1+{offset - Layout.CommitSlotOffset1}";
            if (o < Layout.SummaryOffset) return $"page0+{offset}";
            if (o < Layout.MapOffset) return $"summary+{o - Layout.SummaryOffset}";
            if (o < Layout.ScratchOffset) return $"map[{o - Layout.MapOffset}]";
            if (o < Layout.DataOffset) return $"scratch+{o - Layout.ScratchOffset}";
            return $"phys 0x{Kho.PhysBase + o:x}";
        }
    }
}
