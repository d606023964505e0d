using System.Buffers;
using System.Buffers.Binary;
using System.Text;

namespace KState.Machine.Handover;

/// <summary>
/// Writes a flattened device tree blob (DTB, version 17) as the kernel's KHO does. It refuses, at the call
/// that would cause it, anything <see cref="FdtReader"/> would refuse (bad names, duplicates, properties after
/// children, too deep or too large trees), so every blob it finishes parses back.
/// </summary>
/// <remarks>
/// Layout: header, the memory reservation block at offset 40 (already 8-aligned, holding only its zero
/// terminator), the structure block at 56, then the strings block; totalsize is the exact end.
/// </remarks>
internal sealed class FdtBuilder
{
    private const int MemRsvOffset = FdtReader.HeaderSize;
    private const int StructOffset = MemRsvOffset + 16;

    private readonly ArrayBufferWriter<byte> _struct = new();
    private readonly ArrayBufferWriter<byte> _strings = new();
    private readonly Dictionary<string, int> _stringOffsets = new(StringComparer.Ordinal);
    private readonly Stack<OpenNode> _open = new();
    private bool _rootClosed;
    private bool _finished;
    private int _items;

    /// <summary>Names used so far in a node that is still open, to refuse duplicates as the reader does.</summary>
    private sealed class OpenNode
    {
        public readonly HashSet<string> Properties = new(StringComparer.Ordinal);
        public readonly HashSet<string> Children = new(StringComparer.Ordinal);
    }

    /// <summary>Creates an empty builder; the first call must be <c>BeginNode("")</c> for the root.</summary>
    public FdtBuilder() { }

    /// <summary>Opens a node; <paramref name="name"/> is "" for the root and a non-empty name below it.</summary>
    public void BeginNode(string name)
    {
        EnsureNotFinished();
        EnsureRoom();
        if (_open.Count == 0)
        {
            if (_rootClosed) Throw.Invalid("A device tree has exactly one root node.");
            if (name.Length != 0) Throw.Invalid("The root node's name must be empty.");
        }
        else
        {
            CheckName(name, nameof(name));
            if (_open.Count == FdtReader.MaxDepth) Throw.Invalid($"Nodes may nest at most {FdtReader.MaxDepth} deep.");
            if (!_open.Peek().Children.Add(name)) Throw.Invalid($"Node '{name}' already exists here.");
        }
        _items++;

        WriteU32(_struct, FdtReader.TokenBeginNode);
        WriteNulTerminated(_struct, name);
        Pad4(_struct);
        _open.Push(new OpenNode());
    }

    /// <summary>Closes the innermost open node.</summary>
    public void EndNode()
    {
        EnsureNotFinished();
        if (_open.Count == 0) Throw.Invalid("EndNode without a matching BeginNode.");
        _open.Pop();
        WriteU32(_struct, FdtReader.TokenEndNode);
        if (_open.Count == 0) _rootClosed = true;
    }

    /// <summary>Adds a NUL-terminated string property; <paramref name="value"/> must be printable ASCII.</summary>
    public void PropertyString(string name, string value)
    {
        foreach (char c in value)
            if (c is < '\x20' or > '\x7e') Throw.Invalid("String property values must be printable ASCII.");
        byte[] bytes = new byte[value.Length + 1]; // the trailing zero is the terminator
        Encoding.ASCII.GetBytes(value, bytes);
        PropertyBytes(name, bytes);
    }

    /// <summary>Adds a 64-bit property as two big-endian cells, the form of KHO's physical addresses.</summary>
    public void PropertyU64(string name, ulong value)
    {
        Span<byte> bytes = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64BigEndian(bytes, value);
        PropertyBytes(name, bytes);
    }

    /// <summary>Adds a 32-bit property as one big-endian cell.</summary>
    public void PropertyU32(string name, uint value)
    {
        Span<byte> bytes = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(bytes, value);
        PropertyBytes(name, bytes);
    }

    /// <summary>Adds a property with an arbitrary (possibly empty) value.</summary>
    public void PropertyBytes(string name, ReadOnlySpan<byte> value)
    {
        EnsureNotFinished();
        if (_open.Count == 0) Throw.Invalid("A property must be inside a node.");
        CheckName(name, nameof(name));
        EnsureRoom();
        OpenNode node = _open.Peek();
        // The specification wants all of a node's properties before its first child.
        if (node.Children.Count > 0) Throw.Invalid("Properties must come before a node's children.");
        if (!node.Properties.Add(name)) Throw.Invalid($"Property '{name}' already exists in this node.");
        _items++;

        WriteU32(_struct, FdtReader.TokenProp);
        WriteU32(_struct, (uint)value.Length);
        WriteU32(_struct, (uint)NameOffset(name));
        _struct.Write(value);
        Pad4(_struct);
    }

    /// <summary>Ends the tree and returns the blob; the builder cannot be used afterwards.</summary>
    /// <exception cref="KStateInvalidException">No root node, or a node is still open.</exception>
    public byte[] Finish()
    {
        EnsureNotFinished();
        if (!_rootClosed || _open.Count != 0) Throw.Invalid("Unbalanced nodes: the root node is not closed.");
        WriteU32(_struct, FdtReader.TokenEnd);
        _finished = true;

        int stringsOffset = checked(StructOffset + _struct.WrittenCount);
        int total = checked(stringsOffset + _strings.WrittenCount);
        byte[] blob = new byte[total]; // zeroed, which is also the reservation map's terminator
        Span<byte> h = blob;
        BinaryPrimitives.WriteUInt32BigEndian(h[0..], FdtReader.Magic);
        BinaryPrimitives.WriteUInt32BigEndian(h[4..], (uint)total);
        BinaryPrimitives.WriteUInt32BigEndian(h[8..], StructOffset);
        BinaryPrimitives.WriteUInt32BigEndian(h[12..], (uint)stringsOffset);
        BinaryPrimitives.WriteUInt32BigEndian(h[16..], MemRsvOffset);
        BinaryPrimitives.WriteUInt32BigEndian(h[20..], FdtReader.Version);
        BinaryPrimitives.WriteUInt32BigEndian(h[24..], FdtReader.LastCompatibleVersion);
        BinaryPrimitives.WriteUInt32BigEndian(h[28..], 0); // boot_cpuid_phys
        BinaryPrimitives.WriteUInt32BigEndian(h[32..], (uint)_strings.WrittenCount);
        BinaryPrimitives.WriteUInt32BigEndian(h[36..], (uint)_struct.WrittenCount);
        _struct.WrittenSpan.CopyTo(blob.AsSpan(StructOffset));
        _strings.WrittenSpan.CopyTo(blob.AsSpan(stringsOffset));
        return blob;
    }

    /// <summary>Offset of <paramref name="name"/> in the strings block, adding it once on first use.</summary>
    private int NameOffset(string name)
    {
        if (!_stringOffsets.TryGetValue(name, out int offset))
        {
            offset = _strings.WrittenCount;
            WriteNulTerminated(_strings, name);
            _stringOffsets.Add(name, offset);
        }
        return offset;
    }

    /// <summary>Called before any state changes, so a call refused for size leaves the builder usable.</summary>
    private void EnsureRoom()
    {
        if (_items == FdtReader.MaxItems) Throw.Invalid($"A device tree may hold at most {FdtReader.MaxItems} nodes and properties.");
    }

    private void EnsureNotFinished()
    {
        if (_finished) Throw.Invalid("Finish has already been called.");
    }

    private static void CheckName(string name, string paramName)
    {
        if (!FdtReader.IsValidName(name))
            Throw.Invalid($"'{name}' is not a valid device tree name (1 to {FdtReader.MaxNameLength} printable ASCII characters, no spaces).");
    }

    private static void WriteU32(ArrayBufferWriter<byte> writer, uint value)
    {
        BinaryPrimitives.WriteUInt32BigEndian(writer.GetSpan(4), value);
        writer.Advance(4);
    }

    /// <summary>Writes an ASCII string (already validated) and its NUL.</summary>
    private static void WriteNulTerminated(ArrayBufferWriter<byte> writer, string text)
    {
        Span<byte> span = writer.GetSpan(text.Length + 1);
        int written = Encoding.ASCII.GetBytes(text, span);
        span[written] = 0;
        writer.Advance(written + 1);
    }

    private static void Pad4(ArrayBufferWriter<byte> writer)
    {
        int padding = -writer.WrittenCount & 3;
        if (padding == 0) return;
        writer.GetSpan(padding)[..padding].Clear(); // the buffer may not be zeroed, the padding must be
        writer.Advance(padding);
    }
}
