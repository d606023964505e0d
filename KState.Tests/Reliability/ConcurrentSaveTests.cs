using System.Runtime.InteropServices;
using KState.Tests.Support;

namespace KState.Tests.Reliability;

/// <summary>Threads saving, registering and preserving at once; the handover then restores exactly what they did.</summary>
[NonParallelizable]
public unsafe class ConcurrentSaveTests
{
    [StructLayout(LayoutKind.Sequential)]
    private struct Item
    {
        public ulong Id;
        public ulong Value;
        public Folio Page;
    }

    private static readonly KStateDescription ItemV1 = KStateDescriptionBuilder<Item>.Create("acme-test/item", 1, 1)
        .Base((ref Item i) => ref i.Id)
        .Base((ref Item i) => ref i.Value)
        .Folio((ref Item i) => ref i.Page)
        .Build();

    [Test]
    public void Threads_saving_registering_and_preserving_at_once_hand_over_exactly_their_work() => Run(threads: 4, perThread: 200);

    [Test, Category("Stress")]
    public void Threads_saving_registering_and_preserving_at_once_stress() => Run(threads: 8, perThread: 1000);

    private static void Run(int threads, int perThread)
    {
        using var region = new TestRegion("concsave");
        var expected = new System.Collections.Concurrent.ConcurrentDictionary<ulong, (ulong Value, byte Fill)>();
        var registered = new System.Collections.Concurrent.ConcurrentBag<nint>();
        using (var kho = region.Boot(64 << 20, poison: false))
        {
            using var streams = new KStateStreams(kho);
            var registry = new KStateRegistry(streams);
            Parallel.For(0, threads, new ParallelOptions { MaxDegreeOfParallelism = threads }, t =>
            {
                var rng = new Random(t);
                for (int i = 0; i < perThread; i++)
                {
                    ulong id = (ulong)(t * perThread + i);
                    var folio = kho.AllocFolio(0);
                    byte fill = (byte)rng.Next(256);
                    kho.FolioSpan(folio).Fill(fill);
                    var item = (Item*)NativeMemory.Alloc((nuint)sizeof(Item));
                    *item = new Item { Id = id, Value = (ulong)rng.NextInt64(), Page = folio };
                    expected[id] = (item->Value, fill);
                    if (i % 2 == 0)
                    {
                        registry.Register(ItemV1, item, id); // saved at finalize
                        registered.Add((nint)item);
                    }
                    else
                    {
                        registry.Save(ItemV1, item, id);     // saved now
                        NativeMemory.Free(item);
                    }
                    var scratch = kho.AllocFolio(0); // noise: preserved and unpreserved again
                    kho.PreserveFolio(scratch);
                    kho.UnpreserveFolio(scratch);
                    kho.PutFolio(scratch);
                }
            });
            kho.FinalizeHandover();
        }
        foreach (var p in registered) NativeMemory.Free((void*)p);

        using var next = region.Boot(64 << 20, poison: false);
        using var incoming = new KStateStreams(next);
        var reader = new KStateRegistry(incoming);
        foreach (var (id, (value, fill)) in expected)
        {
            var item = new Item();
            reader.Restore(ItemV1, &item, id);
            Assert.That((item.Id, item.Value), Is.EqualTo((id, value)));
            Assert.That(next.FolioSpan(item.Page).ContainsAnyExcept(fill), Is.False, $"item {id}");
        }
        Assert.That(next.ListUnrestored(), Is.Empty, "exactly what was saved was preserved");
        TestContext.Out.WriteLine($"{threads} threads, {expected.Count} objects saved or registered with their folios, all restored");
    }
}
