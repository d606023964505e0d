using System.Runtime.InteropServices;
using KState.TestHost.Shared;

namespace KState.TestHost;

/// <summary>Generation 1 of the talk's example and of the kernel test module: register, save, finalize.</summary>
public static unsafe class DescriptionScenarios
{
    public const ulong PUlongValue = 0xDEAD_BEEF_CAFE_F00D;

    public static byte FolioPattern(int i) => (byte)(i * 7 % 251);

    public static int SaveTalk(string region)
    {
        using var kho = Kho.Init(region, 32 << 20, new KhoOptions { Poison = true });
        using var streams = new KStateStreams(kho);
        var registry = new KStateRegistry(streams);

        var a = (TalkA*)NativeMemory.AllocZeroed((nuint)sizeof(TalkA));
        a->I = 42;
        a->PUlong = new Ptr<ulong>((ulong*)NativeMemory.Alloc(8));
        *a->PUlong.Value = PUlongValue;
        "kstate!"u8.CopyTo(a->S);
        var folio = kho.AllocFolio(2);
        var bytes = kho.FolioSpan(folio);
        for (int i = 0; i < bytes.Length; i++) bytes[i] = FolioPattern(i);
        a->Folio = folio;
        registry.Register(TalkDescriptions.A, a, 1);

        var t = (TestModule*)NativeMemory.AllocZeroed((nuint)sizeof(TestModule));
        t->I = 7;
        t->J = 8;
        t->Old = -1;
        t->PUlong = new Ptr<ulong>((ulong*)NativeMemory.Alloc(8));
        *t->PUlong.Value = 99;
        registry.Save(TalkDescriptions.ModuleV1, t, 3); // saved now, not at finalize

        kho.FinalizeHandover();
        Console.WriteLine($"saved a_struct instance 1 (folio {folio}) and kstate-test/module instance 3");
        return 0;
    }
}
