using System.Runtime.InteropServices;
using KState.Core.Records;
using KState.Tests.Support;

namespace KState.Tests.Records;

public unsafe class BlobTests
{
    private static byte[] Pattern(int n, int seed)
    {
        var b = new byte[n];
        new Random(seed).NextBytes(b);
        return b;
    }

    [TestCase(0)]
    [TestCase(100)]
    [TestCase(RecordWriter.BlobInlineLimit)]
    [TestCase(RecordWriter.BlobInlineLimit + 1)]
    [TestCase(10 << 20)]
    public void Blobs_of_any_size_round_trip_through_kho(int size)
    {
        using var region = new TestRegion("blob");
        var data = Pattern(size, size);
        ulong first;
        using (var kho = region.Boot(48 << 20))
        {
            var w = new RecordWriter(new KhoSegmentMemory(kho), "main");
            w.BeginRecord(1, 1, 1);
            w.PutUInt32(7);
            w.PutBlob(data);
            w.PutUInt32(8);
            w.EndRecord();
            first = w.Complete().FirstSegment;
            kho.AddSubtree("first", BitConverter.GetBytes(first));
            kho.FinalizeHandover();
        }
        using var next = region.Boot(48 << 20);
        var r = RecordReader.Open(new KhoSegmentMemory(next), first, "main");
        var c = r.Find(1, 1).Cursor;
        Assert.That(c.ReadUInt32(), Is.EqualTo(7));
        Assert.That(c.ReadBlob(), Is.EqualTo(data));
        Assert.That(c.ReadUInt32(), Is.EqualTo(8));
        Assert.That(r.Find(1, 1).Cursor.Skip4().ReadBlob(), Is.EqualTo(data), "a second read uses the attached data segments");
        Assert.That(next.ListUnrestored(), Is.Empty);
    }

    [Test]
    public void A_damaged_or_missing_data_segment_is_a_corruption_error()
    {
        using var mem = new BufferSegmentMemory(32 << 20);
        var w = new RecordWriter(mem, "main");
        w.BeginRecord(1, 1, 1);
        w.PutBlob(Pattern(5 << 20, 1));
        w.EndRecord();
        var info = w.Complete();
        var image = mem.Image.ToArray();
        var (dataPhys, _) = w.DataSegments[1];
        image[(int)(dataPhys - BufferSegmentMemory.PhysBase) + 1000] ^= 1;
        var r = RecordReader.Open(new BufferSegmentMemory(image), info.FirstSegment, "main");
        var e = Assert.Throws<KStateCorruptException>(() => r.Find(1, 1).Cursor.ReadBlob());
        Assert.That(e!.Message, Does.Contain("blob data checksum mismatch"));

        var cut = mem.Image[..(int)(dataPhys - BufferSegmentMemory.PhysBase)].ToArray();
        var r2 = RecordReader.Open(new BufferSegmentMemory(cut), info.FirstSegment, "main");
        e = Assert.Throws<KStateCorruptException>(() => r2.Find(1, 1).Cursor.ReadBlob());
        Assert.That(e!.Message, Does.Contain("not in preserved memory"));
    }

    [Test]
    public void An_abandoned_record_gives_its_data_segments_back()
    {
        using var region = new TestRegion("blob-abandon");
        using var kho = region.Boot(48 << 20);
        var w = new RecordWriter(new KhoSegmentMemory(kho), "main");
        ulong free = kho.FreePages;
        w.BeginRecord(1, 1, 1);
        w.PutBlob(new byte[9 << 20]);
        Assert.That(kho.FreePages, Is.LessThan(free));
        w.AbandonOpenRecord();
        Assert.That(kho.FreePages, Is.EqualTo(free));
        Assert.Throws<KStateOutOfMemoryException>(() =>
        {
            w.BeginRecord(2, 2, 1);
            w.PutBlob(new byte[60 << 20]); // more than the region: the record is dropped, nothing leaks
        });
        Assert.That(kho.FreePages, Is.EqualTo(free));
    }

    [StructLayout(LayoutKind.Sequential)]
    public struct Item32
    {
        public long A, B, C, D;
    }

    [StructLayout(LayoutKind.Sequential)]
    public struct Table
    {
        public ulong N;
        public Ptr<Item32> Items;
    }

    [Test]
    public void A_million_structs_behind_a_counted_pointer_round_trip()
    {
        const int n = 1_000_000;
        var d = KStateDescriptionBuilder<Table>.Create("acme-test/table", 1, 1)
            .Base((ref Table t) => ref t.N)
            .Pointer((ref Table t) => ref t.Items, count: n, countMember: "N")
            .Build();
        var items = new Item32[n];
        for (int i = 0; i < n; i++) items[i] = new Item32 { A = i, B = -i, C = i * 3, D = 7 };
        using var mem = new BufferSegmentMemory(48 << 20);
        var w = new RecordWriter(mem, "main");
        fixed (Item32* p = items)
        {
            var t = new Table { N = n, Items = new Ptr<Item32>(p) };
            d.Save(w, ref t, 0);
        }
        var info = w.Complete();
        var r = RecordReader.Open(new BufferSegmentMemory(mem.Image), info.FirstSegment, "main");
        Assert.That(r.Find(d.Id, 0).Payload.Length, Is.LessThan(1024), "the array went out of line");
        var back = new Table();
        d.Restore(r, ref back, 0);
        Assert.That(back.N, Is.EqualTo((ulong)n));
        Assert.That(new ReadOnlySpan<Item32>(back.Items.Value, n).SequenceEqual(items), Is.True);
        NativeMemory.Free(back.Items.Value);
    }
}

internal static class CursorTestExtensions
{
    public static RecordCursor Skip4(this RecordCursor c)
    {
        c.Skip(4);
        return c;
    }
}
