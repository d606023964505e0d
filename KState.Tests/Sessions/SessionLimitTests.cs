using System.Runtime.InteropServices;
using KState.Core.Sessions;
using KState.Tests.Descriptions;
using KState.Tests.Support;

namespace KState.Tests.Sessions;

/// <summary>The session directory's limits are enforced when a value enters a session (issue 18, item 4).</summary>
public unsafe class SessionLimitTests
{
    private static readonly KStateField X = new() { Name = "x", Offset = 0, Size = 4, Kind = FieldKind.Base };

    private static string NameOfBytes(int bytes) => "acme-test/" + new string('s', bytes - "acme-test/".Length);

    [Test]
    public void A_described_item_whose_name_is_the_directory_limit_survives_and_one_byte_more_is_refused_at_save_state()
    {
        var longest = KStateDescription.Create(NameOfBytes(SessionNames.MaxBytes), 1, 1, 4, [X]);
        var tooLong = KStateDescription.Create(NameOfBytes(SessionNames.MaxBytes + 1), 1, 1, 4, [X]);
        using var region = new TestRegion("session-limit");
        var obj = (int*)NativeMemory.AllocZeroed(4);
        try
        {
            *obj = 41;
            using (var g = new SessionGeneration(region, 8 << 20))
            {
                var session = g.Sessions.Create("acme-test/limits");
                var e = Assert.Throws<KStateInvalidException>(() => session.SaveState(tooLong, obj, 2));
                Assert.That(e!.Message, Does.Contain($"{SessionNames.MaxBytes}"));
                session.SaveState(longest, obj, 1);
                g.Kho.FinalizeHandover();
            }
            using var next = new SessionGeneration(region, 8 << 20);
            int back = 0;
            next.Sessions.Retrieve("acme-test/limits").Restore(longest, &back, 1);
            Assert.That(back, Is.EqualTo(41));
        }
        finally
        {
            NativeMemory.Free(obj);
        }
    }
}
