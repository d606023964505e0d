using System.Runtime.InteropServices;
using KState.Core.Ids;
using KState.Core.Records;
using KState.Tests.Support;

namespace KState.Tests.Records;

public class RecordTests
{
    [StructLayout(LayoutKind.Sequential)]
    private struct Pair
    {
        public int A;
        public long B;
    }

    [Test]
    public void Every_kind_of_put_round_trips()
    {
        using var mem = new BufferSegmentMemory(1 << 20);
        var w = new RecordWriter(mem, "main");
        w.BeginRecord(0x1234, 7, 3);
        w.PutByte(0xAB);
        w.PutUInt16(0xBEEF);
        w.PutUInt32(0xDEADBEEF);
        w.PutInt32(-5);
        w.PutUInt64(ulong.MaxValue - 1);
        w.PutInt64(long.MinValue);
        w.PutDouble(Math.PI);
        w.PutString("héllo");
        w.Put([1, 2, 3]);
        w.PutValue(new Pair { A = 1, B = 2 });
        w.PutValues<int>([10, 20, 30]);
        w.BeginNested(0x55, 1, 2);
        w.PutUInt32(99);
        w.BeginNested(0x56, 2, 1, RecordType.Subsection);
        w.PutByte(1);
        w.EndNested();
        w.EndNested();
        w.PutUInt32(77);
        w.EndRecord();
        var info = w.Complete();

        var r = RecordReader.Open(new BufferSegmentMemory(mem.Image), info.FirstSegment, "main");
        var rec = r.Find(0x1234, 7);
        Assert.That((rec.Type, rec.Version), Is.EqualTo((RecordType.Main, 3u)));
        var c = rec.Cursor;
        using (Assert.EnterMultipleScope())
        {
            Assert.That(c.ReadByte(), Is.EqualTo(0xAB));
            Assert.That(c.ReadUInt16(), Is.EqualTo(0xBEEF));
            Assert.That(c.ReadUInt32(), Is.EqualTo(0xDEADBEEF));
            Assert.That(c.ReadInt32(), Is.EqualTo(-5));
            Assert.That(c.ReadUInt64(), Is.EqualTo(ulong.MaxValue - 1));
            Assert.That(c.ReadInt64(), Is.EqualTo(long.MinValue));
            Assert.That(c.ReadDouble(), Is.EqualTo(Math.PI));
            Assert.That(c.ReadString(), Is.EqualTo("héllo"));
            Assert.That(c.ReadSpan(3).ToArray(), Is.EqualTo(new byte[] { 1, 2, 3 }));
            var pair = c.ReadValue<Pair>();
            Assert.That((pair.A, pair.B), Is.EqualTo((1, 2L)));
            var ints = new int[3];
            c.ReadValues<int>(ints);
            Assert.That(ints, Is.EqualTo(new[] { 10, 20, 30 }));
            Assert.That(c.TryReadNested(out var n1), Is.True);
            Assert.That((n1.StateId, n1.InstanceId, n1.Version, n1.Type), Is.EqualTo((0x55UL, 1UL, 2u, RecordType.Nested)));
            var c1 = n1.Cursor;
            Assert.That(c1.ReadUInt32(), Is.EqualTo(99));
            Assert.That(c1.TryReadNested(out var n2), Is.True);
            Assert.That(n2.Type, Is.EqualTo(RecordType.Subsection));
            Assert.That(n2.Cursor.ReadByte(), Is.EqualTo(1));
            Assert.That(c1.TryReadNested(out _), Is.False);
            Assert.That(c.ReadUInt32(), Is.EqualTo(77));
            Assert.That(c.Remaining, Is.Zero);
        }
        int len = rec.Payload.Length;
        Assert.Throws<KStateCorruptException>(() => r.Find(0x1234, 7).Cursor.ReadSpan(len + 1));
    }

    [Test]
    public void Unbalanced_calls_are_errors()
    {
        using var mem = new BufferSegmentMemory(1 << 20);
        var w = new RecordWriter(mem, "main");
        Assert.Throws<KStateInvalidException>(() => w.PutUInt32(1));
        Assert.Throws<KStateInvalidException>(w.EndRecord);
        Assert.Throws<KStateInvalidException>(() => w.BeginNested(1, 1, 1));
        w.BeginRecord(1, 1, 1);
        Assert.Throws<KStateInvalidException>(() => w.BeginRecord(2, 2, 1));
        Assert.Throws<KStateInvalidException>(w.EndNested);
        w.BeginNested(3, 3, 1);
        Assert.Throws<KStateInvalidException>(w.EndRecord);
        Assert.Throws<KStateInvalidException>(() => w.Complete());
        w.EndNested();
        w.EndRecord();
        w.Complete();
        Assert.Throws<KStateInvalidException>(() => w.BeginRecord(1, 1, 1));
        Assert.Throws<KStateInvalidException>(() => new RecordWriter(mem, ""));
        Assert.Throws<KStateInvalidException>(() => new RecordWriter(mem, new string('x', 64)));
    }

    [Test]
    public void Nesting_deeper_than_16_is_refused()
    {
        using var mem = new BufferSegmentMemory(1 << 20);
        var w = new RecordWriter(mem, "main");
        w.BeginRecord(1, 1, 1);
        for (int i = 0; i < 16; i++) w.BeginNested(1, (ulong)i, 1);
        Assert.Throws<KStateInvalidException>(() => w.BeginNested(1, 99, 1));
    }

    [Test]
    public void Saving_the_same_state_and_instance_again_keeps_only_the_newest()
    {
        using var mem = new BufferSegmentMemory(1 << 20);
        var w = new RecordWriter(mem, "main");
        w.WriteRecord(5, 1, 1, [1]);
        w.WriteRecord(5, 2, 1, [2]);
        w.WriteRecord(5, 1, 2, [3]);
        var info = w.Complete();
        var r = RecordReader.Open(new BufferSegmentMemory(mem.Image), info.FirstSegment, "main");
        Assert.That(r.Count, Is.EqualTo(2));
        var rec = r.Find(5, 1);
        Assert.That((rec.Version, rec.Payload[0]), Is.EqualTo((2u, (byte)3)));
        var seen = new List<(ulong, byte)>();
        foreach (var x in r) seen.Add((x.InstanceId, x.Payload[0]));
        Assert.That(seen, Is.EqualTo(new[] { (2UL, (byte)2), (1UL, (byte)3) }));
    }

    [Test]
    public void Missing_records_are_not_found()
    {
        using var mem = new BufferSegmentMemory(1 << 20);
        var w = new RecordWriter(mem, "main");
        var info = w.Complete();
        var r = RecordReader.Open(new BufferSegmentMemory(mem.Image), info.FirstSegment, "main");
        Assert.That(r.TryFind(1, 1, out _), Is.False);
        Assert.Throws<KStateNotFoundException>(() => r.Find(1, 1));
    }

    [Test]
    public void A_record_larger_than_the_largest_segment_fails_cleanly_and_earlier_records_stay()
    {
        using var mem = new BufferSegmentMemory(32 << 20);
        var w = new RecordWriter(mem, "main");
        w.WriteRecord(1, 1, 1, new byte[1000]);
        w.BeginRecord(2, 2, 1);
        Assert.Throws<KStateNoSpaceException>(() => w.Put(new byte[5 << 20]));
        w.WriteRecord(3, 3, 1, [3]); // the failed record was dropped; the writer goes on
        var info = w.Complete();
        var r = RecordReader.Open(new BufferSegmentMemory(mem.Image), info.FirstSegment, "main");
        Assert.That(r.Find(1, 1).Payload.Length, Is.EqualTo(1000));
        Assert.That(r.TryFind(2, 2, out _), Is.False);
        Assert.That(r.Find(3, 3).Payload[0], Is.EqualTo(3));
    }

    [Test]
    public void A_stream_that_cannot_grow_fails_cleanly_and_keeps_its_records()
    {
        using var mem = new BufferSegmentMemory(64 << 10); // room for three small segments
        var w = new RecordWriter(mem, "main");
        int saved = 0;
        Assert.Throws<KStateOutOfMemoryException>(() =>
        {
            for (; ; saved++) w.WriteRecord(1, (ulong)saved, 1, new byte[1000]);
        });
        var info = w.Complete();
        var r = RecordReader.Open(new BufferSegmentMemory(mem.Image), info.FirstSegment, "main");
        Assert.That(r.Count, Is.EqualTo(saved));
        for (int i = 0; i < saved; i++) Assert.That(r.Find(1, (ulong)i).Payload.Length, Is.EqualTo(1000));
    }

    [Test]
    public void Lookup_finds_each_of_100000_instances()
    {
        using var mem = new BufferSegmentMemory(64 << 20);
        var w = new RecordWriter(mem, "main");
        for (ulong i = 0; i < 100_000; i++)
        {
            w.BeginRecord(42, i * 7919, 1);
            w.PutUInt64(i);
            w.EndRecord();
        }
        var info = w.Complete();
        var r = RecordReader.Open(new BufferSegmentMemory(mem.Image), info.FirstSegment, "main");
        Assert.That(r.Count, Is.EqualTo(100_000));
        for (ulong i = 0; i < 100_000; i++)
            if (r.Find(42, i * 7919).Cursor.ReadUInt64() != i) Assert.Fail($"instance {i} read back wrong");
        Assert.That(r.TryFind(42, 1, out _), Is.False);
    }

    [Test]
    public void A_stream_larger_than_the_largest_folio_spans_segments_in_kho()
    {
        using var region = new TestRegion("big");
        ulong first;
        using (var kho = region.Boot(64 << 20))
        {
            var w = new RecordWriter(new KhoSegmentMemory(kho), "main");
            var payload = new byte[64 * 1024];
            for (int i = 0; i < 200; i++) // 12.5 MiB > 4 MiB
            {
                payload.AsSpan().Fill((byte)i);
                w.WriteRecord(9, (ulong)i, 1, payload);
            }
            var info = w.Complete();
            Assert.That(info.Segments, Is.GreaterThan(3));
            first = info.FirstSegment;
            kho.AddSubtree("first", BitConverter.GetBytes(first));
            kho.FinalizeHandover();
        }
        using var next = region.Boot(64 << 20);
        var r = RecordReader.Open(new KhoSegmentMemory(next), first, "main");
        for (int i = 0; i < 200; i++)
            Assert.That(r.Find(9, (ulong)i).Payload.ContainsAnyExcept((byte)i), Is.False, $"record {i}");
        Assert.That(next.ListUnrestored(), Is.Empty, "every segment was attached");
    }

    [Test]
    public void Names_map_to_ids_deterministically_and_collisions_are_caught()
    {
        Assert.That(KStateId.FromName("acme-nic", "rx-ring"), Is.EqualTo(KStateId.FromName("acme-nic/rx-ring")));
        Assert.That(KStateId.FromName("acme-nic/rx-ring"), Is.Not.EqualTo(KStateId.FromName("acme-nic/tx-ring")));
        Assert.Throws<KStateInvalidException>(() => KStateId.FromName("Acme NIC", "x"));
        Assert.Throws<KStateInvalidException>(() => KStateId.FromName(""));

        using var mem = new BufferSegmentMemory(1 << 20);
        var w = new RecordWriter(mem, "main");
        ulong id = w.Name2Id("acme-nic/rx-ring");
        w.DefineName(id, "acme-nic/rx-ring"); // the same pair again is fine
        Assert.Throws<KStateExistsException>(() => w.DefineName(id, "acme-nic/other"), "collision when saving");
        w.DefineName(77, "acme-nic/fixed-id");
        w.WriteRecord(id, 0, 1, [1]);
        var info = w.Complete();
        var r = RecordReader.Open(new BufferSegmentMemory(mem.Image), info.FirstSegment, "main");
        Assert.That(r.Names.NameOf(id), Is.EqualTo("acme-nic/rx-ring"));
        Assert.That(r.Names.NameOf(77), Is.EqualTo("acme-nic/fixed-id"));
        Assert.That(r.TryFind("acme-nic/rx-ring", 0, out var rec), Is.True);
        Assert.That(rec.Payload[0], Is.EqualTo(1));
    }

    [Test]
    public void A_names_table_that_gives_an_id_to_another_name_is_a_collision_when_restoring()
    {
        using var mem = new BufferSegmentMemory(1 << 20);
        var w = new RecordWriter(mem, "main");
        ulong id = KStateId.FromName("acme-nic/rx-ring");
        w.DefineName(id, "acme-nic/impostor"); // as if another build hashed another name to this id
        w.WriteRecord(id, 0, 1, [1]);
        var info = w.Complete();
        var r = RecordReader.Open(new BufferSegmentMemory(mem.Image), info.FirstSegment, "main");
        var e = Assert.Throws<KStateExistsException>(() => r.TryFind("acme-nic/rx-ring", 0, out _));
        Assert.That(e!.Message, Does.Contain("collision"));
    }
}
