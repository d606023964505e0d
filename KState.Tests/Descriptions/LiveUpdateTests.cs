using KState.TestHost;
using KState.TestHost.Shared;
using KState.Tests.Support;

namespace KState.Tests.Descriptions;

/// <summary>Descriptions across a real live update: a child process saves, this process boots and restores.</summary>
public unsafe class DescriptionLiveUpdateTests
{
    [Test]
    public void The_talks_example_and_the_test_module_survive_a_live_update()
    {
        using var region = new TestRegion("talk");
        var child = Child.Run("talk-save", region.Path);
        Assert.That(child.ExitCode, Is.Zero, child.ToString());

        using var kho = region.Boot(32 << 20);
        Assert.That(kho.IsKhoBoot, Is.True, kho.BootReport);
        using var streams = new KStateStreams(kho);
        var registry = new KStateRegistry(streams);

        var a = new TalkA(); // a null pointer: restore allocates
        registry.Restore(TalkDescriptions.A, &a, 1);
        using (Assert.EnterMultipleScope())
        {
            Assert.That(a.I, Is.EqualTo(42));
            Assert.That(a.PUlong.IsNull, Is.False);
            Assert.That(a.PUlong.Target, Is.EqualTo(DescriptionScenarios.PUlongValue));
            Assert.That(System.Text.Encoding.ASCII.GetString(((ReadOnlySpan<byte>)a.S)[..7]), Is.EqualTo("kstate!"));
            Assert.That(a.Folio.Order, Is.EqualTo(2));
        }
        var bytes = kho.FolioSpan(a.Folio);
        for (int i = 0; i < bytes.Length; i++)
            if (bytes[i] != DescriptionScenarios.FolioPattern(i)) Assert.Fail($"folio byte {i} differs");

        ulong target = 0;
        var t = new TestModule { PUlong = new Ptr<ulong>(&target), Old = 5 };
        registry.Restore(TalkDescriptions.ModuleV2, &t, 3);
        Assert.That((t.I, t.J, target, t.Old), Is.EqualTo((7, 8, 99UL, 5L)), "value, subsection, pointer in place, deprecated field skipped");
        Assert.That(t.PUlong.Value == &target, Is.True);

        try
        {
            registry.Restore(TalkDescriptions.A, &a, 2);
            Assert.Fail("instance 2 was never saved");
        }
        catch (KStateNotFoundException)
        {
        }
        Assert.That(streams.Set.Open("main").Names.NameOf(TalkDescriptions.TestId), Is.EqualTo("a_struct"));
        System.Runtime.InteropServices.NativeMemory.Free(a.PUlong.Value);
    }

    private static Exception? Catch(Action action)
    {
        try
        {
            action();
            return null;
        }
        catch (Exception e)
        {
            return e;
        }
    }

    [Test]
    public void Registration_rules()
    {
        using var region = new TestRegion("reg");
        using var kho = region.Boot();
        using var streams = new KStateStreams(kho);
        var registry = new KStateRegistry(streams);
        var x = (Versioned*)System.Runtime.InteropServices.NativeMemory.AllocZeroed((nuint)sizeof(Versioned));
        x->A = 1;
        var d = KStateDescriptionBuilder<Versioned>.Create("acme-test/reg", 1, 1).Base((ref Versioned v) => ref v.A).Build();
        nint px = (nint)x;
        registry.Register(d, x, 1);
        Assert.That(Catch(() => registry.Register(d, (void*)px, 1)), Is.TypeOf<KStateExistsException>());
        registry.Unregister(d, x, 1);
        Assert.That(Catch(() => registry.Unregister(d, (void*)px, 1)), Is.TypeOf<KStateNotFoundException>());
        Assert.That(Catch(() => registry.Restore(d, (void*)px, 1)), Is.TypeOf<KStateNotFoundException>(), "cold boot");
        registry.Register(d, x, 1);
        kho.FinalizeHandover();
        kho.AbortHandover();     // the stream reopens...
        x->A = 2;
        kho.FinalizeHandover();  // ...and the object is saved again, newest wins
        kho.Dispose();
        using var next = region.Boot();
        using var incoming = new KStateStreams(next);
        var y = new Versioned();
        new KStateRegistry(incoming).Restore(d, &y, 1);
        Assert.That(y.A, Is.EqualTo(2));
        System.Runtime.InteropServices.NativeMemory.Free(x);
    }
}
