using System.Buffers.Binary;
using KState.Machine.Region;

namespace KState.Machine.Handover;

/// <summary>A subtree as the root tree names it: a blob of <see cref="Size"/> bytes at <see cref="Phys"/>.</summary>
internal readonly record struct SubtreeRef(string Name, ulong Phys, ulong Size);

/// <summary>
/// The root tree of a handover, an FDT (docs/FORMAT.md, "Root tree"):
/// <c>/ { compatible = "kho-v1"; kho,generation; preserved-memory-map; scratch; NAME { phys; size; }... }</c>.
/// </summary>
internal static class RootTree
{
    public const string Compatible = "kho-v1";

    public static byte[] Build(ulong generation, Layout layout, IReadOnlyList<SubtreeRef> subtrees)
    {
        var b = new FdtBuilder();
        b.BeginNode("");
        b.PropertyString("compatible", Compatible);
        b.PropertyU64("kho,generation", generation);
        b.PropertyBytes("preserved-memory-map", MapProperty(layout));
        Span<byte> scratch = stackalloc byte[16];
        BinaryPrimitives.WriteUInt64BigEndian(scratch, Layout.PhysBase + layout.ScratchOffset);
        BinaryPrimitives.WriteUInt64BigEndian(scratch[8..], layout.ScratchSize);
        b.PropertyBytes("scratch", scratch);
        foreach (var s in subtrees)
        {
            b.BeginNode(s.Name);
            b.PropertyU64("phys", s.Phys);
            b.PropertyU64("size", s.Size);
            b.EndNode();
        }
        b.EndNode();
        return b.Finish();
    }

    /// <summary>&lt;summary phys, summary bytes, map phys, map bytes&gt;, each a big-endian u64.</summary>
    private static byte[] MapProperty(Layout layout)
    {
        var v = new byte[32];
        BinaryPrimitives.WriteUInt64BigEndian(v, Layout.PhysBase + layout.SummaryOffset);
        BinaryPrimitives.WriteUInt64BigEndian(v.AsSpan(8), layout.SummaryBytes);
        BinaryPrimitives.WriteUInt64BigEndian(v.AsSpan(16), Layout.PhysBase + layout.MapOffset);
        BinaryPrimitives.WriteUInt64BigEndian(v.AsSpan(24), layout.MapBytes);
        return v;
    }

    /// <summary>Parses and checks a root tree; every subtree must lie inside [areaPhys, areaPhys + areaBytes).</summary>
    /// <exception cref="KStateCorruptException">Anything about it is wrong.</exception>
    public static List<SubtreeRef> Parse(ReadOnlySpan<byte> fdt, ulong generation, Layout layout, ulong areaPhys, ulong areaBytes)
    {
        var root = FdtReader.Parse(fdt);
        var compat = root.FindProperty("compatible");
        string? c = null;
        if (compat is null || !compat.TryGetString(out c)) Throw.Corrupt("root tree: no compatible string", 0);
        if (c != Compatible) Throw.Corrupt($"root tree: compatible is \"{c}\", this build reads \"{Compatible}\"", compat.ValueOffset);
        var gen = root.FindProperty("kho,generation");
        if (gen is null || !gen.TryGetU64(out var g) || g != generation)
            Throw.Corrupt("root tree: kho,generation is missing or differs from the commit slot", gen?.ValueOffset ?? 0);
        var map = root.FindProperty("preserved-memory-map");
        if (map is null || !map.Value.AsSpan().SequenceEqual(MapProperty(layout)))
            Throw.Corrupt("root tree: preserved-memory-map is missing or does not match the region layout", map?.ValueOffset ?? 0);
        var list = new List<SubtreeRef>(root.Children.Count);
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var node in root.Children)
        {
            var phys = node.FindProperty("phys");
            var size = node.FindProperty("size");
            ulong p = 0, n = 0;
            if (phys is null || size is null || !phys.TryGetU64(out p) || !size.TryGetU64(out n))
                Throw.Corrupt($"root tree: subtree '{node.Name}' lacks a phys or size", phys?.ValueOffset ?? 0);
            if (p < areaPhys || n > areaBytes || p - areaPhys > areaBytes - n)
                Throw.Corrupt($"root tree: subtree '{node.Name}' at 0x{p:x}+{n} lies outside the handover area", phys.ValueOffset);
            if (!names.Add(node.Name)) Throw.Corrupt($"root tree: subtree '{node.Name}' appears twice", phys.ValueOffset);
            list.Add(new SubtreeRef(node.Name, p, n));
        }
        return list;
    }
}
