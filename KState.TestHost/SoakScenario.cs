using System.Runtime.InteropServices;

namespace KState.TestHost;

/// <summary>One entry of the model service's index: a key and the length of its value.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct SoakEntry
{
    public ulong Key;
    public ulong Length;
}

/// <summary>Up to 64 value folios, described as folios so that KSTATE checks their contents.</summary>
[System.Runtime.CompilerServices.InlineArray(64)]
public struct SoakFolios
{
    private Folio _e;
}

/// <summary>The model service's root object: entry i's value is in folio i.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct SoakRoot
{
    public ulong Generation;
    public ulong Count;
    public Ptr<SoakEntry> Entries;
    public SoakFolios Values;
}

/// <summary>
/// A model service for crash and soak tests: a key-value map whose values live in folios and whose index is a
/// described struct. Generation g's state is a pure function of (seed, g): random puts, deletes and byte changes
/// applied to generation g-1's, so any process can recompute what a handover must contain and check every byte.
/// </summary>
public static unsafe class SoakScenario
{
    private const int MaxKeys = 64;
    public static readonly KStateDescription Root = KStateDescriptionBuilder<SoakRoot>.Create("kstate-soak/root", 1, 1)
        .Base((ref SoakRoot r) => ref r.Generation)
        .Base((ref SoakRoot r) => ref r.Count)
        .Pointer((ref SoakRoot r) => ref r.Entries, count: MaxKeys, countMember: "Count")
        .Folio((ref SoakRoot r) => ref r.Values[0], count: MaxKeys, countMember: "Count")
        .Build();

    /// <summary>The service's state at a generation: replayed from generation 1.</summary>
    public static SortedDictionary<ulong, byte[]> Model(int seed, ulong generation)
    {
        var map = new SortedDictionary<ulong, byte[]>();
        for (ulong g = 1; g <= generation; g++)
        {
            var rng = new Random(unchecked(seed * 1_000_003 + (int)g)); // not HashCode.Combine: it is seeded per process
            int ops = rng.Next(1, 9);
            for (int i = 0; i < ops; i++)
            {
                ulong key = (ulong)rng.Next(1, MaxKeys + 1);
                switch (rng.Next(3))
                {
                    case 0:
                        var v = new byte[rng.Next(1, 4097)];
                        rng.NextBytes(v);
                        map[key] = v;
                        break;
                    case 1:
                        map.Remove(key);
                        break;
                    default:
                        if (map.TryGetValue(key, out var old)) old[rng.Next(old.Length)] ^= (byte)rng.Next(1, 256);
                        break;
                }
            }
        }
        return map;
    }

    /// <summary>Checks a booted handover against the model: every value restored, byte for byte, nothing left over.</summary>
    /// <returns>The generation the handover carried.</returns>
    public static ulong Verify(Kho kho, int seed)
    {
        using var streams = new KStateStreams(kho);
        var registry = new KStateRegistry(streams);
        var root = new SoakRoot();
        registry.Restore(Root, &root, 0);
        try
        {
            var model = Model(seed, root.Generation);
            if ((int)root.Count != model.Count) throw new InvalidOperationException($"generation {root.Generation}: {root.Count} entries, the model has {model.Count}");
            var entries = new ReadOnlySpan<SoakEntry>(root.Entries.Value, (int)root.Count);
            for (int i = 0; i < entries.Length; i++)
            {
                var e = entries[i];
                var folio = root.Values[i]; // restored by KSTATE, its contents checked against their checksum
                if (!model.TryGetValue(e.Key, out var want)) throw new InvalidOperationException($"generation {root.Generation}: key {e.Key} should not exist");
                if ((ulong)want.Length != e.Length || !kho.FolioSpan(folio)[..want.Length].SequenceEqual(want))
                    throw new InvalidOperationException($"generation {root.Generation}: key {e.Key} has the wrong value");
                kho.PutFolio(folio);
            }
            if (kho.ListUnrestored().Count != 0) throw new InvalidOperationException($"generation {root.Generation}: {kho.ListUnrestored().Count} preserved blocks nobody restored");
            return root.Generation;
        }
        finally
        {
            NativeMemory.Free(root.Entries.Value);
        }
    }

    /// <summary>Runs generations in this process: boot (checking what came over), change the state, hand it over.</summary>
    public static int Run(string region, int seed, int generations, ulong regionSize = 16 << 20)
    {
        for (int i = 0; i < generations; i++)
        {
            ulong generation;
            using (var kho = Kho.Init(region, regionSize, new KhoOptions { Poison = true }))
            {
                generation = kho.IsKhoBoot ? Verify(kho, seed) + 1 : 1;
                Console.WriteLine($"booted {(kho.IsKhoBoot ? "kho" : "cold")}, saving generation {generation}");
                Save(kho, seed, generation);
                Console.WriteLine($"committed {generation}");
            }
        }
        return 0;
    }

    private static void Save(Kho kho, int seed, ulong generation)
    {
        var model = Model(seed, generation);
        using var streams = new KStateStreams(kho);
        var registry = new KStateRegistry(streams);
        var entries = (SoakEntry*)NativeMemory.Alloc((nuint)(Math.Max(model.Count, 1) * sizeof(SoakEntry)));
        var root = (SoakRoot*)NativeMemory.AllocZeroed((nuint)sizeof(SoakRoot));
        *root = new SoakRoot { Generation = generation, Count = (ulong)model.Count, Entries = new Ptr<SoakEntry>(entries) };
        int i = 0;
        foreach (var (key, value) in model)
        {
            var folio = kho.AllocFolio(0); // preserved by KSTATE when the root is saved
            value.CopyTo(kho.FolioSpan(folio));
            root->Values[i] = folio;
            entries[i++] = new SoakEntry { Key = key, Length = (ulong)value.Length };
        }
        registry.Register(Root, root, 0);
        kho.FinalizeHandover();
    }
}
