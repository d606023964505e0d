using System.Buffers.Binary;
using System.Text;

namespace KState.Machine.Handover;

/// <summary>
/// One node of a parsed flattened device tree. Names are unique among a node's properties and among its
/// children (the reader refuses duplicates), so the Find methods are unambiguous.
/// </summary>
internal sealed class FdtNode
{
    // Allocated on first use: most nodes are leaves, and a hostile blob may hold tens of thousands of them.
    private List<FdtProperty>? _properties;
    private List<FdtNode>? _children;
    private Dictionary<string, FdtProperty>? _propertyByName;
    private Dictionary<string, FdtNode>? _childByName;

    /// <summary>Creates an empty node; only the reader builds trees.</summary>
    internal FdtNode(string name) => Name = name;

    /// <summary>The node name (unit address included); empty for the root.</summary>
    public string Name { get; }

    /// <summary>Properties in blob order.</summary>
    public IReadOnlyList<FdtProperty> Properties => (IReadOnlyList<FdtProperty>?)_properties ?? [];

    /// <summary>Child nodes in blob order.</summary>
    public IReadOnlyList<FdtNode> Children => (IReadOnlyList<FdtNode>?)_children ?? [];

    /// <summary>The property called <paramref name="name"/>, or null.</summary>
    public FdtProperty? FindProperty(string name) => _propertyByName?.GetValueOrDefault(name);

    /// <summary>The child called <paramref name="name"/>, or null.</summary>
    public FdtNode? FindChild(string name) => _childByName?.GetValueOrDefault(name);

    /// <summary>Appends a property; false when the name is already taken.</summary>
    internal bool TryAddProperty(FdtProperty property)
    {
        _propertyByName ??= new(StringComparer.Ordinal);
        if (!_propertyByName.TryAdd(property.Name, property)) return false;
        (_properties ??= []).Add(property);
        return true;
    }

    /// <summary>Appends a child; false when the name is already taken.</summary>
    internal bool TryAddChild(FdtNode child)
    {
        _childByName ??= new(StringComparer.Ordinal);
        if (!_childByName.TryAdd(child.Name, child)) return false;
        (_children ??= []).Add(child);
        return true;
    }
}

/// <summary>One property of a parsed flattened device tree: a name and an uninterpreted value.</summary>
internal sealed class FdtProperty
{
    /// <summary>Creates a property; only the reader builds trees.</summary>
    internal FdtProperty(string name, byte[] value, long valueOffset)
    {
        Name = name;
        Value = value;
        ValueOffset = valueOffset;
    }

    /// <summary>The property name.</summary>
    public string Name { get; }

    /// <summary>The raw value bytes (a copy; the blob is not referenced).</summary>
    public byte[] Value { get; }

    /// <summary>Offset of the value inside the blob, so callers that reject a value can say where it was.</summary>
    public long ValueOffset { get; }

    /// <summary>Reads the value as one big-endian cell; false unless it is exactly 4 bytes.</summary>
    public bool TryGetU32(out uint value)
    {
        value = Value.Length == 4 ? BinaryPrimitives.ReadUInt32BigEndian(Value) : 0;
        return Value.Length == 4;
    }

    /// <summary>Reads the value as a big-endian 64-bit number (two cells); false unless it is exactly 8 bytes.</summary>
    public bool TryGetU64(out ulong value)
    {
        value = Value.Length == 8 ? BinaryPrimitives.ReadUInt64BigEndian(Value) : 0;
        return Value.Length == 8;
    }

    /// <summary>
    /// Reads the value as one string; false unless it is printable ASCII (space included) followed by exactly
    /// one NUL at the end. String lists ("a\0b\0") are refused on purpose: callers expect a single value.
    /// </summary>
    public bool TryGetString(out string value)
    {
        value = "";
        if (Value.Length == 0 || Value[^1] != 0) return false;
        ReadOnlySpan<byte> text = Value.AsSpan(0, Value.Length - 1);
        foreach (byte b in text)
            if (b is < 0x20 or > 0x7e) return false;
        value = Encoding.ASCII.GetString(text);
        return true;
    }
}
