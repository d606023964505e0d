using System.Runtime.InteropServices;
using KState.Tests.Descriptions;
using KState.Tests.Support;

namespace KState.Tests.Sessions;

/// <summary>A described item whose restore fails stays still to restore, folios included (issue 18, item 6).</summary>
public unsafe class SessionRestoreRetryTests
{
    private static bool s_fail;

    private static readonly KStateDescription Holder = KStateDescriptionBuilder<FolioHolder>.Create("acme-test/session-retry", 1, 1)
        .Base((ref FolioHolder h) => ref h.Value)
        .Folio((ref FolioHolder h) => ref h.Page)
        .PostLoad((ref FolioHolder _, int _) => s_fail ? -1 : 0)
        .Build();

    [Test]
    public void A_session_item_whose_post_load_fails_stays_to_restore_and_a_retry_succeeds()
    {
        using var region = new TestRegion("session-retry");
        var h = (FolioHolder*)NativeMemory.AllocZeroed((nuint)sizeof(FolioHolder));
        Folio page;
        try
        {
            using (var g = new SessionGeneration(region, 8 << 20))
            {
                h->Value = 3;
                h->Page = page = g.Kho.AllocFolio(0);
                g.Sessions.Create("acme-test/retry").SaveState(Holder, h, 1);
                g.Kho.FinalizeHandover();
            }
        }
        finally
        {
            NativeMemory.Free(h);
        }

        using var next = new SessionGeneration(region, 8 << 20);
        var session = next.Sessions.Retrieve("acme-test/retry");
        var obj = new FolioHolder();
        nint p = (nint)(&obj);
        s_fail = true;
        Assert.Throws<KStateHookException>(() => session.Restore(Holder, (void*)p, 1));
        using (Assert.EnterMultipleScope())
        {
            Assert.That(session.Unretrieved.Select(i => i.Token), Is.EqualTo(new[] { 1UL }), "still to restore");
            Assert.That(next.Kho.CanRestoreFolio(page.Phys, out _), Is.True);
        }
        s_fail = false;
        session.Restore(Holder, &obj, 1);
        Assert.That((obj.Value, obj.Page), Is.EqualTo((3, page)));
        session.Finish();
    }
}
