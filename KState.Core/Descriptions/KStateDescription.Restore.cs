using System.IO.Hashing;
using System.Runtime.CompilerServices;
using KState.Core.Records;

namespace KState;

public unsafe partial class KStateDescription
{
    /// <summary>
    /// Restores the newest record of (<see cref="Id"/>, <paramref name="instanceId"/>) into <paramref name="obj"/>, by
    /// the VMState rules: a record newer than <see cref="VersionId"/> or older than <see cref="MinVersionId"/> is
    /// refused; fields newer than the record keep their values; deprecated fields are skipped; unknown subsections are
    /// skipped and missing ones are fine; post_load runs after the fields are written. The record is read and checked
    /// completely into a staging copy before anything is written or claimed, so a failing restore leaves the object as
    /// it was (pointees written by a pointer field stay written when only post_load fails). Folios are claimed from KHO
    /// last, after post_load succeeded (post_load may read and write them, but not restore them itself): a failed
    /// restore claims nothing, and can be retried.
    /// </summary>
    /// <exception cref="KStateNotFoundException">No such record.</exception>
    /// <exception cref="KStateVersionException">The record's version is out of range.</exception>
    /// <exception cref="KStateCorruptException">The record does not match the description, or is damaged.</exception>
    /// <exception cref="KStateHookException">post_load refused.</exception>
    internal void Restore(RecordReader reader, byte* obj, ulong instanceId, Kho? kho = null, IPointerAllocator? allocator = null)
    {
        ArgumentNullException.ThrowIfNull(reader);
        if (!reader.TryFind(Id, instanceId, out var rec))
            Throw.NotFound($"no record of '{Name}' (state 0x{Id:x16}) instance {instanceId} in stream '{reader.Name}'");
        Restore(rec, obj, kho, allocator);
    }

    /// <summary>Restores a struct by reference; see <see cref="Restore(RecordReader, byte*, ulong, Kho?, IPointerAllocator?)"/>.</summary>
    internal void Restore<T>(RecordReader reader, ref T obj, ulong instanceId, Kho? kho = null, IPointerAllocator? allocator = null) where T : unmanaged
    {
        CheckType<T>();
        fixed (T* p = &obj) Restore(reader, (byte*)p, instanceId, kho, allocator);
    }

    /// <summary>Restores one record (already found) into <paramref name="obj"/>.</summary>
    internal void Restore(Record rec, byte* obj, Kho? kho = null, IPointerAllocator? allocator = null)
    {
        if (obj == null) Invalid(Name, "restore into a null object");
        if (rec.Type != RecordType.Main || rec.StateId != Id)
            Throw.Corrupt($"record of state 0x{rec.StateId:x16} type {rec.Type} is not a '{Name}' record", rec.Offset);
        int version = CheckVersion(rec.Version, rec.Offset);
        var plan = PlanFor(version);
        if (plan.PureCopy && plan.Steps.Length == 1 && rec.Payload.Length == plan.Steps[0].Length)
        {
            rec.Payload.CopyTo(new Span<byte>(obj + plan.Steps[0].Offset, plan.Steps[0].Length)); // one copy cannot fail halfway
            return;
        }

        var ctx = RestoreContext.Rent(Size);
        try
        {
            byte* work = ctx.Work;
            Buffer.MemoryCopy(obj, work, Size, Size);
            Buffer.MemoryCopy(obj, ctx.Original, Size, Size);
            var cursor = rec.Cursor;
            ctx.PayloadBase = cursor.Offset;
            ctx.Reader = rec.Owner;
            Parse(ref cursor, work, 0, version, plan, ctx, kho);
            if (cursor.Remaining != 0) Throw.Corrupt($"'{Name}' record has {cursor.Remaining} bytes after its fields and subsections", cursor.Offset);
            // Only a record that parsed completely is checked further: its blobs' checksums, over data segments still unclaimed.
            foreach (var p in ctx.Pointers)
                new RecordCursor(rec.Payload[p.PayloadOffset..], ctx.PayloadBase + p.PayloadOffset, rec.Owner).ReadBlobView(verify: true, claim: false);
            Commit(rec, obj, ctx, kho, allocator ?? NativeAllocator.Instance);
        }
        finally
        {
            RestoreContext.Return(ctx);
        }
    }

    private int CheckVersion(uint version, long offset)
    {
        if (version > (uint)VersionId || version < (uint)MinVersionId)
            throw new KStateVersionException($"'{Name}' record has version {version}; this description reads versions {MinVersionId} to {VersionId} (at offset {offset})");
        return (int)version;
    }

    /// <summary>Reads this description's fields and subsections into the staging copy at <paramref name="work"/> + <paramref name="at"/>.</summary>
    private void Parse(ref RecordCursor c, byte* work, int at, int version, Plan plan, RestoreContext ctx, Kho? kho)
    {
        byte* obj = work + at;
        foreach (var step in plan.Steps)
        {
            switch (step.Kind)
            {
                case StepKind.Copy:
                    c.Read(new Span<byte>(obj + step.Offset, step.Length));
                    continue;
                case StepKind.Skip:
                    c.Skip(step.Length);
                    continue;
            }
            var f = Fields[step.FieldIndex];
            int n = f.Count;
            if (f.CountField is not null)
            {
                long where = c.Offset;
                uint saved = c.ReadUInt32();
                if (saved > (uint)f.Count) Throw.Corrupt($"'{Name}'.{f.Name} has {saved} elements, more than its maximum {f.Count}", where);
                var cf = CountFieldOf(f);
                if (cf.VersionId <= version && ReadCount(obj, cf) != saved)
                    Throw.Corrupt($"'{Name}'.{f.Name} has {saved} elements but '{f.CountField}' says {ReadCount(obj, cf)}", where);
                n = (int)saved;
            }
            byte* slot = obj + f.Offset;
            switch (f.Kind)
            {
                case FieldKind.Base:
                    c.Read(new Span<byte>(slot, f.Size * n));
                    break;
                case FieldKind.Pointer:
                    if (f.CountField is null)
                    {
                        long where = c.Offset;
                        uint present = c.ReadUInt32();
                        if (present != 0 && present != (uint)f.Count) Throw.Corrupt($"'{Name}'.{f.Name}: pointee count {present}, expected {f.Count}", where);
                        n = (int)present;
                    }
                    if (n > 0)
                    {
                        long from = c.Offset - ctx.PayloadBase;
                        long blobAt = c.Offset;
                        var blob = c.ReadBlobView(verify: false); // verified once the whole record has parsed: verifying attaches memory
                        if (blob.Length != (long)f.Size * n) Throw.Corrupt($"'{Name}'.{f.Name}: {blob.Length} bytes of pointee, expected {(long)f.Size * n}", blobAt);
                        // A counted array's existing buffer holds as many elements as the object counted before this restore.
                        long capacity = f.CountField is null ? long.MaxValue : (long)Math.Min(ReadCount(ctx.Original + at, CountFieldOf(f)), (ulong)f.Count) * f.Size;
                        ctx.Pointers.Add(new PendingPointer(at + f.Offset, (int)from, f.Size * n, capacity));
                    }
                    break;
                case FieldKind.KhoPointer:
                    for (int i = 0; i < n; i++)
                    {
                        long where = c.Offset;
                        ulong phys = c.ReadUInt64();
                        void* p = phys == 0 ? null : NeedKho(kho, f).DangerousPhysToVirt(phys);
                        if (phys != 0 && p == null) Throw.Corrupt($"'{Name}'.{f.Name}: phys 0x{phys:x} is outside the region", where);
                        ((void**)slot)[i] = p;
                    }
                    break;
                case FieldKind.Folio:
                    for (int i = 0; i < n; i++)
                    {
                        long where = c.Offset;
                        ulong handle = c.ReadUInt64();
                        ulong hash = c.ReadUInt64();
                        ((ulong*)slot)[i] = handle;
                        if (handle == 0) continue;
                        var folio = Folio.FromHandle(handle);
                        var k = NeedKho(kho, f);
                        if (!k.CanRestoreFolio(folio.Phys, out int order) || order != folio.Order || ctx.Folios.Contains(folio.Phys) || ClaimedInPlace(ctx, folio.Phys))
                            Throw.Corrupt($"'{Name}'.{f.Name}: {folio} was not preserved (or is claimed twice)", where);
                        if (XxHash3.HashToUInt64(k.FolioSpan(folio)) != hash)
                            Throw.Corrupt($"'{Name}'.{f.Name}: the contents of {folio} do not match their checksum", where);
                        ctx.Folios.Add(folio.Phys);
                    }
                    break;
                case FieldKind.Struct:
                    var nested = f.Nested!;
                    for (int i = 0; i < n; i++)
                    {
                        long where = c.Offset;
                        if (!c.TryReadNested(out var rec) || rec.Type != RecordType.Nested || rec.StateId != nested.Id || rec.InstanceId != (ulong)i)
                            Throw.Corrupt($"'{Name}'.{f.Name}[{i}]: expected a nested '{nested.Name}' record", where);
                        int v = nested.CheckVersion(rec.Version, where);
                        var inner = rec.Cursor;
                        nested.Parse(ref inner, work, at + f.Offset + i * f.Size, v, nested.PlanFor(v), ctx, kho);
                        if (inner.Remaining != 0) Throw.Corrupt($"'{Name}'.{f.Name}[{i}]: {inner.Remaining} bytes left over", inner.Offset);
                        if (nested.PostLoad is not null) ctx.PostLoads.Add((nested, at + f.Offset + i * f.Size, v));
                    }
                    break;
                case FieldKind.PreservedStruct or FieldKind.PreservedArray:
                    ParseInPlace(ref c, obj, at, step.FieldIndex, ctx, kho);
                    break;
                case FieldKind.Custom:
                    {
                        long where = c.Offset;
                        if (!c.TryReadNested(out var rec) || rec.Type != RecordType.Nested || rec.StateId != 0 || rec.InstanceId != CustomId(step.FieldIndex))
                            Throw.Corrupt($"'{Name}'.{f.Name}: expected the custom field's bytes", where);
                        var inner = rec.Cursor;
                        f.Restore!(ref inner, obj, f);
                        break;
                    }
            }
        }
        while (c.TryReadNested(out var sub))
        {
            if (sub.Type != RecordType.Subsection) Throw.Corrupt($"'{Name}': a nested record where a subsection was expected", c.Offset);
            KStateDescription? s = null;
            foreach (var known in Subsections)
                if (known.Id == sub.StateId) s = known;
            if (s is null) continue; // a subsection this reader does not know: skipped
            int v = s.CheckVersion(sub.Version, c.Offset);
            var inner = sub.Cursor;
            s.Parse(ref inner, work, at, v, s.PlanFor(v), ctx, kho);
            if (inner.Remaining != 0) Throw.Corrupt($"'{Name}' subsection '{s.Name}': {inner.Remaining} bytes left over", inner.Offset);
            if (s.PostLoad is not null) ctx.PostLoads.Add((s, at, v));
        }
        if (at == 0 && PostLoad is not null) ctx.PostLoads.Add((this, 0, version));
    }

    /// <summary>Applies a fully parsed record: fills pointees, writes the object, runs post_load hooks, and then
    /// claims its folios and its blobs' data segments, so that a failing post_load leaves them restorable (and listed
    /// as unrestored) and a retry can succeed.</summary>
    private void Commit(Record rec, byte* obj, RestoreContext ctx, Kho? kho, IPointerAllocator allocator)
    {
        var payload = rec.Payload;
        byte* work = ctx.Work;
        foreach (var p in ctx.Pointers)
        {
            ref byte* target = ref *(byte**)(work + p.SlotOffset);
            // A null pointer, or a counted array whose buffer is too small, gets new memory (the old buffer is not ours to free).
            if (target == null || p.Bytes > p.CapacityBytes) target = (byte*)allocator.Allocate((nuint)p.Bytes);
            if (target == null) Throw.OutOfMemory($"'{Name}': the allocator returned no memory for {p.Bytes} bytes");
            new RecordCursor(payload[p.PayloadOffset..], 0, rec.Owner).ReadBlobView(verify: false).CopyTo(new Span<byte>(target, p.Bytes), claim: false);
        }
        if (ctx.InPlace.Count > 0) MapInPlace(ctx, kho);
        Buffer.MemoryCopy(work, obj, Size, Size);
        foreach (var (d, offset, version) in ctx.PostLoads)
        {
            int rc = d.PostLoad!(obj + offset, version);
            if (rc != 0)
            {
                Buffer.MemoryCopy(ctx.Original, obj, Size, Size); // the object as it was
                FreeConverted(ctx, kho);
                throw new KStateHookException($"post_load of '{d.Name}' returned {rc}; the object was left as it was and its folios are still to restore", rc);
            }
        }
        foreach (ulong phys in ctx.Folios)
        {
            if (kho!.TryRestoreFolio(phys, out _)) continue;
            Buffer.MemoryCopy(ctx.Original, obj, Size, Size); // claimed meanwhile by someone else: this restore did not happen
            FreeConverted(ctx, kho);
            Throw.Corrupt($"'{Name}': folio 0x{phys:x} was restored by someone else while this restore ran");
        }
        if (ctx.InPlace.Count > 0 && !ClaimInPlace(ctx, kho, out ulong lost))
        {
            Buffer.MemoryCopy(ctx.Original, obj, Size, Size);
            FreeConverted(ctx, kho);
            Throw.Corrupt($"'{Name}': in-place memory 0x{lost:x} was restored by someone else while this restore ran");
        }
        foreach (var p in ctx.Pointers)
            new RecordCursor(payload[p.PayloadOffset..], ctx.PayloadBase + p.PayloadOffset, rec.Owner).ReadBlobView(verify: false).Claim(ctx.PayloadBase + p.PayloadOffset);
    }
}

/// <summary>A pointee to fill once the whole record has parsed.</summary>
internal readonly record struct PendingPointer(int SlotOffset, int PayloadOffset, int Bytes, long CapacityBytes);

/// <summary>Per-thread scratch for restores (staging buffers in native memory), reused so that the hot path allocates nothing.</summary>
internal sealed unsafe class RestoreContext
{
    [ThreadStatic] private static RestoreContext? t_cached;
    private int _capacity;

    public List<PendingPointer> Pointers { get; } = [];
    public List<ulong> Folios { get; } = [];
    public List<(KStateDescription, int, int)> PostLoads { get; } = [];
    public List<PendingInPlace> InPlace { get; } = [];
    public RecordReader? Reader { get; set; }
    public KStateSchema? SavedSchema { get; set; } // the stream's schema, read when a conversion first needs it
    public long PayloadBase { get; set; }
    public byte* Work { get; private set; }
    public byte* Original { get; private set; }

    public static RestoreContext Rent(int size)
    {
        var ctx = t_cached ?? new RestoreContext();
        t_cached = null; // a restore that re-enters (a hook restoring another object) gets its own context
        if (ctx._capacity < size)
        {
            ctx.FreeBuffers();
            ctx.Work = (byte*)System.Runtime.InteropServices.NativeMemory.Alloc((nuint)size);
            ctx.Original = (byte*)System.Runtime.InteropServices.NativeMemory.Alloc((nuint)size);
            ctx._capacity = size;
        }
        return ctx;
    }

    public static void Return(RestoreContext ctx)
    {
        ctx.Pointers.Clear();
        ctx.Folios.Clear();
        ctx.PostLoads.Clear();
        ctx.InPlace.Clear();
        ctx.Reader = null;
        ctx.SavedSchema = null;
        t_cached = ctx;
    }

    private void FreeBuffers()
    {
        System.Runtime.InteropServices.NativeMemory.Free(Work);
        System.Runtime.InteropServices.NativeMemory.Free(Original);
        Work = Original = null;
        _capacity = 0;
    }

    ~RestoreContext() => FreeBuffers();
}
