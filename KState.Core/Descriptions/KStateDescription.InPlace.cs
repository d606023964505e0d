using System.Buffers.Binary;
using System.IO.Hashing;
using KState.Core.Records;

namespace KState;

/// <summary>The 64 bytes a preserved struct or array field writes into its record (docs/FORMAT.md, "Preserved struct
/// and array fields"): where the memory is, how many elements of which layout, and the checksum of their bytes.</summary>
internal static class InPlaceRecord
{
    public const int Bytes = 64;

    /// <summary>Memory kinds: none (a null pointer), a folio (physically contiguous: <c>kho_alloc_preserve</c> or a
    /// folio), a vmalloc area (a <c>struct kho_vmalloc</c>).</summary>
    public const uint None = 0, Folio = 1, Vmalloc = 2;

    /// <summary>Flag: the checksum field holds the XXH3-64 of the elements' bytes (clear: trusted, not checked).</summary>
    public const uint Checksummed = 1;

    // Offsets in the 64 bytes.
    public const int MemoryAt = 0, FlagsAt = 4, CountAt = 8, ElementIdAt = 16, ElementVersionAt = 24, ElementSizeAt = 28,
        LayoutAt = 32, ChecksumAt = 40, PlaceAt = 48;

    /// <summary>XXH3-64 of <paramref name="n"/> bytes at <paramref name="p"/> (a vmalloc area may be larger than a span).</summary>
    public static unsafe ulong Hash(byte* p, ulong n)
    {
        if (n <= int.MaxValue) return XxHash3.HashToUInt64(new ReadOnlySpan<byte>(p, (int)n));
        var h = new XxHash3();
        for (ulong at = 0; at < n; at += 1 << 30) h.Append(new ReadOnlySpan<byte>(p + at, (int)Math.Min(1UL << 30, n - at)));
        return h.GetCurrentHashAsUInt64();
    }

    /// <summary>The place of a vmalloc area: the kernel's <c>struct kho_vmalloc</c>, little-endian.</summary>
    public static void WriteVmalloc(Span<byte> place, KhoVmalloc v)
    {
        BinaryPrimitives.WriteUInt64LittleEndian(place, v.First);
        BinaryPrimitives.WriteUInt32LittleEndian(place[8..], v.TotalPages);
        BinaryPrimitives.WriteUInt16LittleEndian(place[12..], v.Flags);
        BinaryPrimitives.WriteUInt16LittleEndian(place[14..], v.Order);
    }

    public static KhoVmalloc ReadVmalloc(ReadOnlySpan<byte> place) => new()
    {
        First = BinaryPrimitives.ReadUInt64LittleEndian(place),
        TotalPages = BinaryPrimitives.ReadUInt32LittleEndian(place[8..]),
        Flags = BinaryPrimitives.ReadUInt16LittleEndian(place[12..]),
        Order = BinaryPrimitives.ReadUInt16LittleEndian(place[14..]),
    };
}

public unsafe partial class KStateDescription
{
    /// <summary>Per field, the layout id of its in-place elements (preserved fields only).</summary>
    private readonly ulong[] _layoutIds;

    /// <summary>The element description of a preserved field may hold only fields whose bytes mean the same in the next
    /// process: no pointer (an address), no folio handle, no callbacks, no subsections or hooks (nothing runs per element).</summary>
    private void ValidateInPlace(KStateField f)
    {
        var element = f.Nested;
        if (element is null) Invalid(Name, $"preserved field '{f.Name}' has no element description");
        if (element.Size > f.Size) Invalid(Name, $"preserved field '{f.Name}' has {f.Size}-byte elements but '{element.Name}' describes {element.Size}");
        if (f.Count != 1) Invalid(Name, $"preserved field '{f.Name}' has count {f.Count}; its elements are counted by its count member");
        if (f.CountField is not null) Invalid(Name, $"preserved field '{f.Name}' cannot take a count field; a preserved array names its count member");
        if (f.Integrity is not (InPlaceIntegrity.Checksum or InPlaceIntegrity.Trusted)) Invalid(Name, $"preserved field '{f.Name}' has unknown integrity {(int)f.Integrity}");
        if (f.Kind == FieldKind.PreservedArray && f.CountSize is not (1 or 2 or 4 or 8))
            Invalid(Name, $"preserved array '{f.Name}': its count member must be an unsigned integer of 1, 2, 4 or 8 bytes, not {f.CountSize}");
        CheckInPlaceElement(f, element, 0);
    }

    private void CheckInPlaceElement(KStateField f, KStateDescription element, int depth)
    {
        string where = $"preserved field '{f.Name}': element description '{element.Name}'";
        if (depth > Core.Records.Format.MaxNesting) Invalid(Name, $"{where} nests too deep");
        if (element.Subsections.Count > 0) Invalid(Name, $"{where} has subsections; in-place elements cannot have them");
        if (element.PreSave is not null || element.PostLoad is not null || element.Needed is not null)
            Invalid(Name, $"{where} has hooks; nothing runs per in-place element");
        foreach (var e in element.Fields)
        {
            switch (e.Kind)
            {
                case FieldKind.Base or FieldKind.Deprecated or FieldKind.KhoPointer:
                    break;
                case FieldKind.Struct:
                    CheckInPlaceElement(f, e.Nested!, depth + 1);
                    break;
                default:
                    Invalid(Name, $"{where} has {e.Kind} field '{e.Name}', whose bytes would not mean the same in the next process (in place: base values, deprecated fields, KHO pointers stored as phys, and nested structs of those)");
                    break;
            }
        }
    }

    /// <summary>A preserved array's count member lies in the struct, apart from every other member except a base field
    /// that is the very same member.</summary>
    private void ValidateCountMember(KStateField f)
    {
        if (f.Kind != FieldKind.PreservedArray) return;
        if (f.CountOffset < 0 || (long)f.CountOffset + f.CountSize > Size)
            Invalid(Name, $"preserved array '{f.Name}': its count member at offset {f.CountOffset} lies outside the {Size}-byte struct");
        foreach (var o in Fields)
        {
            if (o.Kind == FieldKind.Deprecated) continue;
            bool same = o.Kind == FieldKind.Base && o.Offset == f.CountOffset && o.Size == f.CountSize && o.Count == 1;
            if (!same && f.CountOffset < o.Offset + o.Extent && o.Offset < f.CountOffset + f.CountSize)
                Invalid(Name, $"preserved array '{f.Name}': its count member at offset {f.CountOffset} overlaps field '{o.Name}'");
        }
    }

    /// <summary>Writes a preserved field's place: the memory is preserved if it is not yet, and never copied.</summary>
    private void SaveInPlace(RecordWriter w, byte* obj, int fieldIndex, Kho? kho, SaveContext ctx)
    {
        var f = Fields[fieldIndex];
        var element = f.Nested!;
        byte* p = *(byte**)(obj + f.Offset);
        ulong n = f.Kind == FieldKind.PreservedArray ? ReadCountMember(obj, f) : p == null ? 0UL : 1UL;
        Span<byte> d = stackalloc byte[InPlaceRecord.Bytes];
        d.Clear();
        BinaryPrimitives.WriteUInt64LittleEndian(d[InPlaceRecord.ElementIdAt..], element.Id);
        BinaryPrimitives.WriteUInt32LittleEndian(d[InPlaceRecord.ElementVersionAt..], (uint)element.VersionId);
        BinaryPrimitives.WriteUInt32LittleEndian(d[InPlaceRecord.ElementSizeAt..], (uint)f.Size);
        BinaryPrimitives.WriteUInt64LittleEndian(d[InPlaceRecord.LayoutAt..], _layoutIds[fieldIndex]);
        if (p == null)
        {
            if (n != 0) Invalid(Name, $"preserved array '{f.Name}' is null but its count member says {n}");
            w.Put(d);
            return;
        }
        var k = NeedKho(kho, f);
        if (n > (ulong)long.MaxValue / (ulong)f.Size) Invalid(Name, $"preserved array '{f.Name}': {n} elements of {f.Size} bytes overflow");
        ulong bytes = n * (ulong)f.Size;
        byte* data = PreserveInPlace(k, f, p, bytes, d, ctx);
        BinaryPrimitives.WriteUInt64LittleEndian(d[InPlaceRecord.CountAt..], n);
        if (f.Integrity == InPlaceIntegrity.Checksum)
        {
            BinaryPrimitives.WriteUInt32LittleEndian(d[InPlaceRecord.FlagsAt..], InPlaceRecord.Checksummed);
            BinaryPrimitives.WriteUInt64LittleEndian(d[InPlaceRecord.ChecksumAt..], InPlaceRecord.Hash(data, bytes));
        }
        w.Put(d);
    }

    /// <summary>Finds the memory <paramref name="p"/> starts, preserves it when it is not preserved yet (logged, so that a
    /// failed save takes it back), writes its kind and place into <paramref name="d"/> and returns the elements' address.</summary>
    private byte* PreserveInPlace(Kho k, KStateField f, byte* p, ulong bytes, Span<byte> d, SaveContext ctx)
    {
        // A vmalloc area first: its frames are folios too, but only the area maps them as one range.
        if (k.TryFindVmalloc((nint)p, out var area))
        {
            if (area.Address != (nint)p) Invalid(Name, $"preserved field '{f.Name}' points inside {area}, not at its start");
            if (bytes > area.Size) Invalid(Name, $"preserved field '{f.Name}': {bytes} bytes of elements do not fit {area}");
            if (!ctx.Folios.Add(area.Frames[0])) Invalid(Name, $"field '{f.Name}': {area} is held in two slots of one object");
            CheckNotHeldElsewhere(ctx, area.Frames[0], f, area.ToString());
            // Preserved already (by the program, or an earlier save): recorded again, as a preserved folio is.
            KhoVmalloc record;
            if (area.Preservation is { } known) record = known;
            else
            {
                record = k.PreserveVmalloc(area);
                ctx.Vmallocs.Add((area, record));
            }
            BinaryPrimitives.WriteUInt32LittleEndian(d[InPlaceRecord.MemoryAt..], InPlaceRecord.Vmalloc);
            InPlaceRecord.WriteVmalloc(d[InPlaceRecord.PlaceAt..], record);
            return (byte*)area.Address;
        }
        ulong phys = k.DangerousVirtToPhys(p);
        if (phys == 0 || !k.TryFindFolio(phys, out var folio))
            throw new KStateInvalidException($"invalid description '{Name}': preserved field '{f.Name}' does not point at the start of a folio, kho_alloc_preserve or kho_vmalloc memory");
        if (bytes > folio.Size) Invalid(Name, $"preserved field '{f.Name}': {bytes} bytes of elements do not fit {folio}");
        // Restore claims each folio once: a second slot could never be restored.
        if (!ctx.Folios.Add(folio.Phys)) Invalid(Name, $"field '{f.Name}': {folio} is held in two folio slots of one object");
        CheckNotHeldElsewhere(ctx, folio.Phys, f, folio.ToString());
        if (!k.IsPreserved(folio))
        {
            k.PreserveFolio(folio);
            ctx.Preserved.Add(folio);
        }
        BinaryPrimitives.WriteUInt32LittleEndian(d[InPlaceRecord.MemoryAt..], InPlaceRecord.Folio);
        BinaryPrimitives.WriteUInt64LittleEndian(d[InPlaceRecord.PlaceAt..], folio.Phys);
        BinaryPrimitives.WriteUInt32LittleEndian(d[(InPlaceRecord.PlaceAt + 8)..], (uint)folio.Order);
        return k.DangerousFolioAddress(folio);
    }

    // The next generation restores in-place memory once: a second object recording it could never be restored.
    private void CheckNotHeldElsewhere(SaveContext ctx, ulong firstFrame, KStateField f, string what)
    {
        if (ctx.Held is { } held && !held.Add(firstFrame))
            Invalid(Name, $"preserved field '{f.Name}': {what} is already held by another object of this handover (it can be restored by one only)");
    }

    /// <summary>Takes back vmalloc preservations (of a save that failed, or of a finalize undone), last first, and
    /// forgets them. Best effort, as <see cref="Unpreserve"/>.</summary>
    internal static void UnpreserveVmallocs(Kho? kho, List<(VmallocArea Area, KhoVmalloc Record)> log)
    {
        for (int i = log.Count - 1; i >= 0; i--)
        {
            var (_, record) = log[i];
            try { kho?.UnpreserveVmalloc(record); }
            catch (KStateException) { } // finalized or gone: nothing more can be done here
        }
        log.Clear();
    }

    private static ulong ReadCountMember(byte* obj, KStateField f) => f.CountSize switch
    {
        1 => obj[f.CountOffset],
        2 => System.Runtime.CompilerServices.Unsafe.ReadUnaligned<ushort>(obj + f.CountOffset),
        4 => System.Runtime.CompilerServices.Unsafe.ReadUnaligned<uint>(obj + f.CountOffset),
        _ => System.Runtime.CompilerServices.Unsafe.ReadUnaligned<ulong>(obj + f.CountOffset),
    };

    private static void WriteCountMember(byte* obj, KStateField f, ulong n)
    {
        switch (f.CountSize)
        {
            case 1: obj[f.CountOffset] = (byte)n; break;
            case 2: System.Runtime.CompilerServices.Unsafe.WriteUnaligned(obj + f.CountOffset, (ushort)n); break;
            case 4: System.Runtime.CompilerServices.Unsafe.WriteUnaligned(obj + f.CountOffset, (uint)n); break;
            default: System.Runtime.CompilerServices.Unsafe.WriteUnaligned(obj + f.CountOffset, n); break;
        }
    }
}
