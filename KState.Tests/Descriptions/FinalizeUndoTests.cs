using System.Runtime.InteropServices;
using KState.Tests.Support;

namespace KState.Tests.Descriptions;

[StructLayout(LayoutKind.Sequential)]
public struct FolioHolder
{
    public int Value;
    public Folio Page;
}

[StructLayout(LayoutKind.Sequential)]
public struct TwoFolios
{
    public Folio A;
    public Folio B;
}

[StructLayout(LayoutKind.Sequential)]
public struct FolioThenNested
{
    public Folio Page;
    public Inner Inner;
}

/// <summary>A finalize or save that fails, or a finalize that is aborted, leaves no trace: no record in the stream,
/// no preserved folio (issue 12, defects 2 and 3), and the registry refuses changes while finalized (defect 4).</summary>
public unsafe class FinalizeUndoTests
{
    private static readonly KStateDescription Holder = KStateDescriptionBuilder<FolioHolder>.Create("acme-test/undo-holder", 1, 1)
        .Base((ref FolioHolder h) => ref h.Value)
        .Folio((ref FolioHolder h) => ref h.Page)
        .Build();

    private static bool s_refuse;

    private static readonly KStateDescription Refuser = KStateDescriptionBuilder<Inner>.Create("acme-test/undo-refuser", 1, 1)
        .Base((ref Inner i) => ref i.X)
        .PreSave((ref Inner _) => s_refuse ? -5 : 0)
        .Build();

    private static T* New<T>(T value) where T : unmanaged
    {
        var p = (T*)NativeMemory.AllocZeroed((nuint)sizeof(T));
        *p = value;
        return p;
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

    [TestCase(false, TestName = "An object unregistered after a failed finalize is not handed over, and its folio does not leak")]
    [TestCase(true, TestName = "An object unregistered after an aborted finalize is not handed over, and its folio does not leak")]
    public void Undone_finalize_leaves_no_records_and_no_preserved_folios(bool abort)
    {
        using var region = new TestRegion("undo");
        var kho = region.Boot();
        var holder = New(new FolioHolder { Value = 7, Page = kho.AllocFolio(1) });
        var other = New(new Inner { X = 3 });
        var page = holder->Page;
        try
        {
            using (var streams = new KStateStreams(kho))
            {
                var registry = new KStateRegistry(streams);
                registry.Register(Holder, holder, 1);
                registry.Register(Refuser, other, 1);
                if (abort)
                {
                    s_refuse = false;
                    kho.FinalizeHandover();
                    kho.AbortHandover();
                }
                else
                {
                    s_refuse = true;
                    Assert.That(Catch(kho.FinalizeHandover), Is.TypeOf<KStateHookException>());
                    s_refuse = false;
                }
                Assert.That(kho.IsPreserved(page), Is.False, "the folio the undone finalize preserved is unpreserved");
                registry.Unregister(Holder, holder, 1);
                other->X = 4;
                kho.FinalizeHandover();
            }
            kho.Dispose();

            using var next = region.Boot();
            using var incoming = new KStateStreams(next);
            var registry2 = new KStateRegistry(incoming);
            var restored = new FolioHolder();
            nint pRestored = (nint)(&restored);
            var inner = new Inner();
            registry2.Restore(Refuser, &inner, 1);
            using (Assert.EnterMultipleScope())
            {
                Assert.That(Catch(() => registry2.Restore(Holder, (void*)pRestored, 1)), Is.TypeOf<KStateNotFoundException>(), "the unregistered object is gone");
                Assert.That(inner.X, Is.EqualTo(4), "the object still registered is saved once, with its value at the good finalize");
                Assert.That(incoming.Set.Open(KStateRegistry.StreamName).RecordCount, Is.EqualTo(4), "one object, the schema, the names table and the end marker");
                Assert.That(next.ListUnrestored().Select(b => b.Phys), Does.Not.Contain(page.Phys), "no preserved folio leaked");
                Assert.That(incoming.Set.Open(KStateRegistry.StreamName).Names.NameOf(Holder.Id), Is.Null, "its name went with its record");
            }
        }
        finally
        {
            kho.Dispose();
            NativeMemory.Free(holder);
            NativeMemory.Free(other);
        }
    }

    [Test]
    public void A_nested_pre_save_that_fails_unpreserves_the_folio_an_earlier_field_preserved()
    {
        var refusingInner = KStateDescriptionBuilder<Inner>.Create("acme-test/undo-inner", 1, 1)
            .Base((ref Inner i) => ref i.X)
            .PreSave((ref Inner _) => -1)
            .Build();
        var outer = KStateDescriptionBuilder<FolioThenNested>.Create("acme-test/undo-outer", 1, 1)
            .Folio((ref FolioThenNested o) => ref o.Page)
            .Struct((ref FolioThenNested o) => ref o.Inner, refusingInner)
            .Build();
        using var region = new TestRegion("undo-nested");
        using var kho = region.Boot();
        using var streams = new KStateStreams(kho);
        var registry = new KStateRegistry(streams);
        var obj = new FolioThenNested { Page = kho.AllocFolio(0) };
        nint p = (nint)(&obj);

        Assert.That(Catch(() => registry.Save(outer, (void*)p, 1)), Is.TypeOf<KStateHookException>());
        Assert.That(kho.IsPreserved(obj.Page), Is.False, "the folio is free to be put back");
        kho.PutFolio(obj.Page);
    }

    [Test]
    public void A_failing_save_keeps_the_folios_that_were_preserved_before_it()
    {
        var refusingInner = KStateDescriptionBuilder<Inner>.Create("acme-test/undo-inner2", 1, 1)
            .Base((ref Inner i) => ref i.X)
            .PreSave((ref Inner _) => -1)
            .Build();
        var outer = KStateDescriptionBuilder<FolioThenNested>.Create("acme-test/undo-outer2", 1, 1)
            .Folio((ref FolioThenNested o) => ref o.Page)
            .Struct((ref FolioThenNested o) => ref o.Inner, refusingInner)
            .Build();
        using var region = new TestRegion("undo-kept");
        using var kho = region.Boot();
        using var streams = new KStateStreams(kho);
        var registry = new KStateRegistry(streams);
        var obj = new FolioThenNested { Page = kho.AllocFolio(0) };
        nint p = (nint)(&obj);
        kho.PreserveFolio(obj.Page);

        Assert.That(Catch(() => registry.Save(outer, (void*)p, 1)), Is.TypeOf<KStateHookException>());
        Assert.That(kho.IsPreserved(obj.Page), Is.True, "the application preserved it itself: it stays preserved");
    }

    [Test]
    public void One_folio_in_two_folio_slots_is_refused_at_save()
    {
        var d = KStateDescriptionBuilder<TwoFolios>.Create("acme-test/undo-two", 1, 1)
            .Folio((ref TwoFolios t) => ref t.A)
            .Folio((ref TwoFolios t) => ref t.B)
            .Build();
        using var region = new TestRegion("undo-two");
        using var kho = region.Boot();
        using var streams = new KStateStreams(kho);
        var registry = new KStateRegistry(streams);
        var f = kho.AllocFolio(0);
        var obj = new TwoFolios { A = f, B = f };
        nint p = (nint)(&obj);

        var e = Catch(() => registry.Save(d, (void*)p, 1));
        Assert.That(e, Is.TypeOf<KStateInvalidException>());
        Assert.That(e!.Message, Does.Contain("two folio slots"));
        Assert.That(kho.IsPreserved(f), Is.False, "the refused save took its preservation back");
        obj.B = kho.AllocFolio(0);
        registry.Save(d, &obj, 1); // two different folios are fine
    }

    [Test]
    public void Register_unregister_and_save_are_busy_while_the_handover_is_finalized()
    {
        using var region = new TestRegion("undo-busy");
        using var kho = region.Boot();
        using var streams = new KStateStreams(kho);
        var registry = new KStateRegistry(streams);
        var a = New(new Inner { X = 1 });
        var b = New(new Inner { X = 2 });
        try
        {
            s_refuse = false;
            registry.Register(Refuser, a, 1);
            kho.FinalizeHandover();
            using (Assert.EnterMultipleScope())
            {
                Assert.That(Catch(() => registry.Register(Refuser, b, 2)), Is.TypeOf<KStateBusyException>());
                Assert.That(Catch(() => registry.Unregister(Refuser, a, 1)), Is.TypeOf<KStateBusyException>());
                Assert.That(Catch(() => registry.Save(Refuser, b, 2)), Is.TypeOf<KStateBusyException>());
            }
            kho.AbortHandover();
            registry.Register(Refuser, b, 2); // free again once aborted
            registry.Unregister(Refuser, a, 1);
        }
        finally
        {
            NativeMemory.Free(a);
            NativeMemory.Free(b);
        }
    }

    [Test]
    public void Register_and_unregister_from_a_pre_save_during_finalize_are_busy()
    {
        using var region = new TestRegion("undo-reenter");
        using var kho = region.Boot();
        using var streams = new KStateStreams(kho);
        var registry = new KStateRegistry(streams);
        var a = New(new Inner { X = 1 });
        var b = New(new Inner { X = 2 });
        var seen = new List<Exception?>();
        try
        {
            var d = KStateDescriptionBuilder<Inner>.Create("acme-test/undo-reenter", 1, 1)
                .Base((ref Inner i) => ref i.X)
                .PreSave((ref Inner _) =>
                {
                    seen.Add(Catch(() => registry.Register(Refuser, b, 9)));
                    seen.Add(Catch(() => registry.Unregister(Refuser, b, 9)));
                    seen.Add(Catch(() => registry.Save(Refuser, b, 9)));
                    return 0;
                })
                .Build();
            registry.Register(d, a, 1);
            kho.FinalizeHandover();
            Assert.That(seen.Select(e => e?.GetType()), Is.EqualTo(new[] { typeof(KStateBusyException), typeof(KStateBusyException), typeof(KStateBusyException) }));
        }
        finally
        {
            NativeMemory.Free(a);
            NativeMemory.Free(b);
        }
    }
}
