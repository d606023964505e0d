using System.Buffers.Binary;
using System.IO.Hashing;
using KState;

namespace KState.TestHost;

/// <summary>Generations of a KHO live-update chain. Each generation checks everything the previous one handed over,
/// then hands over new folios and a range of its own, described by a "test-manifest" subtree.</summary>
internal static unsafe class KhoScenarios
{
    private const string Manifest = "test-manifest";
    private const ulong RegionSize = 32 << 20;

    private record struct Entry(ulong Phys, int Order, bool IsRange, ulong Bytes, ulong Hash);

    public static int Generation(string region, int seed, int generation)
    {
        using var kho = Kho.Init(region, RegionSize, new KhoOptions { Poison = true });
        Console.WriteLine($"gen {generation}: {kho.BootReport}");
        if (generation > 1) CheckIncoming(kho, generation);
        else Require(!kho.IsKhoBoot, "first generation must boot cold");

        var rng = new Random(seed * 1000 + generation);
        var entries = new List<Entry>();
        for (int i = 0; i < 24; i++)
        {
            var folio = kho.AllocFolio(rng.Next(0, 6));
            var span = kho.FolioSpan(folio);
            rng.NextBytes(span);
            kho.PreserveFolio(folio);
            entries.Add(new Entry(folio.Phys, folio.Order, false, folio.Size, XxHash3.HashToUInt64(span)));
        }
        // A range of 5 pages inside an order-3 folio: split into blocks of order 0 and 2, or 2 and 0.
        var big = kho.AllocFolio(3);
        ulong rangePhys = big.Phys + (ulong)(rng.Next(0, 4) * Kho.PageSize);
        var range = kho.PhysSpan(rangePhys, 5 * Kho.PageSize);
        rng.NextBytes(range);
        kho.PreservePhys(rangePhys, (ulong)range.Length);
        entries.Add(new Entry(rangePhys, 0, true, (ulong)range.Length, XxHash3.HashToUInt64(range)));
        // A folio that is filled but not preserved: the next generation must find it poisoned.
        var dropped = kho.AllocFolio(0);
        kho.FolioSpan(dropped).Fill(0xA5);

        var blob = new byte[16 + entries.Count * 32];
        BinaryPrimitives.WriteInt32LittleEndian(blob, entries.Count);
        BinaryPrimitives.WriteUInt64LittleEndian(blob.AsSpan(8), dropped.Phys);
        for (int i = 0; i < entries.Count; i++)
        {
            var e = entries[i];
            var s = blob.AsSpan(16 + i * 32);
            BinaryPrimitives.WriteUInt64LittleEndian(s, e.Phys);
            BinaryPrimitives.WriteInt32LittleEndian(s[8..], e.Order | (e.IsRange ? 0x100 : 0));
            BinaryPrimitives.WriteUInt32LittleEndian(s[12..], (uint)e.Bytes);
            BinaryPrimitives.WriteUInt64LittleEndian(s[16..], e.Hash);
        }
        kho.AddSubtree(Manifest, blob);
        kho.AddSubtree($"gen-{generation}", BitConverter.GetBytes(generation));
        kho.FinalizeHandover();
        Console.WriteLine($"gen {generation}: handed over {entries.Count} blocks");
        return 0;
    }

    private static void CheckIncoming(Kho kho, int generation)
    {
        Require(kho.IsKhoBoot, $"generation {generation} expected a KHO boot: {kho.BootReport}");
        Require(kho.TryRetrieveSubtree($"gen-{generation - 1}", out var genBlob) && BitConverter.ToInt32(genBlob) == generation - 1, "gen subtree");
        var blob = kho.RetrieveSubtree(Manifest).ToArray();
        int count = BinaryPrimitives.ReadInt32LittleEndian(blob);
        ulong dropped = BinaryPrimitives.ReadUInt64LittleEndian(blob.AsSpan(8));
        // Unpreserved memory was released and poisoned before anyone could allocate it.
        var poisoned = kho.PhysSpan(dropped, Kho.PageSize);
        Require(!poisoned.ContainsAnyExcept(Kho.PoisonByte), "unpreserved folio was not poisoned");
        for (int i = 0; i < count; i++)
        {
            var s = blob.AsSpan(16 + i * 32);
            ulong phys = BinaryPrimitives.ReadUInt64LittleEndian(s);
            int kind = BinaryPrimitives.ReadInt32LittleEndian(s[8..]);
            int bytes = (int)BinaryPrimitives.ReadUInt32LittleEndian(s[12..]);
            ulong hash = BinaryPrimitives.ReadUInt64LittleEndian(s[16..]);
            ReadOnlySpan<byte> data;
            if ((kind & 0x100) != 0)
            {
                Require(kho.TryRestorePhys(phys, (ulong)bytes), $"range 0x{phys:x} did not restore");
                Require(!kho.TryRestorePhys(phys, (ulong)bytes), "a range restored twice");
                data = kho.PhysSpan(phys, bytes);
            }
            else
            {
                Require(kho.TryRestoreFolio(phys, out var folio), $"folio 0x{phys:x} did not restore");
                Require(folio.Order == kind, $"folio 0x{phys:x} came back with order {folio.Order}, not {kind}");
                Require(!kho.TryRestoreFolio(phys, out _), "a folio restored twice");
                data = kho.FolioSpan(folio);
            }
            Require(XxHash3.HashToUInt64(data) == hash, $"block 0x{phys:x} contents differ");
        }
        Require(!kho.TryRestoreFolio(dropped, out _), "a never-preserved folio restored");
        Require(kho.ListUnrestored().Count == 0, "blocks left unrestored");
        Console.WriteLine($"gen {generation}: restored and verified {count} blocks");
    }

    /// <summary>Boots the region and holds it until standard input closes.</summary>
    public static int Hold(string region)
    {
        using var kho = Kho.Init(region, 0);
        Console.WriteLine("ready");
        Console.Out.Flush();
        Console.In.ReadToEnd();
        return 0;
    }

    /// <summary>Boots and dies the hard way after ingest, before the handover is consumed.</summary>
    public static int CrashInBoot(string region)
    {
        using var kho = Kho.Init(region, 0, new KhoOptions { BeforeConsume = () => System.Diagnostics.Process.GetCurrentProcess().Kill() });
        return 0;
    }

    private static void Require(bool ok, string what)
    {
        if (!ok) throw new InvalidOperationException(what);
    }
}
