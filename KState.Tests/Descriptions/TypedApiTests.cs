using KState.Tests.Support;

namespace KState.Tests.Descriptions;

/// <summary>The typed overloads (KStateDescription&lt;T&gt;, ref T, KStateBox&lt;T&gt;): a live update with no unsafe code.</summary>
public class TypedApiTests
{
    private static readonly KStateDescription<Outer> OuterD = KStateDescriptionBuilder<Outer>.Create("acme-test/typed-outer", 1, 1)
        .Base((ref Outer o) => ref o.Id)
        .Struct((ref Outer o) => ref o.Inner, KStateDescriptionBuilder<Inner>.Create("acme-test/typed-inner", 1, 1)
            .Base((ref Inner i) => ref i.X).Base((ref Inner i) => ref i.Y).Build())
        .Base((ref Outer o) => ref o.Tail)
        .Build();

    private static readonly KStateDescription<Inner> InnerD = KStateDescriptionBuilder<Inner>.Create("acme-test/typed-item", 1, 1)
        .Base((ref Inner i) => ref i.X).Base((ref Inner i) => ref i.Y).Build();

    [Test]
    public void The_builder_returns_a_typed_description_that_is_a_description_of_the_type_size()
    {
        KStateDescription plain = OuterD;
        Assert.That((plain.Size, plain.Fields.Count, plain.Name), Is.EqualTo((System.Runtime.CompilerServices.Unsafe.SizeOf<Outer>(), 3, "acme-test/typed-outer")));
        Assert.That(KStateSchema.Of([OuterD]).Descriptions, Has.Count.EqualTo(2), "a typed description goes wherever a description goes");
    }

    [TestCase(false, TestName = "A registered box in native memory and a typed save come back through typed restores")]
    [TestCase(true, TestName = "A registered box in KHO memory and a typed save come back through typed restores")]
    public void Registered_box_and_saved_value_survive_a_live_update(bool inKho)
    {
        using var region = new TestRegion("typed");
        using (var kho = region.Boot())
        using (var streams = new KStateStreams(kho))
        using (var box = inKho ? new KStateBox<Outer>(kho) : new KStateBox<Outer>())
        {
            Assert.That(box.Folio.HasValue, Is.EqualTo(inKho));
            var registry = new KStateRegistry(streams);
            registry.Register(OuterD, box, instanceId: 1);
            box.Value = new Outer { Id = 11, Inner = new Inner { X = 1, Y = 2 }, Tail = 3 };
            var now = new Inner { X = 5, Y = 6 };
            registry.Save(InnerD, ref now, instanceId: 2);
            box.Value.Tail = 4; // saved at finalize: the value then counts
            kho.FinalizeHandover();
        }

        using var next = region.Boot();
        using var incoming = new KStateStreams(next);
        var registry2 = new KStateRegistry(incoming);
        var outer = new Outer();
        var inner = new Inner();
        registry2.Restore(OuterD, ref outer, instanceId: 1);
        registry2.Restore(InnerD, ref inner, instanceId: 2);
        using (Assert.EnterMultipleScope())
        {
            Assert.That((outer.Id, outer.Inner.X, outer.Inner.Y, outer.Tail), Is.EqualTo((11L, 1, 2, 4)));
            Assert.That((inner.X, inner.Y), Is.EqualTo((5, 6)));
        }
    }

    [Test]
    public void A_box_disposed_before_finalize_fails_the_finalize_with_a_clear_error_and_unregistered_it_is_not_saved()
    {
        using var region = new TestRegion("typed-gone");
        using var kho = region.Boot();
        using var streams = new KStateStreams(kho);
        var registry = new KStateRegistry(streams);
        var box = new KStateBox<Inner>();
        registry.Register(InnerD, box, 1);
        box.Dispose();
        var e = Assert.Throws<KStateInvalidException>(kho.FinalizeHandover);
        Assert.That(e!.Message, Does.Contain("disposed").And.Contain("acme-test/typed-item"));
        Assert.That(kho.IsFinalized, Is.False);
        Assert.Throws<KStateInvalidException>(() => registry.Register(InnerD, box, 2), "a disposed box cannot be registered");
        Assert.Throws<ObjectDisposedException>(() => _ = box.Value.X);
        registry.Unregister(InnerD, box, 1);
        Assert.Throws<KStateNotFoundException>(() => registry.Unregister(InnerD, box, 1));
        kho.FinalizeHandover();
    }

    [Test]
    public void A_box_in_KHO_memory_frees_its_folio_when_disposed_unless_it_is_preserved()
    {
        using var region = new TestRegion("typed-free");
        using var kho = region.Boot();
        ulong free = kho.FreePages;
        var box = new KStateBox<Outer>(kho);
        Assert.That(kho.FreePages, Is.EqualTo(free - 1));
        box.Dispose();
        Assert.That(kho.FreePages, Is.EqualTo(free), "freed");
        var kept = new KStateBox<Outer>(kho);
        kho.PreserveFolio(kept.Folio!.Value);
        kept.Dispose();
        Assert.That(kho.IsPreserved(kept.Folio!.Value), Is.True, "a preserved folio belongs to the handover");
    }

    [Test]
    public void A_boxed_session_item_and_a_typed_restore_survive_a_live_update()
    {
        using var region = new TestRegion("typed-session");
        using (var kho = region.Boot())
        using (var streams = new KStateStreams(kho))
        using (var box = new KStateBox<Inner>())
        {
            var sessions = new KStateSessions(streams);
            var s = sessions.Create("vm-1");
            box.Value.X = 42;
            s.SaveState(InnerD, box, token: 7);
            box.Value.Y = 43;
            kho.FinalizeHandover();
        }

        using var next = region.Boot();
        using var incoming = new KStateStreams(next);
        var back = new KStateSessions(incoming).Retrieve("vm-1");
        var item = new Inner();
        back.Restore(InnerD, ref item, 7);
        back.Restore(InnerD, ref item, 7); // the same object again: nothing happens
        var other = new Inner();
        Assert.Throws<KStateBusyException>(() => back.Restore(InnerD, ref other, 7));
        back.Finish();
        Assert.That((item.X, item.Y), Is.EqualTo((42, 43)));
    }

    [Test]
    public void A_session_item_whose_box_was_disposed_fails_the_finalize_by_name_and_nothing_is_handed_over()
    {
        using var region = new TestRegion("typed-session-gone");
        using var kho = region.Boot();
        using var streams = new KStateStreams(kho);
        var sessions = new KStateSessions(streams);
        var box = new KStateBox<Inner>();
        sessions.Create("vm-2").SaveState(InnerD, box, token: 3);
        box.Dispose();
        var e = Assert.Throws<KStateInvalidException>(kho.FinalizeHandover);
        Assert.That(e!.Message, Does.Contain("vm-2").And.Contain("item 3").And.Contain("disposed"));
        Assert.That(kho.IsFinalized, Is.False);
        Assert.Throws<KStateInvalidException>(() => sessions.Create("vm-3").SaveState(InnerD, box, token: 1), "a disposed box is refused at once");
    }

    [Test]
    public void A_box_in_KHO_memory_is_unreachable_once_its_Kho_is_disposed()
    {
        using var region = new TestRegion("typed-kho-gone");
        var kho = region.Boot();
        using var box = new KStateBox<Inner>(kho);
        box.Value.X = 1;
        kho.Dispose();
        Assert.Throws<ObjectDisposedException>(() => _ = box.Value.X);
    }
}
