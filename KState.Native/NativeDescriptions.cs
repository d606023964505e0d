using System.Runtime.InteropServices;

namespace KState.Native;

/// <summary><c>struct kstate_field</c>, as x86_64 lays it out.</summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct CField
{
    public byte* Name;
    public nuint Offset;
    public nuint Size;
    public int Kind;
    public int VersionId;
    public nuint Count;
    public CDescription* Ksd;
    public delegate* unmanaged<NativeStream*, void*, CField*, int> Save;
    public delegate* unmanaged<NativeStream*, void*, CField*, int> Restore;
}

/// <summary><c>struct kstate_description</c>.</summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct CDescription
{
    public byte* Name;
    public ulong Id;
    public int VersionId;
    public int MinVersionId;
    public CField* Fields;
    public CDescription** Subsections;
    public delegate* unmanaged<void*, byte> Needed;
    public delegate* unmanaged<void*, int> PreSave;
    public delegate* unmanaged<void*, int, int> PostLoad;
}

/// <summary><c>struct kstate_stream</c>: what a custom callback reads from or writes to.</summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct NativeStream
{
    public nint Writer;  // GCHandle of the RecordWriter when saving, else 0
    public byte* Data;   // the field's bytes when restoring
    public int Length;
    public int Position;
}

/// <summary>
/// Reads C descriptions from the program's memory, validates and compiles them. A compiled description is reused for
/// the same pointer only while the bytes it was compiled from are unchanged (the structs, field tables, names, nested
/// descriptions and subsections, compared whole): a description rewritten in place, or a stack description at the
/// address of an earlier one, is compiled again.
/// </summary>
internal static unsafe class NativeDescriptions
{
    private const int MaxFields = 4096, MaxSubsections = 256, MaxNesting = 16;
    private static readonly Dictionary<nint, (byte[] Shape, KStateDescription Compiled)> Cache = [];
    private static readonly Lock Gate = new();
    private static readonly List<byte> Shape = [];

    public static void Clear()
    {
        lock (Gate) Cache.Clear();
    }

    public static KStateDescription Get(CDescription* d)
    {
        if (d == null) throw new KStateInvalidException("NULL description");
        lock (Gate)
        {
            Shape.Clear();
            Snapshot(d, [], 0);
            var shape = System.Runtime.InteropServices.CollectionsMarshal.AsSpan(Shape);
            if (Cache.TryGetValue((nint)d, out var known) && shape.SequenceEqual(known.Shape)) return known.Compiled;
            int height = Height(d, [], [], 0);
            if (height > MaxNesting) throw new KStateInvalidException($"invalid description '{NativeState.Utf8(d->Name)}': structs and subsections nest {height} deep, more than {MaxNesting}");
            var compiled = Build(d, nested: false, []);
            Cache[(nint)d] = (shape.ToArray(), compiled);
            return compiled;
        }
    }

    /// <summary>Appends every byte a description was compiled from to <see cref="Shape"/> (each description once).</summary>
    private static void Snapshot(CDescription* d, Dictionary<nint, int> seen, int depth)
    {
        if (seen.TryGetValue((nint)d, out int index) || depth > MaxNesting + 1)
        {
            Append(&index, sizeof(int)); // a description met before (or a cycle, refused by Height): its index stands for it
            return;
        }
        seen[(nint)d] = seen.Count;
        Append(d, sizeof(CDescription));
        AppendString(d->Name);
        if (d->Fields != null)
            for (int i = 0; i < MaxFields; i++)
            {
                CField* f = &d->Fields[i];
                if (f->Kind == (int)FieldKind.End)
                {
                    Append(&f->Kind, sizeof(int));
                    break;
                }
                Append(f, sizeof(CField));
                AppendString(f->Name);
                if (HasDescription(f->Kind) && f->Ksd != null) Snapshot(f->Ksd, seen, depth + 1);
            }
        if (d->Subsections != null)
            for (int i = 0; i < MaxSubsections; i++)
            {
                var s = d->Subsections[i];
                Append(&s, sizeof(nint));
                if (s == null) break;
                Snapshot(s, seen, depth + 1);
            }
    }

    /// <summary>KS_STRUCT and the preserved kinds name a description (the preserved ones with flags in the high bits).</summary>
    private static bool HasDescription(int kind) => (kind & KindMask) is (int)FieldKind.Struct or (int)FieldKind.PreservedStruct or (int)FieldKind.PreservedArray;

    /// <summary>The KS_* value in the low bits of <c>kind</c>; KS_TRUSTED above it (kstate.h).</summary>
    private const int KindMask = 0xFF, Trusted = 0x100;

    private static void Append(void* p, int n)
    {
        foreach (byte b in new ReadOnlySpan<byte>(p, n)) Shape.Add(b);
    }

    private static void AppendString(byte* s)
    {
        if (s == null) return;
        for (int n = 0; n <= 4096 && s[n] != 0; n++) Shape.Add(s[n]);
        Shape.Add(0);
    }

    /// <summary>How many records deep the description's structs and subsections nest, the same whatever was used before.</summary>
    private static int Height(CDescription* d, Dictionary<nint, int> heights, HashSet<nint> open, int depth)
    {
        if (heights.TryGetValue((nint)d, out int h)) return h;
        if (!open.Add((nint)d) || depth > MaxNesting)
            throw new KStateInvalidException($"invalid description '{NativeState.Utf8(d->Name)}': structs and subsections nest more than {MaxNesting} deep (a cycle?)");
        h = 0;
        if (d->Fields != null)
            for (int i = 0; i < MaxFields && d->Fields[i].Kind != (int)FieldKind.End; i++)
                if (HasDescription(d->Fields[i].Kind) && d->Fields[i].Ksd != null)
                    h = Math.Max(h, 1 + Height(d->Fields[i].Ksd, heights, open, depth + 1));
        if (d->Subsections != null)
            for (int i = 0; i < MaxSubsections && d->Subsections[i] != null; i++)
                h = Math.Max(h, 1 + Height(d->Subsections[i], heights, open, depth + 1));
        open.Remove((nint)d);
        heights[(nint)d] = h;
        return h;
    }

    /// <summary>Compiles a description and everything it names; <paramref name="nested"/>: reached through a KS_STRUCT field.</summary>
    private static KStateDescription Build(CDescription* d, bool nested, Dictionary<(nint, bool), KStateDescription> built)
    {
        if (built.TryGetValue(((nint)d, nested), out var known)) return known;
        string name = NativeState.Utf8(d->Name) ?? throw new KStateInvalidException("a description has no name");
        if (d->Fields == null) throw new KStateInvalidException($"invalid description '{name}': fields is NULL");

        var fields = new List<KStateField>();
        for (int i = 0; ; i++)
        {
            if (i == MaxFields) throw new KStateInvalidException($"invalid description '{name}': no KSTATE_END_OF_LIST() within {MaxFields} fields");
            CField* f = &d->Fields[i];
            if (f->Kind == (int)FieldKind.End) break;
            fields.Add(ToField(name, f, nested, built));
        }

        var subs = new List<KStateDescription>();
        if (d->Subsections != null)
            for (int i = 0; d->Subsections[i] != null; i++)
            {
                if (i == MaxSubsections) throw new KStateInvalidException($"invalid description '{name}': subsections are not NULL-terminated");
                subs.Add(Build(d->Subsections[i], nested, built));
            }

        // C does not say how big the struct is: the description covers up to its furthest field or subsection.
        long size = 1;
        foreach (var f in fields) size = Math.Max(size, f.Kind == FieldKind.Deprecated ? 0 : f.Offset + f.Extent);
        foreach (var f in fields) size = Math.Max(size, f.Kind == FieldKind.PreservedArray ? (long)f.CountOffset + f.CountSize : 0); // restore sets it
        foreach (var s in subs) size = Math.Max(size, s.Size);
        if (size > int.MaxValue) throw new KStateInvalidException($"invalid description '{name}': fields reach beyond 2 GiB");

        var needed = d->Needed;
        var preSave = d->PreSave;
        var postLoad = d->PostLoad;
        var desc = KStateDescription.Create(name, d->Id, d->VersionId, d->MinVersionId, (int)size, fields, subs,
            needed == null ? null : obj => needed(obj) != 0,
            preSave == null ? null : obj => preSave(obj),
            postLoad == null ? null : (obj, v) => postLoad(obj, v));
        built[((nint)d, nested)] = desc;
        return desc;
    }

    private static KStateField ToField(string desc, CField* f, bool nested, Dictionary<(nint, bool), KStateDescription> built)
    {
        string name = NativeState.Utf8(f->Name) ?? throw new KStateInvalidException($"invalid description '{desc}': a field has no name");
        var kind = (FieldKind)(f->Kind & KindMask);
        bool preserved = kind is FieldKind.PreservedStruct or FieldKind.PreservedArray;
        if (kind is < FieldKind.Base or > FieldKind.PreservedArray || (f->Kind & ~KindMask) != (preserved ? f->Kind & Trusted : 0))
            throw new KStateInvalidException($"invalid description '{desc}': field '{name}' has unknown kind {f->Kind}");
        // A preserved array's count holds its count member: (offset << 8) | size (kstate.h).
        nuint countOffset = kind == FieldKind.PreservedArray ? f->Count >> 8 : 0, countSize = kind == FieldKind.PreservedArray ? f->Count & 0xFF : 0;
        if (f->Offset > int.MaxValue || f->Size > int.MaxValue || (kind == FieldKind.PreservedArray ? countOffset : f->Count) > int.MaxValue)
            throw new KStateInvalidException($"invalid description '{desc}': field '{name}' has an impossible offset, size or count");
        KStateDescription? inner = (kind == FieldKind.Struct || preserved) && f->Ksd != null ? Build(f->Ksd, nested: true, built) : null;
        CustomSave? save = null;
        CustomRestore? restore = null;
        if (kind == FieldKind.Custom && nested)
            throw new KStateInvalidException($"invalid description '{desc}': custom field '{name}' in a description nested with KS_STRUCT (custom fields belong to the object's own description or its subsections)");
        if (kind == FieldKind.Custom && f->Save != null && f->Restore != null)
        {
            var cSave = f->Save;
            var cRestore = f->Restore;
            save = (writer, obj, field) => CallSave(cSave, writer, obj, f);
            restore = (ref RecordCursor c, byte* obj, KStateField field) => CallRestore(cRestore, ref c, obj, f);
        }
        return new KStateField
        {
            Name = name,
            Offset = (int)f->Offset,
            Size = (int)f->Size,
            Kind = kind,
            VersionId = f->VersionId,
            Count = preserved || f->Count == 0 ? 1 : (int)f->Count,
            CountOffset = (int)countOffset,
            CountSize = (int)countSize,
            Integrity = (f->Kind & Trusted) != 0 ? InPlaceIntegrity.Trusted : InPlaceIntegrity.Checksum,
            Nested = inner,
            Save = save,
            Restore = restore,
        };
    }

    private static void CallSave(delegate* unmanaged<NativeStream*, void*, CField*, int> fn, RecordWriter writer, byte* obj, CField* f)
    {
        var handle = GCHandle.Alloc(writer);
        try
        {
            var stream = new NativeStream { Writer = GCHandle.ToIntPtr(handle) };
            int rc = fn(&stream, obj, f);
            if (rc != 0) throw new KStateHookException($"custom save of '{NativeState.Utf8(f->Name)}' returned {rc}", rc);
        }
        finally
        {
            handle.Free();
        }
    }

    [ThreadStatic] private static RestoreTarget? t_restoring;

    /// <summary>Names the program's object a restore on this thread writes into, for the custom restore callbacks.</summary>
    public static RestoreScope RestoringInto(void* obj, KStateDescription d)
    {
        var previous = t_restoring;
        t_restoring = new RestoreTarget((nint)obj, d.Size);
        return new RestoreScope(previous);
    }

    internal sealed record RestoreTarget(nint Object, int Size);

    internal readonly struct RestoreScope(RestoreTarget? previous) : IDisposable
    {
        public void Dispose() => t_restoring = previous;
    }

    /// <summary>
    /// A custom restore gets the program's object itself (as custom save does), never a buffer of ours that a write to
    /// a later member could overrun. The object shows what the record has restored so far, and it is put back as it
    /// was after the callback, whose writes go to the staging copy, so a restore that fails later still leaves it
    /// unchanged. Custom fields live only in the object's own description and its subsections, so the staging copy
    /// the callback belongs to starts where the object starts.
    /// </summary>
    private static void CallRestore(delegate* unmanaged<NativeStream*, void*, CField*, int> fn, ref RecordCursor c, byte* staging, CField* f)
    {
        var target = t_restoring ?? throw new KStateInvalidException($"custom restore of '{NativeState.Utf8(f->Name)}' outside kstate_restore");
        byte* obj = (byte*)target.Object;
        int size = target.Size;
        var bytes = c.ReadSpan(c.Remaining);
        byte* saved = (byte*)NativeMemory.Alloc((nuint)size);
        int rc;
        try
        {
            Buffer.MemoryCopy(obj, saved, size, size);
            Buffer.MemoryCopy(staging, obj, size, size);
            try
            {
                fixed (byte* data = bytes)
                {
                    var stream = new NativeStream { Data = data, Length = bytes.Length };
                    rc = fn(&stream, obj, f);
                }
                Buffer.MemoryCopy(obj, staging, size, size);
            }
            finally
            {
                Buffer.MemoryCopy(saved, obj, size, size);
            }
        }
        finally
        {
            NativeMemory.Free(saved);
        }
        if (rc != 0) throw new KStateHookException($"custom restore of '{NativeState.Utf8(f->Name)}' returned {rc}", rc);
    }
}
