using CsCheck;
using KState.Core.Records;
using KState.Inspection;
using KState.TestHost;
using KState.Tests.Support;

namespace KState.Tests.Reliability;

/// <summary>
/// Damage of every kind to a finalized region that carries KSTATE objects: bit flips, byte runs, huge lengths,
/// swapped pages, truncation. Each case is booted, restored, inspected and verified: it must end in success with
/// correct data or in a specific KState error; a crash or a read outside the region would end the test process.
/// Also the fuzzing entry point: a CsCheck-driven mutator over the stream reader (see docs/RELIABILITY.md).
/// </summary>
[NonParallelizable]
public class MutationTests
{
    private const ulong RegionSize = 1 << 20;

    [Test]
    public void Two_thousand_damaged_regions_end_in_correct_data_or_a_specific_error() => Sweep(2_000, 2026);

    [Test, Category("Stress")]
    public void A_hundred_thousand_damaged_regions_end_in_correct_data_or_a_specific_error() => Sweep(100_000, Environment.TickCount);

    private static byte[] Pristine(string path, int seed)
    {
        // Three generations of the model service in a 1 MiB region: the last one stays handed over.
        SoakScenario.Run(path, seed, 3, RegionSize);
        return File.ReadAllBytes(path);
    }

    private static void Sweep(int cases, int seed)
    {
        using var region = new TestRegion("mut");
        var pristine = Pristine(region.Path, seed);
        var rng = new Random(seed);
        var outcomes = new Dictionary<string, int>();
        for (int i = 0; i < cases; i++)
        {
            var bytes = (byte[])pristine.Clone();
            string kind = Mutate(bytes, rng, out int length);
            File.WriteAllBytes(region.Path, length == bytes.Length ? bytes : bytes[..length]);
            string outcome = Exercise(region.Path, seed);
            outcomes[$"{kind}: {outcome}"] = outcomes.GetValueOrDefault($"{kind}: {outcome}") + 1;
        }
        TestContext.Out.WriteLine($"seed {seed}: {cases} damaged regions, each booted, restored, inspected and verified; 0 crashes");
        foreach (var (k, n) in outcomes.OrderBy(o => o.Key)) TestContext.Out.WriteLine($"  {k}: {n}");
    }

    /// <summary>Damages the image in one of several ways; returns what it did and the image's new length.</summary>
    private static string Mutate(byte[] b, Random rng, out int length)
    {
        length = b.Length;
        // Most of what matters sits in the first 256 KiB (header, slots, map, scratch, the first allocations).
        int Hot() => rng.Next(0, rng.Next(4) == 0 ? b.Length : 256 * 1024);
        switch (rng.Next(6))
        {
            case 0:
                for (int k = rng.Next(1, 9); k > 0; k--) b[Hot()] ^= (byte)(1 << rng.Next(8));
                return "bit flips";
            case 1:
                int at = Hot(), n = rng.Next(1, 65);
                byte fill = (byte)(rng.Next(3) switch { 0 => 0, 1 => 0xFF, _ => rng.Next(256) });
                b.AsSpan(at, Math.Min(n, b.Length - at)).Fill(fill);
                return "byte run";
            case 2:
                int word = Hot() & ~3;
                BitConverter.TryWriteBytes(b.AsSpan(word), rng.Next(2) == 0 ? uint.MaxValue : (uint)rng.Next());
                return "huge length";
            case 3:
                int p1 = rng.Next(b.Length / 4096) * 4096, p2 = rng.Next(b.Length / 4096) * 4096;
                var tmp = b.AsSpan(p1, 4096).ToArray();
                b.AsSpan(p2, 4096).CopyTo(b.AsSpan(p1));
                tmp.CopyTo(b.AsSpan(p2));
                return "swapped pages";
            case 4:
                length = rng.Next(0, b.Length);
                return "truncated";
            default:
                int pos = b.AsSpan().IndexOf("kho-v1"u8);
                if (pos >= 0) b[pos + 5] = (byte)'2';
                return "compatible kho-v2";
        }
    }

    /// <summary>Inspect, verify, boot and restore: "ok" or the KState error's kind. Anything else fails the test.</summary>
    private static string Exercise(string path, int seed)
    {
        string verdict;
        try
        {
            using var inspector = KhoInspector.Open(path);
            RegionReport.Read(inspector);
            verdict = "verifies";
        }
        catch (KStateException e)
        {
            verdict = e.GetType().Name.Replace("KState", "").Replace("Exception", "").ToLowerInvariant();
        }
        try
        {
            using var kho = Kho.Init(path, 0);
            if (!kho.IsKhoBoot) return $"{verdict}, cold boot";
            SoakScenario.Verify(kho, seed); // correct data, or a specific error
            return $"{verdict}, restored correctly";
        }
        catch (KStateException e)
        {
            return $"{verdict}, {e.GetType().Name}";
        }
    }

    /// <summary>The fuzzing entry point for the stream reader: CsCheck generates mutations of a valid stream image
    /// (and shrinks any failure to a minimal one, printing the seed). KSTATE_FUZZ_ITERATIONS sets how many.</summary>
    [Test, Category("Stress")]
    public void Fuzz_the_stream_reader()
    {
        int iterations = int.TryParse(Environment.GetEnvironmentVariable("KSTATE_FUZZ_ITERATIONS"), out int n) ? n : 100_000;
        using var mem = new BufferSegmentMemory(1 << 20);
        var set = new StreamSet(mem);
        var w = set.Create("main");
        for (int i = 0; i < 20; i++)
        {
            w.BeginRecord(1, (ulong)i, 1);
            w.PutBlob(new byte[i * 40]);
            w.BeginNested(2, 0, 1);
            w.PutUInt64((ulong)i);
            w.EndNested();
            w.EndRecord();
        }
        var root = set.Complete();
        var image = mem.Image.ToArray();
        Gen.Select(Gen.Int[0, image.Length - 1], Gen.Byte).Array[1, 16].Sample(flips =>
        {
            var bad = (byte[])image.Clone();
            foreach (var (at, x) in flips) bad[at] ^= x;
            try
            {
                var incoming = new StreamSet(new BufferSegmentMemory(bad));
                incoming.LoadIncoming(root);
                var r = incoming.Open("main");
                r.Verify();
                foreach (var rec in r)
                {
                    var c = rec.Cursor;
                    c.ReadBlob();
                    c.TryReadNested(out _);
                }
            }
            catch (KStateException)
            {
            }
            return true;
        }, iter: iterations);
    }
}
