using System.Buffers.Binary;
using System.IO.Hashing;
using KState.Core.Records;

namespace KState;

/// <summary>A preserved field of a record that parsed: its memory, claimed (or converted) once the whole restore can succeed.</summary>
internal struct PendingInPlace
{
    public KStateDescription Owner;
    public KStateField Field;
    public int SlotOffset;     // the member's offset in the staging copy
    public uint Memory;        // InPlaceRecord.Folio or .Vmalloc
    public ulong Phys;         // the saved memory's first frame
    public int Order;          // its folio order
    public ulong Count;
    public int SourceStride;
    public CopyOp[]? Conversion; // null: used in place
    public Folio Converted;    // the new memory a conversion filled (folio memory)
    public KhoVmalloc Vmalloc; // the saved area's preservation (vmalloc memory)
    public bool Checksummed;   // vmalloc memory: its checksum is checked once it is mapped
    public ulong Checksum;
    public VmallocArea? Area;      // the saved area, restored
    public VmallocArea? NewArea;   // the area a conversion filled
}

public unsafe partial class KStateDescription
{
    /// <summary>Reads and checks a preserved field's place, its element version and layout and (unless trusted) its data
    /// checksum; a changed layout is planned for conversion. Nothing is claimed or written but the staging copy.</summary>
    private void ParseInPlace(ref RecordCursor c, byte* obj, int at, int fieldIndex, RestoreContext ctx, Kho? kho)
    {
        var f = Fields[fieldIndex];
        var element = f.Nested!;
        long where = c.Offset;
        var d = c.ReadSpan(InPlaceRecord.Bytes);
        uint memory = BinaryPrimitives.ReadUInt32LittleEndian(d[InPlaceRecord.MemoryAt..]);
        uint flags = BinaryPrimitives.ReadUInt32LittleEndian(d[InPlaceRecord.FlagsAt..]);
        ulong count = BinaryPrimitives.ReadUInt64LittleEndian(d[InPlaceRecord.CountAt..]);
        ulong elementId = BinaryPrimitives.ReadUInt64LittleEndian(d[InPlaceRecord.ElementIdAt..]);
        uint elementVersion = BinaryPrimitives.ReadUInt32LittleEndian(d[InPlaceRecord.ElementVersionAt..]);
        uint stride = BinaryPrimitives.ReadUInt32LittleEndian(d[InPlaceRecord.ElementSizeAt..]);
        ulong layout = BinaryPrimitives.ReadUInt64LittleEndian(d[InPlaceRecord.LayoutAt..]);
        ulong checksum = BinaryPrimitives.ReadUInt64LittleEndian(d[InPlaceRecord.ChecksumAt..]);
        var place = d.Slice(InPlaceRecord.PlaceAt, 16);
        if ((flags & ~InPlaceRecord.Checksummed) != 0) Throw.Corrupt($"{What()}: unknown in-place flags 0x{flags:x}", where + InPlaceRecord.FlagsAt);
        if (elementId != element.Id)
            Throw.Corrupt($"{What()} holds elements of state 0x{elementId:x16}; this description's are '{element.Name}' (0x{element.Id:x16})", where + InPlaceRecord.ElementIdAt);
        int version = element.CheckVersion(elementVersion, where + InPlaceRecord.ElementVersionAt);
        byte* slot = obj + f.Offset;
        if (memory == InPlaceRecord.None)
        {
            if (count != 0 || place.ContainsAnyExcept((byte)0)) Throw.Corrupt($"{What()}: no memory, but a count of {count} or a place", where);
            *(byte**)slot = null;
            if (f.Kind == FieldKind.PreservedArray) WriteCountMember(obj, f, 0);
            return;
        }
        if (memory is not (InPlaceRecord.Folio or InPlaceRecord.Vmalloc)) Throw.Corrupt($"{What()}: unknown in-place memory kind {memory}", where + InPlaceRecord.MemoryAt);
        if (f.Kind == FieldKind.PreservedStruct && count != 1) Throw.Corrupt($"{What()}: a preserved struct with {count} elements", where + InPlaceRecord.CountAt);
        if (stride == 0 || stride > int.MaxValue) Throw.Corrupt($"{What()}: element size {stride}", where + InPlaceRecord.ElementSizeAt);
        if (f.Kind == FieldKind.PreservedArray && f.CountSize < 8 && count >> (8 * f.CountSize) != 0)
            Throw.Corrupt($"{What()}: {count} elements do not fit its {f.CountSize}-byte count member", where + InPlaceRecord.CountAt);
        if (count > (ulong)long.MaxValue / stride) Throw.Corrupt($"{What()}: {count} elements of {stride} bytes", where + InPlaceRecord.CountAt);
        ulong bytes = count * stride;

        var k = NeedKho(kho, f);
        var pending = new PendingInPlace { Owner = this, Field = f, SlotOffset = (int)(obj - ctx.Work) + f.Offset, Memory = memory, Count = count, SourceStride = (int)stride };
        if (memory == InPlaceRecord.Folio)
        {
            ulong phys = BinaryPrimitives.ReadUInt64LittleEndian(place);
            uint order = BinaryPrimitives.ReadUInt32LittleEndian(place[8..]);
            if (BinaryPrimitives.ReadUInt32LittleEndian(place[12..]) != 0 || order > Kho.MaxOrder || phys == 0 || (phys & (Kho.PageSize - 1)) != 0
                || !k.CanRestoreFolio(phys, out int preserved) || preserved != (int)order || ctx.Folios.Contains(phys) || ClaimedInPlace(ctx, phys))
                Throw.Corrupt($"{What()}: folio 0x{phys:x} order {order} was not preserved (or is claimed twice)", where + InPlaceRecord.PlaceAt);
            var folio = new Folio(phys, (int)order);
            if (bytes > folio.Size) Throw.Corrupt($"{What()}: {count} elements of {stride} bytes do not fit {folio}", where + InPlaceRecord.CountAt);
            if ((flags & InPlaceRecord.Checksummed) != 0 && XxHash3.HashToUInt64(k.FolioSpan(folio)[..(int)bytes]) != checksum)
                Throw.Corrupt($"{What()}: the contents of {folio} do not match their checksum", where + InPlaceRecord.ChecksumAt);
            (pending.Phys, pending.Order) = (phys, (int)order);
        }
        else
        {
            // Everything the record says is checked here; the chunk list itself is checked by KHO before it claims anything.
            var v = InPlaceRecord.ReadVmalloc(place);
            if (v.Flags != KhoVmalloc.FlagVmalloc || v.Order > Kho.MaxOrder || v.TotalPages == 0 || (v.TotalPages & ((1u << v.Order) - 1)) != 0
                || v.First == 0 || (v.First & (Kho.PageSize - 1)) != 0 || ClaimedInPlace(ctx, v.First))
                Throw.Corrupt($"{What()}: {v} is not a preserved vmalloc area (or is claimed twice)", where + InPlaceRecord.PlaceAt);
            if (bytes > (ulong)v.TotalPages * Kho.PageSize) Throw.Corrupt($"{What()}: {count} elements of {stride} bytes do not fit {v}", where + InPlaceRecord.CountAt);
            (pending.Phys, pending.Vmalloc) = (v.First, v);
            (pending.Checksummed, pending.Checksum) = ((flags & InPlaceRecord.Checksummed) != 0, checksum);
        }

        if (layout == _layoutIds[fieldIndex] && stride == (uint)f.Size)
        {
            // The same memory: a folio's address now, claimed after post_load; a vmalloc area's once it is mapped.
            *(byte**)slot = memory == InPlaceRecord.Folio ? k.DangerousPhysToVirt(pending.Phys) : null;
        }
        else
        {
            pending.Conversion = PlanConversion(ctx, element, elementId, version, (int)stride, layout, What(), where);
            if (memory == InPlaceRecord.Folio && count > (ulong)(Kho.PageSize << Kho.MaxOrder) / (ulong)f.Size)
                Throw.OutOfMemory($"{What()}: {count} converted elements of {f.Size} bytes do not fit one folio");
            *(byte**)slot = null; // the converted memory, allocated once everything is checked
        }
        if (f.Kind == FieldKind.PreservedArray) WriteCountMember(obj, f, count);
        ctx.InPlace.Add(pending);

        string What() => $"'{Name}'.{f.Name}"; // for errors only: the hot path formats nothing
    }

    private static bool ClaimedInPlace(RestoreContext ctx, ulong phys)
    {
        foreach (var p in ctx.InPlace)
            if (p.Phys == phys) return true;
        return false;
    }

    /// <summary>The conversion from the saved layout, which the stream's schema gives; the schema must describe exactly the
    /// layout the record names, so a damaged or foreign schema is an error, never a wrong copy.</summary>
    private static CopyOp[] PlanConversion(RestoreContext ctx, KStateDescription element, ulong elementId, int version, int stride, ulong layout, string what, long where)
    {
        var schema = ctx.SavedSchema;
        if (schema is null)
        {
            if (ctx.Reader is null || !ctx.Reader.TryGetSchema(out var rec))
                throw new KStateCorruptException($"{what}: the element layout changed and the stream carries no schema to convert from", where);
            schema = ctx.SavedSchema = KStateSchema.Read(rec);
        }
        if (!schema.Descriptions.TryGetValue(elementId, out var saved))
            Throw.Corrupt($"{what}: the element layout changed and the stream's schema lacks '{element.Name}'", where);
        if (saved.VersionId != version) Throw.Corrupt($"{what}: the schema's '{saved.Name}' is version {saved.VersionId}, the elements {version}", where);
        if (InPlaceLayout.Of(stride, saved, schema.Descriptions, where) != layout)
            Throw.Corrupt($"{what}: the stream's schema does not describe the saved element layout", where + InPlaceRecord.LayoutAt);
        return InPlaceLayout.Conversion(saved, version, stride, element, schema.Descriptions, where);
    }

    /// <summary>Vmalloc areas a failed restore had restored (mapping an area claims it): a retry of that restore takes
    /// them back here instead of restoring them twice.</summary>
    private static readonly System.Runtime.CompilerServices.ConditionalWeakTable<Kho, Dictionary<ulong, VmallocArea>> s_held = [];

    /// <summary>Maps the vmalloc areas (restored through KHO: their address exists only once mapped), checks their
    /// checksums, and fills new memory for each field whose layout changed (the old memory is only read); points the
    /// staging copy at the result. A failure frees the new memory and keeps restored areas for a retry.</summary>
    private static void MapInPlace(RestoreContext ctx, Kho? kho)
    {
        var list = System.Runtime.InteropServices.CollectionsMarshal.AsSpan(ctx.InPlace);
        try
        {
            for (int i = 0; i < list.Length; i++)
            {
                ref var p = ref list[i];
                var f = p.Field;
                byte* source;
                if (p.Memory == InPlaceRecord.Vmalloc)
                {
                    p.Area = TakeHeld(kho!, p.Vmalloc) ?? RestoreArea(kho!, p);
                    ulong bytes = p.Count * (ulong)p.SourceStride;
                    if (bytes > p.Area.Size) Throw.Corrupt($"'{p.Owner.Name}'.{f.Name}: {bytes} bytes of elements do not fit {p.Area}");
                    source = (byte*)p.Area.Address;
                    if (p.Checksummed && InPlaceRecord.Hash(source, bytes) != p.Checksum)
                        Throw.Corrupt($"'{p.Owner.Name}'.{f.Name}: the contents of {p.Area} do not match their checksum");
                }
                else source = kho!.DangerousFolioAddress(new Folio(p.Phys, p.Order));
                if (p.Conversion is null)
                {
                    *(byte**)(ctx.Work + p.SlotOffset) = source;
                    continue;
                }
                ulong size = Math.Max(1, p.Count) * (ulong)f.Size;
                byte* target;
                if (p.Memory == InPlaceRecord.Vmalloc)
                {
                    p.NewArea = kho!.Vmalloc(size);
                    target = (byte*)p.NewArea.Address;
                }
                else
                {
                    p.Converted = kho!.AllocPreserve(size);
                    target = kho.DangerousFolioAddress(p.Converted);
                }
                for (ulong e = 0; e < p.Count; e++)
                {
                    byte* from = source + e * (ulong)p.SourceStride, to = target + e * (ulong)f.Size;
                    foreach (var op in p.Conversion) Buffer.MemoryCopy(from + op.Source, to + op.Target, op.Length, op.Length);
                }
                *(byte**)(ctx.Work + p.SlotOffset) = target;
            }
        }
        catch
        {
            FreeConverted(ctx, kho);
            throw;
        }
    }

    private static VmallocArea RestoreArea(Kho kho, in PendingInPlace p)
    {
        try
        {
            return kho.RestoreVmalloc(p.Vmalloc);
        }
        catch (KStateNotFoundException e)
        {
            throw new KStateCorruptException($"'{p.Owner.Name}'.{p.Field.Name}: {p.Vmalloc} was not preserved (or is claimed twice): {e.Message}");
        }
    }

    private static VmallocArea? TakeHeld(Kho kho, KhoVmalloc v)
    {
        if (!s_held.TryGetValue(kho, out var held)) return null;
        lock (held)
        {
            // A record that names a held area with other pages or order is damaged: the area stays held for a right one.
            if (!held.TryGetValue(v.First, out var area) || area.Pages != v.TotalPages || area.Order != v.Order) return null;
            held.Remove(v.First);
            return area;
        }
    }

    /// <summary>Gives back the memory conversions filled, and keeps the areas restored so far for a retry (a restore
    /// that failed after them).</summary>
    private static void FreeConverted(RestoreContext ctx, Kho? kho)
    {
        var list = System.Runtime.InteropServices.CollectionsMarshal.AsSpan(ctx.InPlace);
        for (int i = 0; i < list.Length; i++)
        {
            ref var p = ref list[i];
            try
            {
                if (!p.Converted.IsNull) kho!.UnpreserveFree(p.Converted);
                if (p.NewArea is not null) kho!.Vfree(p.NewArea);
            }
            catch (KStateException) { } // best effort on a failure path
            catch (ObjectDisposedException) { }
            p.Converted = default;
            p.NewArea = null;
            if (p.Area is null) continue;
            var held = s_held.GetOrCreateValue(kho!);
            lock (held) held[p.Vmalloc.First] = p.Area;
            p.Area = null;
        }
    }

    /// <summary>The folios a restore claims last, at once: its folio fields' and the folio memory its preserved fields
    /// use in place (restored through KHO, so it cannot be handed out twice; vmalloc areas were restored when mapped).</summary>
    private static List<ulong> ClaimList(RestoreContext ctx)
    {
        var list = new List<ulong>(ctx.Folios);
        foreach (var p in ctx.InPlace)
            if (p.Memory == InPlaceRecord.Folio) list.Add(p.Phys);
        return list;
    }

    /// <summary>Frees the memory a conversion replaced, once every claim held.</summary>
    private static void FreeReplaced(RestoreContext ctx, Kho? kho)
    {
        foreach (var p in ctx.InPlace)
        {
            if (p.Conversion is null) continue;
            if (p.Memory == InPlaceRecord.Folio) kho!.PutFolio(new Folio(p.Phys, p.Order));
            else kho!.Vfree(p.Area!);
        }
    }
}
