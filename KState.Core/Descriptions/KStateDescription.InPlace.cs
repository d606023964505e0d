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
}

public sealed unsafe partial class KStateDescription
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
        ReadOnlySpan<byte> data = PreserveInPlace(k, f, p, bytes, d, ctx);
        BinaryPrimitives.WriteUInt64LittleEndian(d[InPlaceRecord.CountAt..], n);
        if (f.Integrity == InPlaceIntegrity.Checksum)
        {
            BinaryPrimitives.WriteUInt32LittleEndian(d[InPlaceRecord.FlagsAt..], InPlaceRecord.Checksummed);
            BinaryPrimitives.WriteUInt64LittleEndian(d[InPlaceRecord.ChecksumAt..], XxHash3.HashToUInt64(data));
        }
        w.Put(d);
    }

    /// <summary>Finds the memory <paramref name="p"/> starts, preserves it when it is not preserved yet (logged, so that a
    /// failed save takes it back), writes its kind and place into <paramref name="d"/> and returns the elements' bytes.</summary>
    private ReadOnlySpan<byte> PreserveInPlace(Kho k, KStateField f, byte* p, ulong bytes, Span<byte> d, SaveContext ctx)
    {
        ulong phys = k.DangerousVirtToPhys(p);
        if (phys == 0 || !k.TryFindFolio(phys, out var folio))
            throw new KStateInvalidException($"invalid description '{Name}': preserved field '{f.Name}' does not point at the start of a folio, kho_alloc_preserve or kho_vmalloc memory");
        if (bytes > folio.Size) Invalid(Name, $"preserved field '{f.Name}': {bytes} bytes of elements do not fit {folio}");
        // Restore claims each folio once: a second slot could never be restored.
        if (!ctx.Folios.Add(folio.Phys)) Invalid(Name, $"field '{f.Name}': {folio} is held in two folio slots of one object");
        if (!k.IsPreserved(folio))
        {
            k.PreserveFolio(folio);
            ctx.Preserved.Add(folio);
        }
        BinaryPrimitives.WriteUInt32LittleEndian(d[InPlaceRecord.MemoryAt..], InPlaceRecord.Folio);
        BinaryPrimitives.WriteUInt64LittleEndian(d[InPlaceRecord.PlaceAt..], folio.Phys);
        BinaryPrimitives.WriteUInt32LittleEndian(d[(InPlaceRecord.PlaceAt + 8)..], (uint)folio.Order);
        return k.FolioSpan(folio)[..(int)bytes];
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
