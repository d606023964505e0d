using System.Buffers.Binary;
using System.IO.Hashing;

namespace KState.Machine.Handover;

/// <summary>State of a commit slot (docs/FORMAT.md, "Commit slots").</summary>
internal enum CommitState : uint
{
    Committed = 1,
    Consumed = 2,
    Aborted = 3,
}

/// <summary>
/// One of the two commit slots. A handover appears when a slot with a higher generation and a valid checksum is
/// written; a crash mid-write leaves a slot that fails its checksum, and the other slot still stands.
/// </summary>
internal readonly record struct CommitSlot(
    CommitState State, ulong Generation, ulong AreaPhys, ulong AreaBytes, uint FdtSize, int AreaOrder,
    ulong AreaChecksum, ulong MapChecksum)
{
    public const int Size = 64;
    public const uint Magic = 0x544D_434B; // "KCMT"

    /// <summary>Generations count from 1; a slot claiming more than 2^62 is damage, so the count can never wrap.</summary>
    public const ulong MaxGeneration = 1UL << 62;

    public void Write(Span<byte> s)
    {
        s[..Size].Clear();
        BinaryPrimitives.WriteUInt32LittleEndian(s[4..], (uint)State);
        BinaryPrimitives.WriteUInt64LittleEndian(s[8..], Generation);
        BinaryPrimitives.WriteUInt64LittleEndian(s[16..], AreaPhys);
        BinaryPrimitives.WriteUInt64LittleEndian(s[24..], AreaBytes);
        BinaryPrimitives.WriteUInt32LittleEndian(s[32..], FdtSize);
        BinaryPrimitives.WriteInt32LittleEndian(s[36..], AreaOrder);
        BinaryPrimitives.WriteUInt64LittleEndian(s[40..], AreaChecksum);
        BinaryPrimitives.WriteUInt64LittleEndian(s[48..], MapChecksum);
        BinaryPrimitives.WriteUInt32LittleEndian(s, Magic);
        BinaryPrimitives.WriteUInt64LittleEndian(s[56..], XxHash3.HashToUInt64(s[..56]));
    }

    /// <summary>Offset of slot 0 or 1 in the region.</summary>
    public static int OffsetOf(int index) => index == 0 ? Region.Layout.CommitSlotOffset0 : Region.Layout.CommitSlotOffset1;

    /// <summary>Reads both slots from the region's first page; <paramref name="newest"/> is the valid one with the
    /// highest generation, or -1. Problems are null for empty or valid slots.</summary>
    public static (CommitSlot? Slot, string? Problem)[] ReadBoth(ReadOnlySpan<byte> firstPage, out int newest)
    {
        var both = new (CommitSlot?, string?)[2];
        newest = -1;
        for (int i = 0; i < 2; i++)
        {
            var slot = TryRead(firstPage.Slice(OffsetOf(i), Size), out var problem);
            both[i] = (slot, problem);
            if (slot is { } s && (newest < 0 || s.Generation > both[newest].Item1!.Value.Generation)) newest = i;
        }
        return both;
    }

    /// <summary>Reads a slot; null with a reason when it is empty or damaged.</summary>
    public static CommitSlot? TryRead(ReadOnlySpan<byte> s, out string? problem)
    {
        problem = null;
        if (!s[..Size].ContainsAnyExcept((byte)0)) return null;
        if (BinaryPrimitives.ReadUInt32LittleEndian(s) != Magic) { problem = "bad magic"; return null; }
        if (BinaryPrimitives.ReadUInt64LittleEndian(s[56..]) != XxHash3.HashToUInt64(s[..56])) { problem = "checksum mismatch"; return null; }
        var state = (CommitState)BinaryPrimitives.ReadUInt32LittleEndian(s[4..]);
        ulong generation = BinaryPrimitives.ReadUInt64LittleEndian(s[8..]);
        if (generation is 0 or > MaxGeneration) { problem = $"generation {generation} out of range"; return null; }
        if (state is not (CommitState.Committed or CommitState.Consumed or CommitState.Aborted)) { problem = $"unknown state {(uint)state}"; return null; }
        return new CommitSlot(state,
            BinaryPrimitives.ReadUInt64LittleEndian(s[8..]),
            BinaryPrimitives.ReadUInt64LittleEndian(s[16..]),
            BinaryPrimitives.ReadUInt64LittleEndian(s[24..]),
            BinaryPrimitives.ReadUInt32LittleEndian(s[32..]),
            BinaryPrimitives.ReadInt32LittleEndian(s[36..]),
            BinaryPrimitives.ReadUInt64LittleEndian(s[40..]),
            BinaryPrimitives.ReadUInt64LittleEndian(s[48..]));
    }
}
