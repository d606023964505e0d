using System.Buffers.Binary;
using KState.TestHost.Shared;
using KState.Tests.Machine;
using KState.Tests.Support;

namespace KState.Tests.Reliability;

/// <summary>
/// Damage to vmalloc chunk lists and their records: bit flips, byte runs and huge values in every chunk's header and
/// entries, and made-up records. Each damaged restore must end in a specific KState error with nothing claimed (so the
/// same boot can try the next one), and the intact list must restore with the right frames and bytes at the end.
/// </summary>
[NonParallelizable]
public class ChunkListMutationTests
{
    [Test]
    public void Five_thousand_damaged_chunk_lists_are_refused_and_claim_nothing() => Sweep(5_000, 2026);

    [Test, Category("Stress")]
    public void Two_hundred_thousand_damaged_chunk_lists_are_refused_and_claim_nothing() => Sweep(200_000, Environment.GetEnvironmentVariable("KSTATE_SEED") is { } s ? int.Parse(s, System.Globalization.CultureInfo.InvariantCulture) : Environment.TickCount);

    private static void Sweep(int cases, int seed)
    {
        using var r = new TestRegion("chunk-mut");
        KhoVmalloc record;
        ulong[] frames;
        using (var kho = r.Boot(16 << 20))
        {
            RegionShapes.Fragment(kho);
            var area = kho.Vmalloc(1100 * 4096); // three chunks of order-0 frames
            new Random(seed).NextBytes(area.Span);
            frames = area.Frames.ToArray();
            record = kho.PreserveVmalloc(area);
            kho.FinalizeHandover();
        }
        using (var kho = r.Boot(0))
        {
            var chunks = new List<ulong>();
            for (ulong c = record.First; c != 0; c = BinaryPrimitives.ReadUInt64LittleEndian(kho.PhysSpan(c + 8, 8))) chunks.Add(c);
            Assert.That(chunks, Has.Count.EqualTo(3));
            int waiting = kho.ListUnrestored().Count;
            var rng = new Random(seed);
            var outcomes = new Dictionary<string, int>();
            for (int i = 0; i < cases; i++)
            {
                string kind;
                KhoVmalloc tried = record;
                byte[]? saved = null;
                Span<byte> chunk = default;
                if (rng.Next(8) == 0)
                {
                    kind = "record";
                    tried = MadeUp(record, chunks, frames, rng);
                    if (tried == record) continue;
                }
                else
                {
                    ulong c = chunks[rng.Next(chunks.Count)];
                    int used = 16 + 8 * (int)BinaryPrimitives.ReadUInt32LittleEndian(kho.PhysSpan(c + 4, 4));
                    chunk = kho.PhysSpan(c, used);
                    saved = chunk.ToArray();
                    kind = Mutate(chunk, rng);
                    if (chunk.SequenceEqual(saved)) continue; // unchanged: not damage
                    if (Reordered(saved, chunk))
                    {
                        saved.CopyTo(chunk); // the same frames in another order is a valid list: content checks catch that, not the list's
                        continue;
                    }
                }
                try
                {
                    kho.RestoreVmalloc(tried);
                    Assert.Fail($"seed {seed} case {i}: a damaged {kind} restored");
                }
                catch (KStateException e) when (e is KStateCorruptException or KStateNotFoundException)
                {
                    string key = $"{kind}: {e.GetType().Name}";
                    outcomes[key] = outcomes.GetValueOrDefault(key) + 1;
                }
                finally
                {
                    saved?.CopyTo(chunk);
                }
                Assert.That(kho.ListUnrestored(), Has.Count.EqualTo(waiting), $"seed {seed} case {i}: a refused {kind} claimed something");
            }
            var restored = kho.RestoreVmalloc(record);
            Assert.That(restored.Frames.ToArray(), Is.EqualTo(frames), $"seed {seed}");
            var expected = new byte[restored.Span.Length];
            new Random(seed).NextBytes(expected);
            Assert.That(restored.Span.SequenceEqual(expected), Is.True, $"seed {seed}");
            TestContext.Out.WriteLine($"seed {seed}: {cases} damaged chunk lists and records, all refused with nothing claimed");
            foreach (var (k, n) in outcomes.OrderBy(o => o.Key)) TestContext.Out.WriteLine($"  {k}: {n}");
        }
    }

    /// <summary>True when only the order of the entries changed (flipping the one bit in which two frames' phys
    /// differ, in both, swaps them).</summary>
    private static bool Reordered(ReadOnlySpan<byte> before, ReadOnlySpan<byte> after)
    {
        if (!before[..16].SequenceEqual(after[..16])) return false;
        static ulong[] Entries(ReadOnlySpan<byte> chunk)
        {
            var e = new ulong[(chunk.Length - 16) / 8];
            for (int i = 0; i < e.Length; i++) e[i] = BinaryPrimitives.ReadUInt64LittleEndian(chunk[(16 + 8 * i)..]);
            Array.Sort(e);
            return e;
        }
        return Entries(before).AsSpan().SequenceEqual(Entries(after));
    }

    /// <summary>Damages a chunk's header or entries in place; returns what it did.</summary>
    private static string Mutate(Span<byte> chunk, Random rng)
    {
        switch (rng.Next(4))
        {
            case 0:
                for (int k = rng.Next(1, 5); k > 0; k--) chunk[rng.Next(chunk.Length)] ^= (byte)(1 << rng.Next(8));
                return "bit flips";
            case 1:
                int at = rng.Next(chunk.Length), n = rng.Next(1, 33);
                chunk.Slice(at, Math.Min(n, chunk.Length - at)).Fill((byte)(rng.Next(3) switch { 0 => 0, 1 => 0xFF, _ => rng.Next(256) }));
                return "byte run";
            case 2:
                int word = rng.Next(chunk.Length / 4) * 4;
                BinaryPrimitives.WriteUInt32LittleEndian(chunk[word..], rng.Next(2) == 0 ? uint.MaxValue : (uint)rng.Next());
                return "huge value";
            default:
                int field = rng.Next(chunk.Length / 8) * 8; // a next phys or an entry: another page of the region, or anything
                BinaryPrimitives.WriteUInt64LittleEndian(chunk[field..], Kho.PhysBase + (ulong)rng.Next(0, 1 << 13) * 4096 + (rng.Next(4) == 0 ? (ulong)rng.Next(4096) : 0));
                return "other phys";
        }
    }

    private static KhoVmalloc MadeUp(KhoVmalloc record, List<ulong> chunks, ulong[] frames, Random rng) => rng.Next(5) switch
    {
        0 => record with { First = rng.Next(2) == 0 ? chunks[rng.Next(1, chunks.Count)] : frames[rng.Next(frames.Length)] },
        1 => record with { TotalPages = (uint)rng.Next(2) == 0 ? (uint)rng.Next() : record.TotalPages + (uint)rng.Next(-3, 4) },
        2 => record with { Flags = (ushort)rng.Next(65536) },
        3 => record with { Order = (ushort)rng.Next(2) == 0 ? (ushort)rng.Next(1, 12) : (ushort)rng.Next(65536) },
        _ => record with { First = (ulong)rng.NextInt64() },
    };
}
