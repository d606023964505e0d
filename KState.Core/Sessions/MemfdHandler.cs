namespace KState;

/// <summary>
/// The item handler for <see cref="MemfdBuffer"/>s (compatible "kstate-memfd-v1"): preserving a buffer preserves
/// its folios and seals its size; at finalize its record gets its name, size, folios and the XXH3 of its contents,
/// and writes through the buffer are refused until the handover is aborted; after boot every folio is checked
/// (preserved, with its order) and the contents verified before any folio is restored and the buffer handed back. Record layout: docs/FORMAT.md, "Sessions".
/// </summary>
public sealed class MemfdHandler : ItemHandler
{
    /// <summary>Its compatible string.</summary>
    public const string CompatibleString = "kstate-memfd-v1";

    /// <summary>A memfd handler.</summary>
    public MemfdHandler() : base(CompatibleString) { }

    /// <inheritdoc/>
    public override bool CanPreserve(object item) => item is MemfdBuffer { IsPreserved: false };

    /// <inheritdoc/>
    public override void Preserve(ItemContext context)
    {
        var b = Buffer(context);
        if (!ReferenceEquals(b.Kho, context.Kho)) Throw.Invalid($"{b} lives in another region");
        int done = 0;
        try
        {
            foreach (var f in b.Folios)
            {
                context.Kho.PreserveFolio(f);
                done++;
            }
        }
        catch
        {
            for (int i = done - 1; i >= 0; i--) context.Kho.UnpreserveFolio(b.Folios[i]);
            throw;
        }
        b.IsPreserved = true;
    }

    /// <inheritdoc/>
    public override void Unpreserve(ItemContext context)
    {
        var b = Buffer(context);
        for (int i = b.Folios.Count - 1; i >= 0; i--) context.Kho.UnpreserveFolio(b.Folios[i]);
        b.IsPreserved = false;
        b.IsFrozen = false;
    }

    /// <inheritdoc/>
    public override void Freeze(ItemContext context, RecordWriter state)
    {
        var b = Buffer(context);
        state.PutString(b.Name);
        state.PutInt64(b.Size);
        state.PutInt32(b.Folios.Count);
        foreach (var f in b.Folios) state.PutUInt64(f.Handle);
        state.PutUInt64(b.Checksum());
        b.IsFrozen = true;
    }

    /// <inheritdoc/>
    public override void Unfreeze(ItemContext context) => Buffer(context).IsFrozen = false;

    /// <inheritdoc/>
    public override object Retrieve(ItemContext context, RecordCursor state, uint version)
    {
        if (version != 1) throw new KStateVersionException($"memfd record version {version} is unknown");
        var kho = context.Kho;
        string name = state.ReadString();
        long size = state.ReadInt64();
        int count = state.ReadInt32();
        if (count < 0 || count > (state.Remaining - 8) / 8) Throw.Corrupt($"memfd '{name}': {count} folios do not fit its record", state.Offset);
        var handles = new ulong[count];
        long capacity = 0;
        for (int i = 0; i < count; i++)
        {
            handles[i] = state.ReadUInt64();
            var f = Folio.FromHandle(handles[i]);
            if (f.Order > MemfdBuffer.MaxFolioOrder || !kho.CanRestoreFolio(f.Phys, out int order) || order != f.Order)
                Throw.Corrupt($"memfd '{name}': folio {i} (0x{handles[i]:x}) is not a preserved folio of that order");
            capacity += (long)Kho.PageSize << f.Order;
        }
        ulong checksum = state.ReadUInt64();
        try { MemfdBuffer.CheckName(name); }
        catch (KStateInvalidException e) { throw new KStateCorruptException(e.Message); }
        if (size < 0 || size > capacity) Throw.Corrupt($"memfd '{name}': size {size} does not fit its {capacity} bytes of folios");
        if (handles.Distinct().Count() != count) Throw.Corrupt($"memfd '{name}' lists a folio twice");

        // Checked before anything is restored: damaged contents stay unrestored, with KHO's leak report.
        var preserved = handles.Select(Folio.FromHandle).ToList();
        if (MemfdBuffer.Checksum(kho, preserved, size) != checksum)
            Throw.Corrupt($"memfd '{name}': contents do not match their checksum");
        var folios = new List<Folio>(count);
        foreach (var f in preserved)
        {
            if (!kho.TryRestoreFolio(f.Phys, out var restored))
            {
                foreach (var r in folios) kho.PutFolio(r);
                Throw.Corrupt($"memfd '{name}': folio 0x{f.Phys:x} could not be restored");
            }
            folios.Add(restored);
        }
        var buffer = MemfdBuffer.Adopt(kho, name, size, folios);
        return buffer;
    }

    private static MemfdBuffer Buffer(ItemContext context) =>
        context.Item as MemfdBuffer ?? throw new KStateInvalidException($"item {context.Token} is not a memfd buffer");
}
