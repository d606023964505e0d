using KState.Core.Records;
using KState.Tests.Support;

namespace KState.Tests.Records;

/// <summary>A stream rolled back to a mark ends where it did then: records, names, segments and data segments written
/// after the mark are gone (what a failed or aborted finalize relies on, issue 12 defect 2).</summary>
public unsafe class RollbackTests
{
    private static void WriteAfterMark(RecordWriter w)
    {
        w.DefineName(0x77, "acme-test/after-mark");
        var big = new byte[100 << 10];
        for (ulong i = 0; i < 20; i++) w.WriteRecord(0x77, i, 1, big); // grows the chain by several segments
        w.BeginRecord(0x78, 0, 1);
        w.PutBlob(new byte[1 << 20]);                                      // a blob in data segments
        w.EndRecord();
    }

    [Test]
    public void Rolling_back_drops_the_records_and_names_after_the_mark_and_keeps_those_before()
    {
        using var mem = new BufferSegmentMemory(16 << 20);
        var w = new RecordWriter(mem, "main");
        w.DefineName(0x11, "acme-test/before-mark");
        w.WriteRecord(0x11, 1, 1, [1, 2, 3]);
        var mark = w.Mark();
        WriteAfterMark(w);
        w.RollBack(mark);
        w.WriteRecord(0x11, 2, 1, [4]);
        var info = w.Complete();

        using var image = new BufferSegmentMemory(mem.Image);
        var r = RecordReader.Open(image, info.FirstSegment, "main");
        using (Assert.EnterMultipleScope())
        {
            Assert.That(r.TryFind(0x11, 1, out var first) && first.Payload.SequenceEqual((byte[])[1, 2, 3]), Is.True);
            Assert.That(r.TryFind(0x11, 2, out _), Is.True, "written after the rollback");
            Assert.That(r.TryFind(0x77, 0, out _), Is.False);
            Assert.That(r.TryFind(0x78, 0, out _), Is.False);
            Assert.That(r.Names.NameOf(0x77), Is.Null);
            Assert.That(r.Names.NameOf(0x11), Is.EqualTo("acme-test/before-mark"));
            Assert.That(r.SegmentCount, Is.EqualTo(1));
        }
    }

    [Test]
    public void Rolling_back_gives_the_segments_and_data_segments_after_the_mark_back_to_memory()
    {
        using var region = new TestRegion("rollback");
        using var kho = region.Boot(32 << 20);
        var w = new RecordWriter(new KhoSegmentMemory(kho), "main");
        w.WriteRecord(0x11, 1, 1, [1]);
        var mark = w.Mark();
        ulong free = kho.FreePages;
        WriteAfterMark(w);
        Assert.That(kho.FreePages, Is.LessThan(free));
        w.RollBack(mark);
        Assert.That(kho.FreePages, Is.EqualTo(free));
    }

    [Test]
    public void A_mark_cannot_be_taken_or_rolled_back_to_inside_an_open_record()
    {
        using var mem = new BufferSegmentMemory(1 << 20);
        var w = new RecordWriter(mem, "main");
        var mark = w.Mark();
        w.BeginRecord(1, 1, 1);
        Assert.Throws<KStateInvalidException>(() => w.Mark());
        Assert.Throws<KStateInvalidException>(() => w.RollBack(mark));
    }
}
