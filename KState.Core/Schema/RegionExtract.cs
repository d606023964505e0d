using System.Globalization;
using KState.Core.Records;

namespace KState.Inspection;

/// <summary>
/// Copies parts of an inspected region out, reading only (as CRIU's <c>crit</c> or QEMU's
/// <c>analyze-migration.py -x</c> do): a record's payload, a subtree's blob, or a range of preserved memory.
/// </summary>
public static class RegionExtract
{
    /// <summary>The payload of record (state, instance): <paramref name="state"/> is an id ("0x..." or decimal) or a
    /// state name. Every stream is searched, each verified first; the record must be in exactly one.</summary>
    /// <param name="region">The inspected region.</param>
    /// <param name="state">State id or name.</param>
    /// <param name="instanceId">Instance id.</param>
    /// <param name="stream">The stream that holds it.</param>
    /// <exception cref="KStateNotFoundException">No such record (or no handover).</exception>
    /// <exception cref="KStateInvalidException">Records of that id and instance are in more than one stream.</exception>
    /// <exception cref="KStateCorruptException">The handover or a stream is damaged.</exception>
    public static byte[] RecordPayload(KhoInspector region, string state, ulong instanceId, out string stream)
    {
        if (region.Problem is not null) throw region.Problem;
        ulong? id = TryParseId(state);
        byte[]? found = null;
        stream = "";
        if (region.TryGetSubtree(KStateStreams.SubtreeName, out var root))
        {
            var set = new StreamSet(new InspectorSegmentMemory(region));
            set.LoadIncoming(root);
            foreach (var name in set.IncomingStreams.Order(StringComparer.Ordinal))
            {
                var r = set.Open(name);
                r.Verify();
                bool hit = id is { } i ? r.TryFind(i, instanceId, out var rec) : r.TryFind(state, instanceId, out rec);
                if (!hit) continue;
                if (found is not null) Throw.Invalid($"record {state}/{instanceId} is in streams \"{stream}\" and \"{name}\": name one with its stream's records");
                found = rec.Payload.ToArray();
                stream = name;
            }
        }
        return found ?? throw new KStateNotFoundException($"no record {state}/{instanceId} in the handover ({region.Status})");
    }

    /// <summary>A subtree's blob.</summary>
    /// <exception cref="KStateNotFoundException">No subtree of that name (or no valid handover).</exception>
    public static byte[] Subtree(KhoInspector region, string name)
    {
        if (!region.TryGetSubtree(name, out var blob)) throw new KStateNotFoundException($"no subtree named '{name}' in the handover ({region.Status})");
        return blob.ToArray();
    }

    /// <summary>The bytes [phys, phys + size) of preserved memory: every byte must lie in a block the handover preserved.</summary>
    /// <exception cref="KStateInvalidException">A byte of the range is not preserved memory (or there is no valid handover).</exception>
    public static byte[] PreservedRange(KhoInspector region, ulong phys, ulong size)
    {
        if (size == 0 || size > int.MaxValue) Throw.Invalid($"range size {size} is not between 1 and {int.MaxValue} bytes");
        if (!region.HasHandover) Throw.Invalid($"no valid handover, so no preserved memory ({region.Status})");
        ulong end = phys + size;
        if (end < phys) Throw.Invalid($"range 0x{phys:x}+{size} wraps around");
        // Blocks do not overlap: sorted by phys, the range must be covered without a gap.
        ulong at = phys;
        foreach (var b in region.PreservedBlocks.OrderBy(b => b.Phys))
        {
            if (b.Phys + b.Size <= at) continue;
            if (b.Phys > at) break;
            at = b.Phys + b.Size;
            if (at >= end) break;
        }
        if (at < end) Throw.Invalid($"0x{at:x} is not preserved memory, so the range 0x{phys:x}+{size} cannot be extracted (see the preserved blocks in kstate inspect)");
        return region.Memory.Phys(phys, (int)size).ToArray();
    }

    /// <summary>An id as "0x..." hex or decimal; null when it is neither (then it is a name).</summary>
    public static ulong? TryParseId(string text)
    {
        if (text.StartsWith("0x", StringComparison.OrdinalIgnoreCase))
            return ulong.TryParse(text.AsSpan(2), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out ulong h) ? h : null;
        return ulong.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out ulong d) ? d : null;
    }
}
