using System.Collections.Concurrent;
using System.Numerics;
using System.Runtime.InteropServices;
using KState;
using KState.Tests.Support;

namespace KState.Tests.Machine;

/// <summary>
/// Several threads share one generation: each allocates, fills, preserves, unpreserves and frees its own folios and
/// ranges while keeping its own model of what it preserved. The handover must carry exactly the union of the
/// models, with every byte intact, and the allocator must never hand out the same page twice.
/// </summary>
// Not in parallel with other fixtures: some of them start child processes, and a child that has forked but not yet
// exec'd holds a copy of every open descriptor, a region's flock included, so a region this fixture has just closed
// can look "booted by another process" for a moment. These fixtures open and close regions thousands of times.
[NonParallelizable]
public class ConcurrencyTests
{
    private const int Threads = 4;
    private const ulong Page = (ulong)Kho.PageSize;

    [Test]
    public void Threads_preserving_at_once_hand_over_exactly_the_union_of_what_each_preserved() =>
        RunMixed(opsPerThread: 2_500, maxLivePerThread: 48, Seed(fallback: 31_337), size: 32 << 20);

    [Test]
    [Category("Stress")]
    public void Stress_threads_preserving_at_once_hand_over_exactly_the_union_of_what_each_preserved() =>
        RunMixed(opsPerThread: 100_000, maxLivePerThread: 160, Seed(fallback: Random.Shared.Next()), size: 64 << 20);

    [Test]
    public void Threads_exhausting_memory_together_get_disjoint_folios_and_free_pages_return_to_the_start() =>
        RunExhaustion(rounds: 3, Seed(fallback: 4_242), size: 8 << 20);

    [Test]
    [Category("Stress")]
    public void Stress_threads_exhausting_memory_together_get_disjoint_folios_and_free_pages_return_to_the_start() =>
        RunExhaustion(rounds: 60, Seed(fallback: Random.Shared.Next()), size: 32 << 20);

    private static int Seed(int fallback) =>
        int.TryParse(Environment.GetEnvironmentVariable("KSTATE_TEST_SEED"), out int seed) ? seed : fallback;

    // ---- mixed operations ----

    private static void RunMixed(int opsPerThread, int maxLivePerThread, int seed, ulong size)
    {
        TestContext.Out.WriteLine($"seed {seed}, {Threads} threads x {opsPerThread} operations (rerun with KSTATE_TEST_SEED={seed})");
        using var r = new TestRegion("threads");
        var kho = r.Boot(size);
        List<Worker> workers;
        try
        {
            workers = [.. Enumerable.Range(0, Threads).Select(t => new Worker(kho, t, seed * 31 + t))];
            RunThreads(t => workers[t].Run(opsPerThread, maxLivePerThread), TimeSpan.FromMinutes(10));
            foreach (var w in workers) TestContext.Out.WriteLine(w.Summary());

            var live = workers.SelectMany(w => w.Owned).ToList();
            AssertDisjoint(live.Select(o => o.Folio).ToList(), kho);
            foreach (var o in live)
                if (Mismatch(kho.FolioSpan(o.Folio), o.Folio.Phys, o.Tag) is long at and >= 0)
                    Assert.Fail($"{o.Folio} of thread {o.Thread}: byte {at} changed before the finalize");
            kho.FinalizeHandover();
        }
        finally
        {
            kho.Dispose();
        }

        var owned = workers.SelectMany(w => w.Owned).ToList();
        var expected = owned.SelectMany(Blocks).OrderBy(b => b.Phys).ToList();
        using var next = r.Boot(size);
        Assert.That(next.IsKhoBoot, Is.True, next.BootReport);
        using (Assert.EnterMultipleScope())
        {
            Assert.That(next.ListUnrestored(), Is.EqualTo(expected), "the leak list is the union of the threads' models");
            Assert.That(next.IncomingBlocks, Is.EqualTo(expected.Count));
        }

        ulong freeBefore = next.FreePages, restoredPages = 0;
        var restored = new List<(ulong Phys, ulong Size)>();
        foreach (var o in owned)
        {
            if (o.Preserved)
            {
                Assert.That(next.TryRestoreFolio(o.Folio.Phys, out var got), Is.True, $"{o.Folio} restores");
                Assert.That(got, Is.EqualTo(o.Folio));
                if (Mismatch(next.FolioSpan(got), got.Phys, o.Tag) is long at and >= 0) Assert.Fail($"{got}: byte {at} differs after the handover");
                Assert.That(next.TryRestoreFolio(o.Folio.Phys, out _), Is.False, $"{o.Folio} restores twice");
                restored.Add((got.Phys, got.Size));
            }
            foreach (var (phys, bytes) in o.Ranges)
            {
                Assert.That(RestoreRange(next, phys, bytes), Is.True, $"range 0x{phys:x}+{bytes} restores");
                if (Mismatch(next.PhysSpan(phys, (int)bytes), phys, o.Tag) is long at and >= 0)
                    Assert.Fail($"range 0x{phys:x}+{bytes}: byte {at} differs after the handover");
                restored.Add((phys, bytes));
            }
        }
        Assert.That(next.ListUnrestored(), Is.Empty);

        // Restored memory is owned like allocated memory: it can all be given back.
        foreach (var (phys, bytes) in restored)
        {
            next.FreePhys(phys, bytes);
            restoredPages += bytes / Page;
        }
        Assert.That(next.FreePages, Is.EqualTo(freeBefore + restoredPages));
    }

    /// <summary>A folio a thread owns, and what that thread preserved of it.</summary>
    private sealed class Owned(Folio folio, ulong tag, int thread)
    {
        public Folio Folio { get; } = folio;
        public ulong Tag { get; } = tag;
        public int Thread { get; } = thread;
        public bool Preserved { get; set; }

        /// <summary>Ranges preserved inside the folio (phys, bytes).</summary>
        public List<(ulong Phys, ulong Bytes)> Ranges { get; } = [];
    }

    /// <summary>What the model says the handover carries for a folio: the folio itself, or its ranges split
    /// into naturally aligned pieces (largest first, each at most MaxOrder).</summary>
    private static IEnumerable<PreservedBlock> Blocks(Owned o)
    {
        if (o.Preserved) yield return new PreservedBlock(o.Folio.Phys, o.Folio.Order, IsRange: false);
        foreach (var (phys, bytes) in o.Ranges)
        {
            ulong page = (phys - Kho.PhysBase) / Page, left = bytes / Page;
            while (left > 0)
            {
                int order = page == 0 ? Kho.MaxOrder : Math.Min(Kho.MaxOrder, BitOperations.TrailingZeroCount(page));
                while ((1UL << order) > left) order--;
                yield return new PreservedBlock(Kho.PhysBase + page * Page, order, IsRange: true);
                page += 1UL << order;
                left -= 1UL << order;
            }
        }
    }

    /// <summary>One thread's share of the work, with its own Random and its own model.</summary>
    private sealed class Worker(Kho kho, int id, int seed)
    {
        private readonly Random _rng = new(seed);
        private ulong _serial;
        private int _allocs, _outOfMemory, _frees, _preserves, _unpreserves, _ranges, _rangeUnpreserves, _refusals, _checks;

        public List<Owned> Owned { get; } = [];

        public string Summary() =>
            $"thread {id}: {_allocs} allocs ({_outOfMemory} out of memory), {_frees} frees, {_preserves} preserves, {_unpreserves} unpreserves, "
            + $"{_ranges} ranges, {_rangeUnpreserves} range unpreserves, {_refusals} refusals as predicted, {_checks} checks; "
            + $"{Owned.Count} folios left, {Owned.Count(o => o.Preserved)} preserved, {Owned.Sum(o => o.Ranges.Count)} ranges";

        public void Run(int ops, int maxLive)
        {
            for (int i = 0; i < ops; i++)
            {
                int op = _rng.Next(100);
                if (Owned.Count == 0 || (op < 22 && Owned.Count < maxLive)) Allocate();
                else if (op < 36) Free(Pick(o => !o.Preserved && o.Ranges.Count == 0)); // below 22: at the cap
                else if (op < 52) PreserveFolio(Pick(o => !o.Preserved && o.Ranges.Count == 0));
                else if (op < 62) UnpreserveFolio(Pick(o => o.Preserved));
                else if (op < 76) PreserveRange(Pick(o => !o.Preserved));
                else if (op < 86) UnpreserveRange(Pick(o => o.Ranges.Count > 0));
                else Check(Pick(_ => true));
            }
        }

        /// <summary>Mostly a folio the operation can succeed on; one time in ten any folio, so that refusals are
        /// exercised too (the model predicts them).</summary>
        private Owned Pick(Func<Owned, bool> fits)
        {
            if (_rng.Next(10) != 0)
                for (int i = 0; i < 16; i++)
                {
                    var o = Owned[_rng.Next(Owned.Count)];
                    if (fits(o)) return o;
                }
            return Owned[_rng.Next(Owned.Count)];
        }

        private void Allocate()
        {
            int order = _rng.Next(100) switch { < 40 => 0, < 65 => 1, < 80 => 2, < 90 => 3, < 97 => 4, _ => 6 };
            if (!kho.TryAllocFolio(order, out var folio))
            {
                _outOfMemory++;
                return;
            }
            var span = kho.FolioSpan(folio);
            Require(span.Length == Kho.PageSize << order && folio.Order == order, $"{folio}: asked for order {order}");
            Require(!span.ContainsAnyExcept((byte)0), $"{folio} was not zeroed");
            var o = new Owned(folio, ((ulong)id << 48) | ++_serial, id);
            Fill(span, folio.Phys, o.Tag);
            Owned.Add(o);
            _allocs++;
        }

        private void Free(Owned o)
        {
            if (o.Preserved || o.Ranges.Count > 0)
            {
                Refused<KStateBusyException>(() => kho.PutFolio(o.Folio), $"freeing preserved {o.Folio}");
                return;
            }
            VerifyContents(o);
            kho.PutFolio(o.Folio);
            int i = Owned.IndexOf(o);
            Owned[i] = Owned[^1];
            Owned.RemoveAt(Owned.Count - 1);
            _frees++;
        }

        private void PreserveFolio(Owned o)
        {
            if (o.Preserved || o.Ranges.Count > 0)
            {
                Refused<KStateExistsException>(() => kho.PreserveFolio(o.Folio), $"preserving {o.Folio} again");
                return;
            }
            kho.PreserveFolio(o.Folio);
            o.Preserved = true;
            _preserves++;
        }

        private void UnpreserveFolio(Owned o)
        {
            if (!o.Preserved)
            {
                Refused<KStateNotFoundException>(() => kho.UnpreserveFolio(o.Folio), $"unpreserving {o.Folio}, never preserved");
                return;
            }
            kho.UnpreserveFolio(o.Folio);
            o.Preserved = false;
            _unpreserves++;
        }

        private void PreserveRange(Owned o)
        {
            ulong pages = o.Folio.Pages, first = (ulong)_rng.NextInt64((long)pages);
            ulong count = 1 + (ulong)_rng.NextInt64((long)Math.Min(pages - first, 9));
            ulong phys = o.Folio.Phys + first * Page, bytes = count * Page;
            if (o.Preserved || o.Ranges.Any(x => x.Phys < phys + bytes && phys < x.Phys + x.Bytes))
            {
                Refused<KStateExistsException>(() => kho.PreservePhys(phys, bytes), $"preserving 0x{phys:x}+{bytes} over preserved memory");
                return;
            }
            kho.PreservePhys(phys, bytes);
            o.Ranges.Add((phys, bytes));
            _ranges++;
        }

        private void UnpreserveRange(Owned o)
        {
            if (o.Ranges.Count == 0)
            {
                Refused<KStateNotFoundException>(() => kho.UnpreservePhys(o.Folio.Phys, Page), $"unpreserving a range of {o.Folio} that has none");
                return;
            }
            int i = _rng.Next(o.Ranges.Count);
            var (phys, bytes) = o.Ranges[i];
            if (bytes > Page && _rng.Next(4) == 0)
            {
                Refused<KStateNotFoundException>(() => kho.UnpreservePhys(phys, bytes - Page), $"unpreserving 0x{phys:x}+{bytes} with the wrong size");
                return;
            }
            kho.UnpreservePhys(phys, bytes);
            o.Ranges.RemoveAt(i);
            _rangeUnpreserves++;
        }

        private void Check(Owned o)
        {
            Require(kho.IsPreserved(o.Folio) == o.Preserved, $"{o.Folio}: IsPreserved disagrees with the model ({o.Preserved})");
            VerifyContents(o);
            _checks++;
        }

        private void VerifyContents(Owned o)
        {
            if (Mismatch(kho.FolioSpan(o.Folio), o.Folio.Phys, o.Tag) is long at and >= 0)
                throw new InvalidOperationException($"thread {id}: {o.Folio}: byte {at} changed under it (another thread's folio overlaps it?)");
        }

        private void Refused<T>(Action action, string what) where T : KStateException
        {
            try
            {
                action();
            }
            catch (T)
            {
                _refusals++;
                return;
            }
            throw new InvalidOperationException($"thread {id}: {what} should throw {typeof(T).Name}, it did not");
        }

        private void Require(bool condition, string what)
        {
            if (!condition) throw new InvalidOperationException($"thread {id}: {what}");
        }
    }

    // ---- exhaustion ----

    private static void RunExhaustion(int rounds, int seed, ulong size)
    {
        TestContext.Out.WriteLine($"seed {seed}, {rounds} rounds (rerun with KSTATE_TEST_SEED={seed})");
        using var r = new TestRegion("oom");
        using var kho = r.Boot(size);
        ulong start = kho.FreePages;
        int largest = CountAllocatable(kho, Kho.MaxOrder);
        Assert.That(largest, Is.Positive);
        for (int round = 0; round < rounds; round++)
        {
            var mine = new List<Folio>[Threads];
            RunThreads(t =>
            {
                var rng = new Random(seed * 131 + round * Threads + t);
                var list = mine[t] = [];
                int top = rng.Next(2) == 0 ? 3 : Kho.MaxOrder; // some threads go for big folios too
                while (true)
                {
                    int order = rng.Next(top + 1);
                    if (kho.TryAllocFolio(order, out var f))
                    {
                        Stamp(kho, f, ((ulong)t << 32) | (uint)list.Count);
                        list.Add(f);
                    }
                    else if (order == 0) break; // nothing free at all, and nobody frees during this phase
                    else top = order - 1;       // nothing of this order or above is left
                }
            }, TimeSpan.FromMinutes(5));

            var all = mine.SelectMany(l => l).ToList();
            using (Assert.EnterMultipleScope())
            {
                Assert.That(kho.FreePages, Is.Zero, $"round {round}: memory left after every thread ran out");
                Assert.That(all.Aggregate(0UL, (sum, f) => sum + f.Pages), Is.EqualTo(start), $"round {round}: pages handed out");
            }
            AssertDisjoint(all, kho);
            for (int t = 0; t < Threads; t++)
                for (int i = 0; i < mine[t].Count; i++)
                    Assert.That(IsStamped(kho, mine[t][i], ((ulong)t << 32) | (uint)i), Is.True, $"round {round}: {mine[t][i]} was overwritten");

            RunThreads(t =>
            {
                var rng = new Random(seed * 137 + round * Threads + t);
                var list = mine[t];
                rng.Shuffle(CollectionsMarshal.AsSpan(list));
                foreach (var f in list) kho.PutFolio(f);
            }, TimeSpan.FromMinutes(5));
            Assert.That(kho.FreePages, Is.EqualTo(start), $"round {round}: free pages after everything was freed");
        }
        Assert.That(CountAllocatable(kho, Kho.MaxOrder), Is.EqualTo(largest), "the buddies merged back into the largest folios");
    }

    /// <summary>How many folios of an order can be allocated at once; frees them again.</summary>
    private static int CountAllocatable(Kho kho, int order)
    {
        var got = new List<Folio>();
        while (kho.TryAllocFolio(order, out var f)) got.Add(f);
        foreach (var f in got) kho.PutFolio(f);
        return got.Count;
    }

    private static void Stamp(Kho kho, Folio f, ulong value)
    {
        var span = kho.FolioSpan(f);
        MemoryMarshal.Write(span, value ^ f.Phys);
        MemoryMarshal.Write(span[^8..], ~value ^ f.Phys);
    }

    private static bool IsStamped(Kho kho, Folio f, ulong value)
    {
        var span = kho.FolioSpan(f);
        return MemoryMarshal.Read<ulong>(span) == (value ^ f.Phys) && MemoryMarshal.Read<ulong>(span[^8..]) == (~value ^ f.Phys);
    }

    // ---- shared helpers ----

    /// <summary>Every folio naturally aligned, inside allocatable memory, and no two overlapping.</summary>
    private static void AssertDisjoint(List<Folio> folios, Kho kho)
    {
        var (start, end) = kho.DataRange;
        var sorted = folios.OrderBy(f => f.Phys).ToList();
        for (int i = 0; i < sorted.Count; i++)
        {
            var f = sorted[i];
            if ((f.Phys - Kho.PhysBase) % f.Size != 0) Assert.Fail($"{f} is not naturally aligned");
            if (f.Phys < start || f.Phys + f.Size > end) Assert.Fail($"{f} lies outside allocatable memory [0x{start:x}, 0x{end:x})");
            if (i > 0 && sorted[i - 1].Phys + sorted[i - 1].Size > f.Phys) Assert.Fail($"{sorted[i - 1]} overlaps {f}");
        }
    }

    /// <summary>Runs one body per thread, all released at once; fails with every thread's exception.</summary>
    private static void RunThreads(Action<int> body, TimeSpan timeout)
    {
        var errors = new ConcurrentQueue<Exception>();
        using var go = new Barrier(Threads);
        var threads = new Thread[Threads];
        for (int t = 0; t < Threads; t++)
        {
            int id = t;
            threads[t] = new Thread(() =>
            {
                try
                {
                    go.SignalAndWait();
                    body(id);
                }
                catch (Exception e)
                {
                    errors.Enqueue(e);
                }
            })
            { IsBackground = true, Name = $"kho-worker-{t}" };
        }
        foreach (var t in threads) t.Start();
        foreach (var t in threads)
            if (!t.Join(timeout)) Assert.Fail($"{t.Name} did not finish within {timeout} (deadlock?)");
        if (!errors.IsEmpty) Assert.Fail(string.Join("\n\n", errors));
    }

    private static bool RestoreRange(Kho kho, ulong phys, ulong size) => kho.TryRestorePhys(phys, size);

    /// <summary>The per-folio pattern: each 8-byte word depends on the folio's tag and the word's phys address, so a
    /// range restored on its own can be checked, and a word written by another folio's owner shows.</summary>
    private static ulong Word(ulong tag, ulong phys)
    {
        ulong z = (tag * 0x9E37_79B9_7F4A_7C15) ^ phys;
        z = (z ^ (z >> 30)) * 0xBF58_476D_1CE4_E5B9;
        z = (z ^ (z >> 27)) * 0x94D0_49BB_1331_11EB;
        return z ^ (z >> 31);
    }

    private static void Fill(Span<byte> span, ulong phys, ulong tag)
    {
        var words = MemoryMarshal.Cast<byte, ulong>(span);
        for (int i = 0; i < words.Length; i++) words[i] = Word(tag, phys + (ulong)i * 8);
    }

    /// <returns>Offset of the first byte that differs from the pattern, or -1.</returns>
    private static long Mismatch(ReadOnlySpan<byte> span, ulong phys, ulong tag)
    {
        var words = MemoryMarshal.Cast<byte, ulong>(span);
        for (int i = 0; i < words.Length; i++)
            if (words[i] != Word(tag, phys + (ulong)i * 8)) return (long)i * 8;
        return -1;
    }
}
