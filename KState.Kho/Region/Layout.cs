using System.Buffers.Binary;
using System.IO.Hashing;

namespace KState.Machine.Region;

/// <summary>
/// Where everything lives in a region (docs/FORMAT.md, "Region"). Every offset is derived from the region size and
/// the scratch size, so a header that does not match its own derivation is corrupt.
/// </summary>
internal sealed record Layout
{
    public const int PageShift = 12;
    public const ulong PageSize = 1UL << PageShift;
    /// <summary>Largest folio order: 2^10 pages, 4 MiB. A block of that order always fits in one map page.</summary>
    public const int MaxOrder = 10;
    public const ulong MinRegionSize = 256 * 1024;
    public const ulong MaxRegionSize = 1UL << 40;
    /// <summary>Phys address of region offset 0: fixed and non-zero, so that 0 means "none" (as in the kernel).</summary>
    public const ulong PhysBase = 0x1_0000_0000;
    public const ulong Magic = 0x3130_4F48_4B54_534B; // "KSTKHO01" little-endian
    public const uint LayoutVersion = 1;
    public const int HeaderBytes = 104;
    public const int CommitSlotOffset0 = 1024, CommitSlotOffset1 = 2048;
    /// <summary>Bytes of preserved-memory map per map page: one byte per page, so one map page covers 16 MiB.</summary>
    public const int MapPageBytes = (int)PageSize;

    public ulong RegionSize { get; init; }
    public ulong TotalPages => RegionSize >> PageShift;
    public ulong SummaryOffset { get; init; }
    public ulong SummaryBytes { get; init; }
    public ulong MapOffset { get; init; }
    public ulong MapBytes { get; init; }
    public ulong MapPages => MapBytes / PageSize;
    public ulong ScratchOffset { get; init; }
    public ulong ScratchSize { get; init; }
    public ulong DataOffset { get; init; }

    public ulong DataStartPage => DataOffset >> PageShift;
    public ulong ScratchStartPage => ScratchOffset >> PageShift;
    public ulong ScratchEndPage => (ScratchOffset + ScratchSize) >> PageShift;

    public static ulong DefaultScratchSize(ulong regionSize) =>
        Math.Clamp(regionSize / 64 & ~(PageSize - 1), 64 * 1024, 64UL << 20);

    /// <summary>Derives the layout of a region of <paramref name="regionSize"/> bytes.</summary>
    public static Layout Compute(ulong regionSize, ulong scratchSize)
    {
        if (regionSize % PageSize != 0 || regionSize < MinRegionSize || regionSize > MaxRegionSize)
            Throw.Invalid($"region size {regionSize} must be a multiple of {PageSize} between {MinRegionSize} and {MaxRegionSize}");
        if (scratchSize % PageSize != 0 || scratchSize == 0)
            Throw.Invalid($"scratch size {scratchSize} must be a non-zero multiple of {PageSize}");
        ulong pages = regionSize >> PageShift;
        ulong mapBytes = AlignUp(pages, PageSize);
        ulong summaryBytes = AlignUp((mapBytes / PageSize + 7) / 8, PageSize);
        var layout = new Layout
        {
            RegionSize = regionSize,
            SummaryOffset = PageSize,
            SummaryBytes = summaryBytes,
            MapOffset = PageSize + summaryBytes,
            MapBytes = mapBytes,
            ScratchOffset = PageSize + summaryBytes + mapBytes,
            ScratchSize = scratchSize,
            DataOffset = PageSize + summaryBytes + mapBytes + scratchSize,
        };
        if (layout.DataOffset + 16 * PageSize > regionSize)
            Throw.Invalid($"region size {regionSize} leaves no room for data after metadata and {scratchSize} bytes of scratch");
        return layout;
    }

    public static ulong AlignUp(ulong v, ulong a) => (v + a - 1) & ~(a - 1);

    /// <summary>True when phys is a page-aligned address of a naturally aligned block of 2^order pages inside the region.</summary>
    public bool IsBlock(ulong phys, int order, out ulong page)
    {
        page = 0;
        if ((uint)order > MaxOrder || phys < PhysBase || (phys & (PageSize - 1)) != 0) return false;
        page = (phys - PhysBase) >> PageShift;
        return (page & ((1UL << order) - 1)) == 0 && page + (1UL << order) <= TotalPages;
    }

    public void WriteHeader(Span<byte> h)
    {
        h[..HeaderBytes].Clear();
        BinaryPrimitives.WriteUInt32LittleEndian(h[8..], LayoutVersion);
        BinaryPrimitives.WriteUInt32LittleEndian(h[12..], PageShift);
        BinaryPrimitives.WriteUInt64LittleEndian(h[16..], RegionSize);
        BinaryPrimitives.WriteUInt64LittleEndian(h[24..], PhysBase);
        BinaryPrimitives.WriteUInt32LittleEndian(h[32..], MaxOrder);
        BinaryPrimitives.WriteUInt64LittleEndian(h[40..], SummaryOffset);
        BinaryPrimitives.WriteUInt64LittleEndian(h[48..], SummaryBytes);
        BinaryPrimitives.WriteUInt64LittleEndian(h[56..], MapOffset);
        BinaryPrimitives.WriteUInt64LittleEndian(h[64..], MapBytes);
        BinaryPrimitives.WriteUInt64LittleEndian(h[72..], ScratchOffset);
        BinaryPrimitives.WriteUInt64LittleEndian(h[80..], ScratchSize);
        BinaryPrimitives.WriteUInt64LittleEndian(h[88..], DataOffset);
        BinaryPrimitives.WriteUInt64LittleEndian(h[96..], XxHash3.HashToUInt64(h[8..96]));
        BinaryPrimitives.WriteUInt64LittleEndian(h, Magic);
    }

    /// <summary>Reads and checks a header against the file's real size.</summary>
    /// <exception cref="KStateCorruptException">The header is damaged or does not describe this file.</exception>
    public static Layout ReadHeader(ReadOnlySpan<byte> h, ulong fileSize)
    {
        // KState renames a region into place only once its header is written (ShmRegion), so a blank one is someone's data.
        if (!h[..HeaderBytes].ContainsAnyExcept((byte)0)) Throw.Corrupt("region header is blank: not a KState region (left untouched)", 0);
        if (BinaryPrimitives.ReadUInt64LittleEndian(h) != Magic) Throw.Corrupt("region header: bad magic (not a KState region)", 0);
        if (BinaryPrimitives.ReadUInt64LittleEndian(h[96..]) != XxHash3.HashToUInt64(h[8..96])) Throw.Corrupt("region header: checksum mismatch", 96);
        uint version = BinaryPrimitives.ReadUInt32LittleEndian(h[8..]);
        if (version != LayoutVersion) Throw.Corrupt($"region header: unknown layout version {version} (this build reads {LayoutVersion})", 8);
        if (BinaryPrimitives.ReadUInt32LittleEndian(h[12..]) != PageShift || BinaryPrimitives.ReadUInt32LittleEndian(h[32..]) != MaxOrder
            || BinaryPrimitives.ReadUInt64LittleEndian(h[24..]) != PhysBase)
            Throw.Corrupt("region header: page size, max order or phys base differ from this build", 12);
        ulong size = BinaryPrimitives.ReadUInt64LittleEndian(h[16..]);
        if (size != fileSize) Throw.Corrupt($"region header says {size} bytes but the file has {fileSize} (truncated or extended)", 16);
        ulong scratch = BinaryPrimitives.ReadUInt64LittleEndian(h[80..]);
        Layout expect;
        try { expect = Compute(size, scratch); }
        catch (KStateInvalidException e) { throw new KStateCorruptException("region header: " + e.Message, 16); }
        Span<byte> again = stackalloc byte[HeaderBytes];
        expect.WriteHeader(again);
        if (!again.SequenceEqual(h[..HeaderBytes])) Throw.Corrupt("region header: offsets do not match the layout derived from its size", 40);
        return expect;
    }
}
