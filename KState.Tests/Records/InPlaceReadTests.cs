using KState.Tests.Support;

namespace KState.Tests.Records;

/// <summary>Records read in place (issue 13 item 4): payloads and blobs are spans into the region, checked once.</summary>
public unsafe class InPlaceReadTests
{
    private static ulong PhysOf(Kho kho, ReadOnlySpan<byte> span)
    {
        fixed (byte* p = span) return kho.DangerousVirtToPhys(p);
    }

    [Test]
    public void Records_saved_with_the_lower_level_API_are_read_in_place_by_the_next_process()
    {
        using var region = new TestRegion("rawrec");
        var result = Child.Run("records-raw-save", region.Path);
        Assert.That(result.ExitCode, Is.Zero, result.ToString());

        using var kho = region.Boot(32 << 20);
        using var streams = new KStateStreams(kho);
        var registry = new KStateRegistry(streams);
        using (Assert.EnterMultipleScope())
        {
            for (ulong i = 0; i < 100; i++)
            {
                Assert.That(registry.TryReadRecord("acme-db/page", i, out var rec), Is.True, $"page {i}");
                Assert.That(rec.Version, Is.EqualTo(3u));
                Assert.That(PhysOf(kho, rec.Payload), Is.Not.Zero, "the payload is a span into the region, not a copy");
                var c = rec.Cursor;
                Assert.That((c.ReadUInt64(), c.ReadString()), Is.EqualTo((i * 7, $"page {i}")));
            }
            var blob = registry.ReadRecord(42, 1).Cursor.ReadBlobSpan();
            Assert.That(blob.Length, Is.EqualTo(1 << 20));
            Assert.That(PhysOf(kho, blob), Is.Not.Zero, "the blob is read where it lies");
            bool right = true;
            for (int i = 0; i < blob.Length; i++) right &= blob[i] == (byte)(i * 31 + 7);
            Assert.That(right, Is.True, "blob contents");
            Assert.That(registry.TryReadRecord("acme-db/page", 100, out _), Is.False);
        }
    }

    [Test]
    public void A_damaged_record_is_refused_on_its_first_read()
    {
        using var region = new TestRegion("rawbad");
        long at = SaveOne(region, 10_000) + 5000;
        using (var file = new FileStream(region.Path, FileMode.Open, FileAccess.ReadWrite))
        {
            file.Position = at;
            int b = file.ReadByte();
            file.Position = at;
            file.WriteByte((byte)(b ^ 0xFF));
        }
        using var kho = region.Boot(16 << 20);
        Assert.That(kho.IsKhoBoot, Is.True, "boot checks the map and the stream's headers; record checksums are checked on read");
        using var streams = new KStateStreams(kho);
        var registry = new KStateRegistry(streams);
        Assert.That(() => registry.TryReadRecord(9, 9, out _), Throws.TypeOf<KStateCorruptException>().With.Message.Contains("checksum"));
    }

    [Test]
    public void A_record_read_again_is_not_hashed_again()
    {
        using var region = new TestRegion("rawonce");
        ulong payloadPhys = Kho.PhysBase + (ulong)SaveOne(region, 10_000);
        using var kho = region.Boot(16 << 20);
        using var streams = new KStateStreams(kho);
        var registry = new KStateRegistry(streams);
        Assert.That(registry.ReadRecord(9, 9).Payload[5000], Is.EqualTo((byte)(5000 % 251)));
        // Once checked, the record is this generation's alone and is not hashed again: a byte changed in place
        // afterwards (by this process) is seen, not reported as damage.
        kho.PhysSpan(payloadPhys + 5000, 1)[0] = 0xAA;
        Assert.That(registry.ReadRecord(9, 9).Payload[5000], Is.EqualTo((byte)0xAA));
    }

    [Test]
    public void A_blob_over_one_data_segment_is_read_by_copy_not_in_place()
    {
        using var region = new TestRegion("rawbig");
        using (var kho = region.Boot(64 << 20))
        using (var streams = new KStateStreams(kho))
        {
            var registry = new KStateRegistry(streams);
            registry.SaveRecord(1, 1, 1, w => w.PutBlob(new byte[5 << 20]));
            kho.FinalizeHandover();
        }
        using var next = region.Boot(64 << 20);
        using var s2 = new KStateStreams(next);
        var r2 = new KStateRegistry(s2);
        Assert.That(() => r2.ReadRecord(1, 1).Cursor.ReadBlobSpan(), Throws.TypeOf<KStateInvalidException>().With.Message.Contains("data segments"));
        Assert.That(r2.ReadRecord(1, 1).Cursor.ReadBlob(), Has.Length.EqualTo(5 << 20));
    }

    [Test]
    public void A_builder_that_throws_leaves_the_stream_as_it_was()
    {
        using var region = new TestRegion("rawthrow");
        using (var kho = region.Boot(16 << 20))
        using (var streams = new KStateStreams(kho))
        {
            var registry = new KStateRegistry(streams);
            registry.SaveRecord(1, 1, 1, w => w.PutUInt32(11));
            Assert.That(() => registry.SaveRecord(1, 2, 1, w =>
            {
                w.PutUInt32(12);
                throw new InvalidOperationException("builder failed");
            }), Throws.InvalidOperationException);
            registry.SaveRecord(1, 3, 1, w => w.PutUInt32(13));
            kho.FinalizeHandover();
            Assert.That(() => registry.SaveRecord(1, 4, 1, w => w.PutUInt32(14)), Throws.TypeOf<KStateBusyException>());
        }
        using var next = region.Boot(16 << 20);
        using var s2 = new KStateStreams(next);
        var r2 = new KStateRegistry(s2);
        using (Assert.EnterMultipleScope())
        {
            Assert.That(r2.ReadRecord(1, 1).Cursor.ReadUInt32(), Is.EqualTo(11u));
            Assert.That(r2.TryReadRecord(1, 2, out _), Is.False);
            Assert.That(r2.ReadRecord(1, 3).Cursor.ReadUInt32(), Is.EqualTo(13u));
        }
    }

    [Test]
    public void A_record_read_after_the_region_is_gone_throws_instead_of_faulting()
    {
        using var region = new TestRegion("rawgone");
        SaveOne(region, 1000);
        var kho = region.Boot(16 << 20);
        using var streams = new KStateStreams(kho);
        var registry = new KStateRegistry(streams);
        Assert.That(registry.TryReadRecord(9, 9, out _), Is.True);
        kho.Dispose();
        Assert.That(() => registry.TryReadRecord(9, 9, out _), Throws.TypeOf<ObjectDisposedException>());
    }

    /// <summary>Saves record (9, 9) of <paramref name="bytes"/> bytes and finalizes; gives the region file offset of its payload.</summary>
    private static long SaveOne(TestRegion region, int bytes)
    {
        var data = new byte[bytes];
        for (int i = 0; i < bytes; i++) data[i] = (byte)(i % 251);
        using (var kho = region.Boot(16 << 20))
        using (var streams = new KStateStreams(kho))
        {
            new KStateRegistry(streams).SaveRecord(9, 9, 1, w => w.Put(data));
            kho.FinalizeHandover();
        }
        long at = File.ReadAllBytes(region.Path).AsSpan().IndexOf(data.AsSpan(0, 256));
        Assert.That(at, Is.GreaterThan(0), "the payload is in the region file");
        return at;
    }
}
