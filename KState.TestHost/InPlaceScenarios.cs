using System.Buffers.Binary;
using System.IO.Hashing;
using System.Runtime.InteropServices;
using KState;
using KState.TestHost.Shared;

namespace KState.TestHost;

/// <summary>Generations handing over memory used in place: a run of pages, an allocate-and-preserve folio and a vmalloc
/// area larger than any free contiguous run, described by an "inplace-manifest" subtree. Each generation checks the
/// same phys came back with the previous generation's bytes, that a wrong length and a second restore are refused,
/// rewrites the bytes and hands the same memory on.</summary>
internal static unsafe class InPlaceScenarios
{
    private const string Manifest = "inplace-manifest";
    private const ulong RegionSize = 32 << 20;
    private const uint RunPages = 5, VmallocPages = 1100;

    // Manifest: run phys, alloc-preserve phys, dropped phys (restore-free), then the struct kho_vmalloc (16 bytes).
    private const int ManifestBytes = 24 + 16;

    public static int Generation(string region, int generation)
    {
        using var kho = Kho.Init(region, RegionSize, new KhoOptions { Poison = true });
        ulong run, kept;
        VmallocArea area;
        if (generation == 1)
        {
            Require(!kho.IsKhoBoot, "first generation must boot cold");
            run = kho.AllocFolio(3).Phys + Kho.PageSize; // 5 pages inside an order-3 folio: not a power of two, not aligned
            kept = kho.AllocPreserve(3 * Kho.PageSize + 5).Phys;
            var hold = RegionShapes.Fragment(kho); // no two free pages adjacent: the area cannot be one contiguous run
            Require(!kho.TryAllocFolio(1, out _), "the region is not fragmented");
            area = kho.Vmalloc(VmallocPages * (ulong)Kho.PageSize);
            Require(area.Order == 0, $"area frames of order {area.Order} in a fragmented region");
            foreach (var f in hold) kho.PutFolio(f); // only the area and its frames stay
        }
        else
        {
            Require(kho.IsKhoBoot, $"generation {generation} expected a KHO boot: {kho.BootReport}");
            var m = kho.RetrieveSubtree(Manifest);
            run = BinaryPrimitives.ReadUInt64LittleEndian(m);
            kept = BinaryPrimitives.ReadUInt64LittleEndian(m[8..]);
            ulong dropped = BinaryPrimitives.ReadUInt64LittleEndian(m[16..]);
            var record = MemoryMarshal.Read<KhoVmalloc>(m[24..]);

            Require(!kho.TryRestorePages(run, RunPages - 1), "a shorter run restored");
            Require(!kho.TryRestorePages(run, RunPages + 1), "a longer run restored");
            Require(!kho.TryRestorePages(run + (ulong)Kho.PageSize, RunPages - 1), "a shifted run restored");
            Require(kho.TryRestorePages(run, RunPages), "the run did not restore");
            Require(!kho.TryRestorePages(run, RunPages), "the run restored twice");
            Require(Holds(kho.PhysSpan(run, (int)RunPages * Kho.PageSize), generation - 1), "the run's bytes differ");

            Require(kho.TryRestoreFolio(kept, out var folio) && folio.Order == 2, "the alloc-preserve folio did not restore as order 2");
            Require(!kho.TryRestoreFolio(kept, out _), "the folio restored twice");
            Require(Holds(kho.FolioSpan(folio), generation - 1), "the folio's bytes differ");

            kho.RestoreFree(dropped);
            Expect<KStateNotFoundException>(() => kho.RestoreFree(dropped), "restore-free twice");

            area = kho.RestoreVmalloc(record);
            Expect<KStateNotFoundException>(() => kho.RestoreVmalloc(record), "the area restored twice");
            Require(Holds(area.Span, generation - 1), "the area's bytes differ");
            Require(kho.DangerousVirtToPhys((void*)(area.Address + 4096 * 7 + 9)) == area.Frames[7] + 9, "an area address translates wrong");
            Require(kho.ListUnrestored().Count == 0, "blocks left unrestored");
        }
        Fill(kho.PhysSpan(run, (int)RunPages * Kho.PageSize), generation);
        kho.PreservePages(run, RunPages);
        var keptFolio = new Folio(kept, 2);
        Fill(kho.FolioSpan(keptFolio), generation);
        if (generation > 1) kho.PreserveFolio(keptFolio);
        Fill(area.Span, generation);
        var preservation = kho.PreserveVmalloc(area);
        ulong drop = kho.AllocPreserve(1).Phys;

        var blob = new byte[ManifestBytes];
        BinaryPrimitives.WriteUInt64LittleEndian(blob, run);
        BinaryPrimitives.WriteUInt64LittleEndian(blob.AsSpan(8), kept);
        BinaryPrimitives.WriteUInt64LittleEndian(blob.AsSpan(16), drop);
        MemoryMarshal.Write(blob.AsSpan(24), in preservation);
        kho.AddSubtree(Manifest, blob);
        kho.FinalizeHandover();
        ulong frames = XxHash3.HashToUInt64(MemoryMarshal.AsBytes(area.Frames));
        Console.WriteLine($"gen {generation}: run 0x{run:x} folio 0x{kept:x} area {area.Pages} pages frames {frames:x16}");
        return 0;
    }

    /// <summary>Boots after generation 1 and feeds RestoreVmalloc damaged chunk lists, each refused cleanly with
    /// nothing claimed, then restores the intact one.</summary>
    public static int Damaged(string region)
    {
        using var kho = Kho.Init(region, 0);
        var record = MemoryMarshal.Read<KhoVmalloc>(kho.RetrieveSubtree(Manifest)[24..]);
        ulong c0 = record.First, c1 = Read(kho, c0 + 8), frame = Read(kho, c0 + 16);
        Require(c1 != 0, "the area has one chunk page only");
        Require(kho.TryAllocFolio(0, out var stray), "no free page");
        Corrupt(kho, record, "bad-next", c0 + 8, Kho.PhysBase + kho.RegionSize);
        Corrupt(kho, record, "loop", c1 + 8, c0);
        Corrupt(kho, record, "count", c0 + 4, 3, bytes: 4);
        Corrupt(kho, record, "frame-not-preserved", c0 + 16, stray.Phys);
        Corrupt(kho, record, "frame-twice", c0 + 24, frame);
        Refused(kho, "order-too-big", record with { Order = Kho.MaxOrder + 1 });
        Refused(kho, "total-pages", record with { TotalPages = record.TotalPages - 1 });
        var area = kho.RestoreVmalloc(record);
        Require(Holds(area.Span, 1), "the area's bytes differ");
        Console.WriteLine($"restored {area.Pages} pages after the refusals");
        return 0;
    }

    private static void Corrupt(Kho kho, KhoVmalloc record, string what, ulong phys, ulong value, int bytes = 8)
    {
        var span = kho.PhysSpan(phys, bytes);
        byte[] saved = span.ToArray();
        if (bytes == 8) BinaryPrimitives.WriteUInt64LittleEndian(span, value);
        else BinaryPrimitives.WriteUInt32LittleEndian(span, (uint)value);
        try
        {
            Refused(kho, what, record);
        }
        finally
        {
            saved.CopyTo(span);
        }
    }

    private static void Refused(Kho kho, string what, KhoVmalloc record)
    {
        try
        {
            kho.RestoreVmalloc(record);
            throw new InvalidOperationException($"{what}: a damaged chunk list restored");
        }
        catch (KStateCorruptException e)
        {
            Console.WriteLine($"refused {what}: {e.Message}");
        }
    }

    private static ulong Read(Kho kho, ulong phys) => BinaryPrimitives.ReadUInt64LittleEndian(kho.PhysSpan(phys, 8));

    private static void Fill(Span<byte> span, int seed)
    {
        for (int i = 0; i < span.Length; i++) span[i] = (byte)(i * 7 + seed * 13 + (i >> 12));
    }

    private static bool Holds(ReadOnlySpan<byte> span, int seed)
    {
        for (int i = 0; i < span.Length; i++)
            if (span[i] != (byte)(i * 7 + seed * 13 + (i >> 12))) return false;
        return true;
    }

    private static void Expect<TException>(Action action, string what) where TException : Exception
    {
        try
        {
            action();
        }
        catch (TException)
        {
            return;
        }
        throw new InvalidOperationException($"{what}: not refused");
    }

    private static void Require(bool ok, string what)
    {
        if (!ok) throw new InvalidOperationException(what);
    }
}
