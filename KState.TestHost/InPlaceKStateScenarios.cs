using System.Runtime.InteropServices;
using KState.TestHost.Shared;

namespace KState.TestHost;

/// <summary>One generation of a table whose entries live in preserved memory and are handed over in place.</summary>
public static unsafe class InPlaceKStateScenarios
{
    /// <summary>Generation 1 allocates and fills the entries; later ones restore them, check the previous generation's
    /// values, rewrite them in place and save again. Prints the phys of the entries and of the head.</summary>
    public static int Generation(string region, int generation, int entries)
    {
        using var kho = Kho.Init(region, 64 << 20, new KhoOptions { Poison = true });
        using var streams = new KStateStreams(kho);
        var registry = new KStateRegistry(streams);
        var d = InPlaceDescriptions.Table(InPlaceIntegrity.Checksum);
        var t = (Table*)NativeMemory.AllocZeroed((nuint)sizeof(Table));
        if (generation == 1)
        {
            var items = kho.AllocPreserve((ulong)(entries * sizeof(Entry)));
            t->Items = new Ptr<Entry>((Entry*)kho.DangerousFolioAddress(items));
            t->Count = (uint)entries;
            t->Head = new Ptr<Entry>((Entry*)kho.DangerousFolioAddress(kho.AllocFolio(0))); // not preserved: the save does it
        }
        else
        {
            registry.Restore(d, t, 1);
            if (t->Generation != generation - 1 || t->Count != entries) return Fail($"restored generation {t->Generation} with {t->Count} entries");
            for (int i = 0; i < entries; i++)
                if (!t->Items.Value[i].Equals(InPlaceDescriptions.Expected(i, generation - 1))) return Fail($"entry {i} differs");
            if (!t->Head.Value->Equals(InPlaceDescriptions.Expected(-1, generation - 1))) return Fail("the head differs");
        }
        for (int i = 0; i < entries; i++) t->Items.Value[i] = InPlaceDescriptions.Expected(i, generation);
        *t->Head.Value = InPlaceDescriptions.Expected(-1, generation);
        t->Generation = (uint)generation;
        registry.Register(d, t, 1);
        kho.FinalizeHandover();
        Console.WriteLine($"items=0x{kho.DangerousVirtToPhys(t->Items.Value):x} head=0x{kho.DangerousVirtToPhys(t->Head.Value):x}");
        return 0;
    }

    private static int Fail(string why)
    {
        Console.Error.WriteLine(why);
        return 1;
    }
}
