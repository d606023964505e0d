using System.Buffers.Binary;
using System.Diagnostics;
using System.IO.Hashing;

namespace KState.Cli;

/// <summary>
/// A live update across two real processes on the KHO emulator: this process fills folios with state, preserves
/// them, finalizes and exits its region; a new process of this program boots on it, restores every folio and checks
/// every byte.
/// </summary>
internal static class Demo
{
    public static int Run(string[] args)
    {
        string region = $"/dev/shm/kstate-demo-{Environment.ProcessId}";
        int folios = 256;
        for (int i = 0; i + 1 < args.Length; i += 2)
        {
            if (args[i] == "--region") region = args[i + 1];
            else if (args[i] == "--folios") folios = int.Parse(args[i + 1]);
        }
        ulong size = Math.Max(16UL << 20, (ulong)folios * 2 * 4096 * 4);
        Kho.RemoveRegion(region);
        try
        {
            var sw = Stopwatch.StartNew();
            var manifest = new byte[4 + folios * 16];
            BinaryPrimitives.WriteInt32LittleEndian(manifest, folios);
            using (var kho = Kho.Init(region, size))
            {
                var rng = new Random(42);
                for (int i = 0; i < folios; i++)
                {
                    var folio = kho.AllocFolio(i % 3);
                    rng.NextBytes(kho.FolioSpan(folio));
                    kho.PreserveFolio(folio);
                    BinaryPrimitives.WriteUInt64LittleEndian(manifest.AsSpan(4 + i * 16), folio.Phys);
                    BinaryPrimitives.WriteUInt64LittleEndian(manifest.AsSpan(12 + i * 16), XxHash3.HashToUInt64(kho.FolioSpan(folio)));
                }
                kho.AddSubtree("demo", manifest);
                kho.FinalizeHandover();
                Console.WriteLine($"generation 1 (pid {Environment.ProcessId}): preserved {folios} folios, finalized generation {kho.BootGeneration + 1} in {sw.Elapsed.TotalMilliseconds:F2} ms");
            }
            var psi = new ProcessStartInfo(Environment.ProcessPath!) { UseShellExecute = false };
            if (Path.GetFileNameWithoutExtension(Environment.ProcessPath) == "dotnet") psi.ArgumentList.Add(typeof(Demo).Assembly.Location);
            foreach (var a in new[] { "demo-next", region, folios.ToString() }) psi.ArgumentList.Add(a);
            using var child = Process.Start(psi)!;
            child.WaitForExit();
            Console.WriteLine(child.ExitCode == 0 ? $"live update done in {sw.Elapsed.TotalMilliseconds:F1} ms (including process start)" : "live update FAILED");
            return child.ExitCode;
        }
        finally
        {
            Kho.RemoveRegion(region);
        }
    }

    public static int NextGeneration(string region, int expected)
    {
        var sw = Stopwatch.StartNew();
        using var kho = Kho.Init(region, 0);
        double bootMs = sw.Elapsed.TotalMilliseconds;
        Console.WriteLine($"generation 2 (pid {Environment.ProcessId}): {kho.BootReport} (boot {bootMs:F2} ms)");
        if (!kho.IsKhoBoot) return 1;
        var manifest = kho.RetrieveSubtree("demo");
        int count = BinaryPrimitives.ReadInt32LittleEndian(manifest);
        int verified = 0;
        ulong bytes = 0;
        for (int i = 0; i < count; i++)
        {
            ulong phys = BinaryPrimitives.ReadUInt64LittleEndian(manifest[(4 + i * 16)..]);
            ulong hash = BinaryPrimitives.ReadUInt64LittleEndian(manifest[(12 + i * 16)..]);
            if (kho.TryRestoreFolio(phys, out var folio) && XxHash3.HashToUInt64(kho.FolioSpan(folio)) == hash)
            {
                verified++;
                bytes += folio.Size;
            }
        }
        Console.WriteLine($"generation 2: restored and verified {verified}/{expected} folios ({bytes / 1024} KiB), unrestored {kho.ListUnrestored().Count}, in {sw.Elapsed.TotalMilliseconds:F2} ms");
        return verified == expected && count == expected ? 0 : 1;
    }
}
