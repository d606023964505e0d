using KState.Core.Records;

using System.Diagnostics;
using System.IO.Hashing;
using System.Runtime.CompilerServices;

namespace KState.Core.Descriptions;

public sealed unsafe partial class KStateDescription
{
    /// <summary>
    /// Saves the object at <paramref name="obj"/> as one record (state id <see cref="Id"/>, <paramref name="instanceId"/>,
    /// version <see cref="VersionId"/>). A failing pre_save or field leaves the stream as it was.
    /// </summary>
    /// <param name="writer">The outgoing stream.</param>
    /// <param name="obj">The object: <see cref="Size"/> bytes laid out as described.</param>
    /// <param name="instanceId">Which object of this description.</param>
    /// <param name="kho">The machine, needed by folio and KHO-pointer fields.</param>
    /// <exception cref="KStateHookException">A pre_save hook refused.</exception>
    /// <exception cref="KStateInvalidException">A count exceeds its field's maximum, a folio or KHO pointer is not KHO memory, or KHO is needed and missing.</exception>
    public void Save(RecordWriter writer, byte* obj, ulong instanceId, Kho? kho = null)
    {
        ArgumentNullException.ThrowIfNull(writer);
        if (obj == null) Invalid(Name, "save of a null object");
        RunPreSave(obj);
        writer.BeginRecord(Id, instanceId, (uint)VersionId);
        try
        {
            var plan = PlanFor(VersionId);
            if (plan.PureCopy && plan.Steps.Length == 1) writer.Put(new ReadOnlySpan<byte>(obj + plan.Steps[0].Offset, plan.Steps[0].Length));
            else SaveBody(writer, obj, kho, plan);
            writer.EndRecord();
        }
        catch
        {
            writer.AbandonOpenRecord();
            throw;
        }
    }

    /// <summary>Saves a struct by reference.</summary>
    public void Save<T>(RecordWriter writer, ref T obj, ulong instanceId, Kho? kho = null) where T : unmanaged
    {
        CheckType<T>();
        fixed (T* p = &obj) Save(writer, (byte*)p, instanceId, kho);
    }

    private void RunPreSave(byte* obj)
    {
        if (PreSave is null) return;
        int rc = PreSave(obj);
        if (rc != 0) throw new KStateHookException($"pre_save of '{Name}' returned {rc}; nothing was saved", rc);
    }

    private void SaveBody(RecordWriter w, byte* obj, Kho? kho, Plan plan)
    {
        foreach (var step in plan.Steps)
        {
            if (step.Kind == StepKind.Copy)
            {
                w.Put(new ReadOnlySpan<byte>(obj + step.Offset, step.Length));
                continue;
            }
            var f = Fields[step.FieldIndex];
            int n = f.Count;
            if (f.CountField is not null)
            {
                n = SavedCount(obj, f);
                w.PutUInt32((uint)n);
            }
            byte* at = obj + f.Offset;
            switch (f.Kind)
            {
                case FieldKind.Base:
                    w.Put(new ReadOnlySpan<byte>(at, f.Size * n));
                    break;
                case FieldKind.Pointer:
                    byte* target = *(byte**)at;
                    if (f.CountField is null) w.PutUInt32(target == null ? 0u : (uint)n);
                    else if (target == null && n > 0) Invalid(Name, $"pointer field '{f.Name}' is null but its count is {n}");
                    if (target != null && n > 0) w.PutBlob(new ReadOnlySpan<byte>(target, f.Size * n)); // large arrays go out of line
                    break;
                case FieldKind.KhoPointer:
                    for (int i = 0; i < n; i++) w.PutUInt64(PhysOf(kho, f, ((void**)at)[i]));
                    break;
                case FieldKind.Folio:
                    for (int i = 0; i < n; i++)
                    {
                        ulong handle = PreserveFolio(kho, f, ((ulong*)at)[i]);
                        w.PutUInt64(handle);
                        w.PutUInt64(handle == 0 ? 0 : XxHash3.HashToUInt64(kho!.FolioSpan(Folio.FromHandle(handle)))); // contents are checked on restore
                    }
                    break;
                case FieldKind.Struct:
                    var nested = f.Nested!;
                    for (int i = 0; i < n; i++)
                    {
                        byte* element = at + (long)i * f.Size;
                        nested.RunPreSave(element);
                        w.BeginNested(nested.Id, (ulong)i, (uint)nested.VersionId);
                        nested.SaveBody(w, element, kho, nested.PlanFor(nested.VersionId));
                        w.EndNested();
                    }
                    break;
                case FieldKind.Custom:
                    w.BeginNested(0, (ulong)step.FieldIndex, 0);
                    int depth = w.Depth;
                    f.Save!(w, obj, f);
                    if (w.Depth != depth) Invalid(Name, $"custom field '{f.Name}': its save callback left nested records unbalanced");
                    w.EndNested();
                    break;
            }
        }
        foreach (var s in Subsections)
        {
            if (s.Needed is not null && !s.Needed(obj)) continue;
            s.RunPreSave(obj);
            w.BeginNested(s.Id, 0, (uint)s.VersionId, Records.RecordType.Subsection);
            s.SaveBody(w, obj, kho, s.PlanFor(s.VersionId));
            w.EndNested();
        }
    }

    /// <summary>The element count held by a field's count field, checked against its maximum.</summary>
    private int SavedCount(byte* obj, KStateField f)
    {
        ulong n = ReadCount(obj, CountFieldOf(f));
        if (n > (ulong)f.Count) Invalid(Name, $"field '{f.Name}' has {n} elements by '{f.CountField}', more than its maximum {f.Count}");
        return (int)n;
    }

    private KStateField CountFieldOf(KStateField f)
    {
        foreach (var c in Fields)
            if (c.Name == f.CountField) return c;
        throw new UnreachableException();
    }

    private static ulong ReadCount(byte* obj, KStateField c) => c.Size switch
    {
        1 => obj[c.Offset],
        2 => Unsafe.ReadUnaligned<ushort>(obj + c.Offset),
        4 => Unsafe.ReadUnaligned<uint>(obj + c.Offset),
        _ => Unsafe.ReadUnaligned<ulong>(obj + c.Offset),
    };

    private ulong PhysOf(Kho? kho, KStateField f, void* p)
    {
        if (p == null) return 0;
        ulong phys = NeedKho(kho, f).DangerousVirtToPhys(p);
        if (phys == 0) Invalid(Name, $"KHO pointer field '{f.Name}' points outside the region");
        return phys;
    }

    private ulong PreserveFolio(Kho? kho, KStateField f, ulong handle)
    {
        if (handle == 0) return 0;
        var folio = Folio.FromHandle(handle);
        var k = NeedKho(kho, f);
        if (!k.IsPreserved(folio)) k.PreserveFolio(folio);
        return handle;
    }

    private Kho NeedKho(Kho? kho, KStateField f)
    {
        if (kho is null) Invalid(Name, $"field '{f.Name}' ({f.Kind}) needs KHO, and none was given");
        return kho;
    }

    private void CheckType<T>() where T : unmanaged
    {
        if (Unsafe.SizeOf<T>() != Size) Invalid(Name, $"{typeof(T).Name} is {Unsafe.SizeOf<T>()} bytes, the description says {Size}");
    }
}
