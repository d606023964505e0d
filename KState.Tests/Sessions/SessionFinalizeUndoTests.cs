using System.Runtime.InteropServices;
using KState.Tests.Descriptions;
using KState.Tests.Support;

namespace KState.Tests.Sessions;

/// <summary>A finalize that fails takes back the folios described session items had preserved (issue 12, defect 2).</summary>
public unsafe class SessionFinalizeUndoTests
{
    [Test]
    public void A_failed_finalize_unpreserves_the_folios_of_described_session_items()
    {
        var holder = KStateDescriptionBuilder<FolioHolder>.Create("acme-test/session-undo-holder", 1, 1)
            .Base((ref FolioHolder h) => ref h.Value)
            .Folio((ref FolioHolder h) => ref h.Page)
            .Build();
        var refuser = KStateDescriptionBuilder<Inner>.Create("acme-test/session-undo-refuser", 1, 1)
            .Base((ref Inner i) => ref i.X)
            .PreSave((ref Inner _) => -1)
            .Build();
        using var region = new TestRegion("session-undo");
        using var g = new SessionGeneration(region, 8 << 20);
        var a = (FolioHolder*)NativeMemory.AllocZeroed((nuint)sizeof(FolioHolder));
        var b = (Inner*)NativeMemory.AllocZeroed((nuint)sizeof(Inner));
        try
        {
            a->Page = g.Kho.AllocFolio(0);
            var session = g.Sessions.Create("acme-test/undo");
            session.SaveState(holder, a, 1);
            session.SaveState(refuser, b, 2);
            Assert.Throws<KStateHookException>(g.Kho.FinalizeHandover);
            Assert.That(g.Kho.IsPreserved(a->Page), Is.False);
        }
        finally
        {
            NativeMemory.Free(a);
            NativeMemory.Free(b);
        }
    }
}
