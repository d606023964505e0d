using System.Buffers.Binary;
using System.Text;

namespace KState.Machine.Handover;

/// <summary>
/// Strict parser of flattened device tree blobs (DTB, version 17). The blob comes from the previous
/// kernel or process and is treated as hostile: every field is checked before it is used, all
/// arithmetic on header values is done in 64 bits, every loop advances by at least one token, and
/// any defect is reported as <see cref="KStateCorruptException"/> with the blob offset where it was found.
/// </summary>
internal static class FdtReader
{
    internal const uint Magic = 0xd00dfeed;
    internal const int HeaderSize = 40;
    internal const uint Version = 17;
    internal const uint LastCompatibleVersion = 16;

    internal const uint TokenBeginNode = 1;
    internal const uint TokenEndNode = 2;
    internal const uint TokenProp = 3;
    internal const uint TokenNop = 4;
    internal const uint TokenEnd = 9;

    /// <summary>Deepest nesting accepted, counting the root as depth 1. Handover trees are a few levels deep.</summary>
    internal const int MaxDepth = 32;

    /// <summary>Most nodes plus properties accepted, bounding the objects a hostile blob can make us allocate.</summary>
    internal const int MaxItems = 65536;

    /// <summary>Longest node or property name, in bytes (without the NUL).</summary>
    internal const int MaxNameLength = 255;

    // Header field offsets, also used as the error offset when a field is wrong.
    private const int OffTotalSize = 4, OffStruct = 8, OffStrings = 12, OffMemRsv = 16, OffVersion = 20,
        OffLastCompVersion = 24, OffSizeStrings = 32, OffSizeStruct = 36;

    /// <summary>Parses and fully validates <paramref name="blob"/>, returning the root node.</summary>
    /// <exception cref="KStateCorruptException">The blob is malformed in any way.</exception>
    public static FdtNode Parse(ReadOnlySpan<byte> blob)
    {
        if (blob.Length < HeaderSize) Throw.Corrupt($"FDT blob of {blob.Length} bytes is shorter than its header", 0);
        if (U32(blob, 0) != Magic) Throw.Corrupt("bad FDT magic", 0);

        long total = U32(blob, OffTotalSize);
        if (total < HeaderSize || total > blob.Length)
            Throw.Corrupt($"FDT totalsize {total} is outside [{HeaderSize}, {blob.Length}]", OffTotalSize);
        blob = blob[..(int)total]; // from here on nothing past totalsize is ever looked at

        if (U32(blob, OffVersion) != Version) Throw.Corrupt($"FDT version {U32(blob, OffVersion)} is not {Version}", OffVersion);
        if (U32(blob, OffLastCompVersion) > Version)
            Throw.Corrupt($"FDT last_comp_version {U32(blob, OffLastCompVersion)} is newer than {Version}", OffLastCompVersion);

        long structOff = U32(blob, OffStruct), structSize = U32(blob, OffSizeStruct);
        long stringsOff = U32(blob, OffStrings), stringsSize = U32(blob, OffSizeStrings);
        long memOff = U32(blob, OffMemRsv);
        CheckBlock("structure", structOff, structSize, total, OffStruct, OffSizeStruct);
        CheckBlock("strings", stringsOff, stringsSize, total, OffStrings, OffSizeStrings);
        if (structOff % 4 != 0) Throw.Corrupt("FDT structure block is not 4-byte aligned", OffStruct);
        if (memOff % 8 != 0 || memOff < HeaderSize || memOff > total)
            Throw.Corrupt($"FDT memory reservation block offset {memOff} is invalid", OffMemRsv);

        // The reservation map is a list of (address, size) pairs ended by a zero pair. The entries themselves
        // are of no use to a handover reader; only the terminator's presence matters.
        long memEnd = memOff;
        while (true)
        {
            if (total - memEnd < 16) Throw.Corrupt("FDT memory reservation block is not terminated", memEnd);
            bool terminator = U64(blob, (int)memEnd) == 0 && U64(blob, (int)memEnd + 8) == 0;
            memEnd += 16;
            if (terminator) break;
        }

        // Overlapping blocks would let one byte be read as two different things.
        if (Overlaps(structOff, structSize, stringsOff, stringsSize))
            Throw.Corrupt("FDT structure and strings blocks overlap", OffStrings);
        if (Overlaps(memOff, memEnd - memOff, structOff, structSize))
            Throw.Corrupt("FDT memory reservation and structure blocks overlap", OffMemRsv);
        if (Overlaps(memOff, memEnd - memOff, stringsOff, stringsSize))
            Throw.Corrupt("FDT memory reservation and strings blocks overlap", OffMemRsv);

        return ParseStructure(
            blob.Slice((int)structOff, (int)structSize), (int)structOff,
            blob.Slice((int)stringsOff, (int)stringsSize), (int)stringsOff);
    }

    /// <summary>Walks the structure block's tokens, building the tree and enforcing the nesting rules.</summary>
    private static FdtNode ParseStructure(ReadOnlySpan<byte> s, int structOff, ReadOnlySpan<byte> strings, int stringsOff)
    {
        var open = new Stack<FdtNode>();
        FdtNode? root = null;
        int items = 0;
        int pos = 0; // always a multiple of 4 and <= s.Length

        while (true)
        {
            int tokenAt = structOff + pos;
            if (s.Length - pos < 4) Throw.Corrupt("FDT structure block ends without FDT_END", tokenAt);
            uint token = U32(s, pos);
            pos += 4;

            switch (token)
            {
                case TokenBeginNode:
                {
                    if (root is not null && open.Count == 0) Throw.Corrupt("FDT has a second root node", tokenAt);
                    int nameLen = s[pos..].IndexOf((byte)0);
                    if (nameLen < 0) Throw.Corrupt("FDT node name is not terminated inside the structure block", structOff + pos);
                    ReadOnlySpan<byte> name = s.Slice(pos, nameLen);
                    if (open.Count == 0 ? nameLen != 0 : !IsValidName(name))
                        Throw.Corrupt(open.Count == 0 ? "FDT root node name is not empty" : "FDT node name is invalid", structOff + pos);
                    if (open.Count == MaxDepth) Throw.Corrupt($"FDT nodes nest deeper than {MaxDepth}", tokenAt);
                    if (++items > MaxItems) Throw.Corrupt($"FDT has more than {MaxItems} nodes and properties", tokenAt);

                    var node = new FdtNode(Encoding.ASCII.GetString(name));
                    if (root is null) root = node;
                    else if (!open.Peek().TryAddChild(node)) Throw.Corrupt($"FDT node name '{node.Name}' is duplicated", structOff + pos);
                    open.Push(node);
                    pos = Advance(pos, nameLen + 1L, s.Length, structOff);
                    break;
                }

                case TokenEndNode:
                    if (open.Count == 0) Throw.Corrupt("FDT_END_NODE without an open node", tokenAt);
                    open.Pop();
                    break;

                case TokenProp:
                {
                    if (open.Count == 0) Throw.Corrupt("FDT property outside any node", tokenAt);
                    if (s.Length - pos < 8) Throw.Corrupt("FDT property header is truncated", structOff + pos);
                    long len = U32(s, pos);
                    long nameOff = U32(s, pos + 4);
                    int valueAt = pos + 8;
                    if (len > s.Length - valueAt) Throw.Corrupt($"FDT property length {len} runs past the structure block", structOff + pos);
                    if (nameOff >= strings.Length) Throw.Corrupt($"FDT property name offset {nameOff} is outside the strings block", structOff + pos + 4);
                    int nameLen = strings[(int)nameOff..].IndexOf((byte)0);
                    if (nameLen < 0) Throw.Corrupt("FDT property name is not terminated inside the strings block", stringsOff + nameOff);
                    ReadOnlySpan<byte> name = strings.Slice((int)nameOff, nameLen);
                    if (!IsValidName(name)) Throw.Corrupt("FDT property name is invalid", stringsOff + nameOff);

                    FdtNode node = open.Peek();
                    // The specification puts all of a node's properties before its children; readers such as
                    // libfdt's property iterators rely on it, so a blob that breaks it is not a real DTB.
                    if (node.Children.Count > 0) Throw.Corrupt("FDT property follows a child node", tokenAt);
                    if (++items > MaxItems) Throw.Corrupt($"FDT has more than {MaxItems} nodes and properties", tokenAt);
                    var property = new FdtProperty(Encoding.ASCII.GetString(name), s.Slice(valueAt, (int)len).ToArray(), structOff + valueAt);
                    if (!node.TryAddProperty(property)) Throw.Corrupt($"FDT property name '{property.Name}' is duplicated", tokenAt);
                    pos = Advance(valueAt, len, s.Length, structOff);
                    break;
                }

                case TokenNop:
                    break;

                case TokenEnd:
                    if (root is null || open.Count != 0) Throw.Corrupt("FDT_END before the root node is closed", tokenAt);
                    if (pos != s.Length) Throw.Corrupt("FDT structure block has data after FDT_END", structOff + pos);
                    return root;

                default:
                    Throw.Corrupt($"FDT structure block has unknown token 0x{token:x8}", tokenAt);
                    break;
            }
        }
    }

    /// <summary>
    /// True for a node or property name: 1 to <see cref="MaxNameLength"/> visible ASCII characters. Stricter than
    /// the specification's character sets on purpose: anything visible is harmless, control bytes and non-ASCII are not.
    /// </summary>
    internal static bool IsValidName(ReadOnlySpan<byte> name)
    {
        if (name.Length is 0 or > MaxNameLength) return false;
        foreach (byte b in name)
            if (b is < 0x21 or > 0x7e) return false;
        return true;
    }

    /// <summary>The <see cref="IsValidName(ReadOnlySpan{byte})"/> rule for a string, used by the builder.</summary>
    internal static bool IsValidName(string name)
    {
        if (name.Length is 0 or > MaxNameLength) return false;
        foreach (char c in name)
            if (c is < '\x21' or > '\x7e') return false;
        return true;
    }

    /// <summary>Moves past <paramref name="length"/> bytes plus padding to the next 4-byte boundary, staying inside the block.</summary>
    private static int Advance(int pos, long length, int limit, int structOff)
    {
        long next = (pos + length + 3) & ~3L;
        if (next > limit) Throw.Corrupt("FDT padding runs past the structure block", structOff + pos);
        return (int)next;
    }

    private static void CheckBlock(string what, long offset, long size, long total, int offsetField, int sizeField)
    {
        // Every block starts at or after the header; its end is checked in 64 bits so huge values cannot wrap.
        if (offset < HeaderSize || offset > total) Throw.Corrupt($"FDT {what} block offset {offset} is outside [{HeaderSize}, {total}]", offsetField);
        if (offset + size > total) Throw.Corrupt($"FDT {what} block of {size} bytes runs past totalsize {total}", sizeField);
    }

    private static bool Overlaps(long a, long aSize, long b, long bSize) =>
        aSize > 0 && bSize > 0 && a < b + bSize && b < a + aSize;

    private static uint U32(ReadOnlySpan<byte> span, int offset) => BinaryPrimitives.ReadUInt32BigEndian(span[offset..]);

    private static ulong U64(ReadOnlySpan<byte> span, int offset) => BinaryPrimitives.ReadUInt64BigEndian(span[offset..]);
}
