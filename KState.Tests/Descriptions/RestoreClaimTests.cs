using System.Buffers.Binary;
using System.Runtime.InteropServices;
using KState.Core.Records;
using KState.Tests.Support;

namespace KState.Tests.Descriptions;

/// <summary>A restore that fails claims nothing from KHO, so it can be retried (issue 18, items 6 and 7).</summary>
public unsafe class RestoreClaimTests
{
    private static bool s_failPostLoad;

    private static readonly KStateDescription Holder = KStateDescriptionBuilder<FolioHolder>.Create("acme-test/claim-holder", 1, 1)
        .Base((ref FolioHolder h) => ref h.Value)
        .Folio((ref FolioHolder h) => ref h.Page)
        .PostLoad((ref FolioHolder _, int _) => s_failPostLoad ? -7 : 0)
        .Build();

    [Test]
    public void A_restore_whose_post_load_fails_leaves_its_folios_restorable_and_a_retry_succeeds()
    {
        using var region = new TestRegion("claim-retry");
        Folio page;
        using (var kho = region.Boot())
        using (var streams = new KStateStreams(kho))
        {
            var h = new FolioHolder { Value = 11, Page = kho.AllocFolio(0) };
            page = h.Page;
            kho.FolioSpan(page)[0] = 0x5a;
            new KStateRegistry(streams).Save(Holder, &h, 1);
            kho.FinalizeHandover();
        }

        using var next = region.Boot();
        using var incoming = new KStateStreams(next);
        var registry = new KStateRegistry(incoming);
        var obj = new FolioHolder();
        nint p = (nint)(&obj);
        s_failPostLoad = true;
        Assert.Throws<KStateHookException>(() => registry.Restore(Holder, (void*)p, 1));
        using (Assert.EnterMultipleScope())
        {
            Assert.That(obj.Value, Is.Zero, "the object is as it was");
            Assert.That(next.CanRestoreFolio(page.Phys, out _), Is.True, "the folio is still to restore");
        }
        s_failPostLoad = false;
        registry.Restore(Holder, &obj, 1);
        using (Assert.EnterMultipleScope())
        {
            Assert.That((obj.Value, obj.Page), Is.EqualTo((11, page)));
            Assert.That(next.FolioSpan(obj.Page)[0], Is.EqualTo(0x5a));
            Assert.That(next.CanRestoreFolio(page.Phys, out _), Is.False, "claimed by the restore that succeeded");
        }
    }

    [Test]
    public void A_restore_with_a_mismatched_description_claims_nothing()
    {
        const string name = "acme-test/claim-mismatch";
        const int raw = 48;
        using var region = new TestRegion("claim-mismatch");
        Folio own;
        using (var kho = region.Boot())
        using (var streams = new KStateStreams(kho))
        {
            own = kho.AllocFolio(2);
            kho.PreserveFolio(own); // the program's own preserved folio, found by other means after boot
            // Base bytes that read, under a pointer field, as a present pointee in one data segment: that folio.
            var bytes = new byte[raw];
            BinaryPrimitives.WriteUInt32LittleEndian(bytes, 1);              // pointee count
            BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(4), 1);    // blob kind: data segments
            BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(8), 1);    // one data segment
            BinaryPrimitives.WriteInt64LittleEndian(bytes.AsSpan(12), Kho.PageSize << 2);
            BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan(20), 0x1234);
            BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan(28), own.Phys);
            var saver = KStateDescription.Create(name, 1, 1, raw, [new KStateField { Name = "raw", Size = 1, Count = raw, Kind = FieldKind.Base }]);
            fixed (byte* b = bytes) new KStateRegistry(streams).Save(saver, b, 1);
            kho.FinalizeHandover();
        }

        using var next = region.Boot();
        using var incoming = new KStateStreams(next);
        var reader = KStateDescription.Create(name, 1, 1, 8, [new KStateField { Name = "p", Size = Kho.PageSize << 2, Kind = FieldKind.Pointer }]);
        void* slot = null;
        nint p = (nint)(&slot);
        Assert.Throws<KStateCorruptException>(() => new KStateRegistry(incoming).Restore(reader, (void*)p, 1));
        Assert.That(next.CanRestoreFolio(own.Phys, out _), Is.True, "the program's folio is still its own to restore");
    }

    private static readonly KStateDescription BigPointee = KStateDescription.Create("acme-test/claim-big-pointee", 1, 1, 8,
        [new KStateField { Name = "p", Size = 1, Count = BigBytes, Kind = FieldKind.Pointer }],
        postLoad: (_, _) => s_failPostLoad ? -7 : 0);

    private const int BigBytes = 256 * 1024; // past the inline limit: the pointee travels in data segments

    [Test]
    public void A_restore_whose_post_load_fails_leaves_its_blob_data_segments_unclaimed_and_a_retry_succeeds()
    {
        using var region = new TestRegion("claim-blob");
        var data = new byte[BigBytes];
        new Random(5).NextBytes(data);
        using (var kho = region.Boot())
        using (var streams = new KStateStreams(kho))
        {
            fixed (byte* d = data)
            {
                void* slot = d;
                new KStateRegistry(streams).Save(BigPointee, &slot, 1);
            }
            kho.FinalizeHandover();
        }

        using var next = region.Boot();
        using var incoming = new KStateStreams(next);
        var registry = new KStateRegistry(incoming);
        _ = registry.IncomingSchema; // opens the stream, which attaches its own segments
        int unrestored = next.ListUnrestored().Count;
        void* target = null;
        nint p = (nint)(&target);
        s_failPostLoad = true;
        try
        {
            Assert.Throws<KStateHookException>(() => registry.Restore(BigPointee, (void*)p, 1));
        }
        finally
        {
            s_failPostLoad = false;
        }
        Assert.That(next.ListUnrestored(), Has.Count.EqualTo(unrestored), "the failed restore claimed none of the blob's data segments");
        registry.Restore(BigPointee, &target, 1);
        using (Assert.EnterMultipleScope())
        {
            Assert.That(new ReadOnlySpan<byte>(target, BigBytes).SequenceEqual(data), Is.True);
            Assert.That(next.ListUnrestored(), Has.Count.LessThan(unrestored), "the restore that succeeded claimed them");
        }
        NativeMemory.Free(target);
    }
}
