using KState.Core.Records;

using System.Diagnostics;
using System.IO.Hashing;
using System.Runtime.CompilerServices;

namespace KState;

public unsafe partial class KStateDescription
{
    /// <summary>
    /// Saves the object at <paramref name="obj"/> as one record (state id <see cref="Id"/>, <paramref name="instanceId"/>,
    /// version <see cref="VersionId"/>). A failing pre_save or field leaves the stream as it was, and the folios this
    /// save preserved are unpreserved again.
    /// </summary>
    /// <param name="writer">The outgoing stream.</param>
    /// <param name="obj">The object: <see cref="Size"/> bytes laid out as described.</param>
    /// <param name="instanceId">Which object of this description.</param>
    /// <param name="kho">The machine, needed by folio and KHO-pointer fields.</param>
    /// <exception cref="KStateHookException">A pre_save hook refused.</exception>
    /// <exception cref="KStateInvalidException">A count exceeds its field's maximum, a folio or KHO pointer is not KHO
    /// memory, the object holds one folio in two folio slots, or KHO is needed and missing.</exception>
    internal void Save(RecordWriter writer, byte* obj, ulong instanceId, Kho? kho = null) => Save(writer, obj, instanceId, kho, null);

    /// <summary>Saves as <see cref="Save(RecordWriter, byte*, ulong, Kho?)"/>; the folios it preserves are added to
    /// <paramref name="preserved"/> (when given), so that the caller can take them back later.</summary>
    internal void Save(RecordWriter writer, byte* obj, ulong instanceId, Kho? kho, List<Folio>? preserved)
    {
        ArgumentNullException.ThrowIfNull(writer);
        if (obj == null) Invalid(Name, "save of a null object");
        var plan = PlanFor(VersionId);
        if (plan.PureCopy && plan.Steps.Length == 1)
        {
            writer.BeginRecord(Id, instanceId, (uint)VersionId); // plain bytes: no hook, nothing preserved
            try
            {
                writer.Put(new ReadOnlySpan<byte>(obj + plan.Steps[0].Offset, plan.Steps[0].Length));
                writer.EndRecord();
            }
            catch
            {
                writer.AbandonOpenRecord();
                throw;
            }
            return;
        }
        var ctx = SaveContext.Rent(preserved);
        try
        {
            RunPreSave(obj);
            writer.BeginRecord(Id, instanceId, (uint)VersionId);
            try
            {
                SaveBody(writer, obj, kho, plan, ctx);
                writer.EndRecord();
            }
            catch
            {
                writer.AbandonOpenRecord();
                throw;
            }
        }
        catch
        {
            Unpreserve(kho, ctx.Preserved, ctx.Mark);
            UnpreserveVmallocs(kho, ctx);
            throw;
        }
        finally
        {
            SaveContext.Return(ctx);
        }
    }

    /// <summary>Unpreserves the folios of <paramref name="log"/> from <paramref name="mark"/> on, last first, and
    /// forgets them. Best effort: it runs on failure paths, and a folio that cannot be unpreserved stays preserved.</summary>
    internal static void Unpreserve(Kho? kho, List<Folio> log, int mark)
    {
        for (int i = log.Count - 1; i >= mark; i--)
        {
            try { kho?.UnpreserveFolio(log[i]); }
            catch (KStateException) { } // finalized or gone: nothing more can be done here
        }
        log.RemoveRange(mark, log.Count - mark);
    }

    /// <summary>Saves a struct by reference.</summary>
    internal void Save<T>(RecordWriter writer, ref T obj, ulong instanceId, Kho? kho = null) where T : unmanaged
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

    private void SaveBody(RecordWriter w, byte* obj, Kho? kho, Plan plan, SaveContext ctx)
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
                        ulong handle = PreserveFolio(kho, f, ((ulong*)at)[i], ctx);
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
                        nested.SaveBody(w, element, kho, nested.PlanFor(nested.VersionId), ctx);
                        w.EndNested();
                    }
                    break;
                case FieldKind.PreservedStruct or FieldKind.PreservedArray:
                    SaveInPlace(w, obj, step.FieldIndex, kho, ctx);
                    break;
                case FieldKind.Custom:
                    w.BeginNested(0, CustomId(step.FieldIndex), 0); // keyed by the field's name, not its place (docs/FORMAT.md)
                    int depth = w.Depth;
                    w.AbandonedBy = null;
                    f.Save!(w, obj, f);
                    if (w.Depth != depth)
                    {
                        // A put that failed dropped the record: that failure, not the imbalance it caused, is the error.
                        if (w.AbandonedBy is { } failure) System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(failure);
                        Invalid(Name, $"custom field '{f.Name}': its save callback left nested records unbalanced");
                    }
                    w.EndNested();
                    break;
            }
        }
        foreach (var s in Subsections)
        {
            if (s.Needed is not null && !s.Needed(obj)) continue;
            s.RunPreSave(obj);
            w.BeginNested(s.Id, 0, (uint)s.VersionId, RecordType.Subsection);
            s.SaveBody(w, obj, kho, s.PlanFor(s.VersionId), ctx);
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

    private ulong PreserveFolio(Kho? kho, KStateField f, ulong handle, SaveContext ctx)
    {
        if (handle == 0) return 0;
        var folio = Folio.FromHandle(handle);
        var k = NeedKho(kho, f);
        // Restore claims each folio once: a second slot could never be restored (FieldKind.Folio).
        if (!ctx.Folios.Add(folio.Phys)) Invalid(Name, $"field '{f.Name}': {folio} is held in two folio slots of one object");
        if (!k.IsPreserved(folio))
        {
            k.PreserveFolio(folio);
            ctx.Preserved.Add(folio);
        }
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

/// <summary>Per-save scratch: the folios this save preserved (to take back if it fails) and the folios it recorded
/// (one folio in two slots is refused). Reused per thread; a save that re-enters (a pre_save saving) gets its own.</summary>
internal sealed class SaveContext
{
    [ThreadStatic] private static SaveContext? t_cached;
    private readonly List<Folio> _own = [];

    /// <summary>Where preserved folios are logged: the caller's list, or this context's own.</summary>
    public List<Folio> Preserved { get; private set; } = null!;

    /// <summary>Entries of <see cref="Preserved"/> before this save.</summary>
    public int Mark { get; private set; }

    public HashSet<ulong> Folios { get; } = [];

    /// <summary>The vmalloc areas this save preserved, to take back if it fails.</summary>
    public List<(VmallocArea Area, KhoVmalloc Record)> Vmallocs { get; } = [];

    public static SaveContext Rent(List<Folio>? log)
    {
        var ctx = t_cached ?? new SaveContext();
        t_cached = null;
        ctx.Preserved = log ?? ctx._own;
        ctx.Mark = ctx.Preserved.Count;
        return ctx;
    }

    public static void Return(SaveContext ctx)
    {
        ctx._own.Clear();
        ctx.Folios.Clear();
        ctx.Vmallocs.Clear();
        ctx.Preserved = null!;
        t_cached = ctx;
    }
}
