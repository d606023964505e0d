using System.IO.Hashing;
using KState.Inspection;
using KState.Machine.Handover;
using KState.Machine.Memory;
using KState.Machine.Preservation;
using KState.Machine.Region;

namespace KState.Machine.Boot;

/// <summary>A committed handover that passed every check: its root tree, subtrees and preserved-memory map.</summary>
internal sealed record ValidatedHandover(CommitSlot Slot, ulong AreaPage, byte[] Fdt, List<SubtreeRef> Subtrees, PageMap Incoming, int Blocks);

/// <summary>
/// Checks a committed handover completely, reading only: the area and map checksums, the root tree, every map
/// byte. Boot ingests what it returns; <see cref="KhoInspector"/> shows it.
/// </summary>
internal static class HandoverValidator
{
    /// <exception cref="KStateCorruptException">Anything is wrong; the message says what and where.</exception>
    public static ValidatedHandover Validate(RegionMemory memory, Layout layout, PreservationMap map, CommitSlot slot)
    {
        var check = HandoverCheck.CommitSlot;
        return Validate(memory, layout, map, slot, ref check);
    }

    /// <summary>As <see cref="Validate(RegionMemory, Layout, PreservationMap, CommitSlot)"/>; <paramref name="check"/>
    /// names the check running when it throws (the part that is damaged).</summary>
    public static ValidatedHandover Validate(RegionMemory memory, Layout layout, PreservationMap map, CommitSlot slot, ref HandoverCheck check)
    {
        check = HandoverCheck.CommitSlot;
        if (!layout.IsBlock(slot.AreaPhys, slot.AreaOrder, out ulong areaPage) || areaPage < layout.DataStartPage)
            Throw.Corrupt($"commit: root tree area 0x{slot.AreaPhys:x} order {slot.AreaOrder} is not a block of allocatable memory");
        ulong areaSize = Layout.PageSize << slot.AreaOrder;
        if (slot.AreaBytes > areaSize || slot.FdtSize > slot.AreaBytes)
            Throw.Corrupt($"commit: area of {slot.AreaBytes} bytes with a {slot.FdtSize}-byte root tree does not fit order {slot.AreaOrder}");
        check = HandoverCheck.RootTreeArea;
        ReadOnlySpan<byte> area = memory.Pages(areaPage, slot.AreaOrder)[..(int)slot.AreaBytes];
        if (XxHash3.HashToUInt64(area) != slot.AreaChecksum) Throw.Corrupt("commit: root tree area checksum mismatch", (long)(areaPage << Layout.PageShift));
        check = HandoverCheck.Map;
        if (map.Checksum() != slot.MapChecksum) Throw.Corrupt("commit: preserved-memory map checksum mismatch", (long)layout.MapOffset);
        check = HandoverCheck.MapSummary;
        long stray = map.StraySummaryBit();
        if (stray >= 0) Throw.Corrupt($"preserved-memory map: summary bit {stray} names a map page past the end of the map", (long)layout.SummaryOffset + stray / 8);

        var fdt = area[..(int)slot.FdtSize].ToArray();
        check = HandoverCheck.RootTree;
        var subtrees = RootTree.Parse(fdt, slot.Generation, layout, slot.AreaPhys, slot.AreaBytes);

        check = HandoverCheck.Map;
        var incoming = new PageMap(layout.TotalPages);
        map.CopyTo(incoming);
        int blocks = MapValidator.Validate(incoming, layout);
        if (incoming[areaPage] != PreservationMap.HeadByte(slot.AreaOrder, range: false))
            Throw.Corrupt("commit: the root tree area is not preserved in the map", (long)(layout.MapOffset + areaPage));
        return new ValidatedHandover(slot, areaPage, fdt, subtrees, incoming, blocks);
    }
}
