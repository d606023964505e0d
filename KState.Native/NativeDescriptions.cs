using System.Runtime.InteropServices;
using KState.Core.Descriptions;
using KState.Core.Records;

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
/// Reads C descriptions from the program's memory, validates them and compiles them once per description pointer
/// (descriptions are static data in C, as in the kernel).
/// </summary>
internal static unsafe class NativeDescriptions
{
    private const int MaxFields = 4096, MaxSubsections = 256, MaxDepth = 16;
    private static readonly Dictionary<nint, KStateDescription> Cache = [];
    private static readonly Lock Gate = new();

    public static void Clear()
    {
        lock (Gate) Cache.Clear();
    }

    public static KStateDescription Get(CDescription* d)
    {
        if (d == null) throw new KStateInvalidException("NULL description");
        lock (Gate) return Build(d, 0);
    }

    private static KStateDescription Build(CDescription* d, int depth)
    {
        if (Cache.TryGetValue((nint)d, out var known)) return known;
        if (depth > MaxDepth) throw new KStateInvalidException($"descriptions nest deeper than {MaxDepth} (a cycle?)");
        string name = NativeState.Utf8(d->Name) ?? throw new KStateInvalidException("a description has no name");
        if (d->Fields == null) throw new KStateInvalidException($"invalid description '{name}': fields is NULL");

        var fields = new List<KStateField>();
        for (int i = 0; ; i++)
        {
            if (i == MaxFields) throw new KStateInvalidException($"invalid description '{name}': no KSTATE_END_OF_LIST() within {MaxFields} fields");
            CField* f = &d->Fields[i];
            if (f->Kind == (int)FieldKind.End) break;
            fields.Add(ToField(name, f, depth));
        }

        var subs = new List<KStateDescription>();
        if (d->Subsections != null)
            for (int i = 0; d->Subsections[i] != null; i++)
            {
                if (i == MaxSubsections) throw new KStateInvalidException($"invalid description '{name}': subsections are not NULL-terminated");
                subs.Add(Build(d->Subsections[i], depth + 1));
            }

        // C does not say how big the struct is: the description covers up to its furthest field or subsection.
        long size = 1;
        foreach (var f in fields) size = Math.Max(size, f.Kind == FieldKind.Deprecated ? 0 : f.Offset + f.Extent);
        foreach (var s in subs) size = Math.Max(size, s.Size);
        if (size > int.MaxValue) throw new KStateInvalidException($"invalid description '{name}': fields reach beyond 2 GiB");

        var needed = d->Needed;
        var preSave = d->PreSave;
        var postLoad = d->PostLoad;
        var desc = KStateDescription.Create(name, d->Id, d->VersionId, d->MinVersionId, (int)size, fields, subs,
            needed == null ? null : obj => needed(obj) != 0,
            preSave == null ? null : obj => preSave(obj),
            postLoad == null ? null : (obj, v) => postLoad(obj, v));
        Cache[(nint)d] = desc;
        return desc;
    }

    private static KStateField ToField(string desc, CField* f, int depth)
    {
        string name = NativeState.Utf8(f->Name) ?? throw new KStateInvalidException($"invalid description '{desc}': a field has no name");
        if (f->Kind is < 1 or > 7) throw new KStateInvalidException($"invalid description '{desc}': field '{name}' has unknown kind {f->Kind}");
        if (f->Offset > int.MaxValue || f->Size > int.MaxValue || f->Count > int.MaxValue)
            throw new KStateInvalidException($"invalid description '{desc}': field '{name}' has an impossible offset, size or count");
        var kind = (FieldKind)f->Kind;
        KStateDescription? nested = kind == FieldKind.Struct && f->Ksd != null ? Build(f->Ksd, depth + 1) : null;
        CustomSave? save = null;
        CustomRestore? restore = null;
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
            Count = f->Count == 0 ? 1 : (int)f->Count,
            Nested = nested,
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

    private static void CallRestore(delegate* unmanaged<NativeStream*, void*, CField*, int> fn, ref RecordCursor c, byte* obj, CField* f)
    {
        var bytes = c.ReadSpan(c.Remaining);
        fixed (byte* data = bytes)
        {
            var stream = new NativeStream { Data = data, Length = bytes.Length };
            int rc = fn(&stream, obj, f);
            if (rc != 0) throw new KStateHookException($"custom restore of '{NativeState.Utf8(f->Name)}' returned {rc}", rc);
        }
    }
}
