using System.Buffers.Binary;

namespace KState.TestHost;

/// <summary>
/// The predecessor of a successor that waits (<see cref="Kho.InitWait(string, ulong, TimeSpan, KhoOptions?)"/>): boots
/// a new region, preserves a folio of <see cref="Fill"/> bytes and names its phys in the <see cref="Subtree"/>
/// subtree, says "booted", then does what stdin's next line says: "finalize" finalizes, exits the Kho (letting go
/// of the region) and says "let-go"; "exit" exits the Kho without finalizing. Either way it then stays alive until
/// stdin closes, so the test sees the successor boot while this process still runs.
/// </summary>
internal static class WaitScenarios
{
    public const string Subtree = "wait-test";
    public const byte Fill = 0x5A;

    public static int Predecessor(string region)
    {
        var kho = Kho.Init(region, 4 << 20);
        var folio = kho.AllocFolio(0);
        kho.FolioSpan(folio).Fill(Fill);
        kho.PreserveFolio(folio);
        var blob = new byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(blob, folio.Phys);
        kho.AddSubtree(Subtree, blob);
        Console.WriteLine("booted");
        Console.Out.Flush();
        string? command = Console.In.ReadLine();
        if (command == "finalize") kho.FinalizeHandover();
        else if (command != "exit") throw new InvalidOperationException($"unknown command '{command}'");
        kho.Dispose();
        Console.WriteLine(command == "finalize" ? "let-go" : "exited");
        Console.Out.Flush();
        Console.In.ReadToEnd();
        return 0;
    }
}
