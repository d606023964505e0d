using System.Buffers.Binary;
using CsCheck;
using KState.Core.Records;
using KState.Tests.Support;

namespace KState.Tests.Records;

public class SubstreamTests
{
    [Test]
    public void Substreams_are_written_found_and_dropped_independently()
    {
        using var mem = new BufferSegmentMemory(1 << 20);
        var set = new StreamSet(mem);
        set.Create("session-a").WriteRecord(1, 1, 1, [0xA]);
        set.Create("session-b").WriteRecord(1, 1, 1, [0xB]);
        set.Create("session-c").WriteRecord(1, 1, 1, [0xC]);
        Assert.Throws<KStateExistsException>(() => set.Create("session-a"));
        Assert.That(set.DropOutgoing("session-b"), Is.True);
        Assert.That(set.DropOutgoing("session-b"), Is.False);
        var root = set.Complete();

        var incoming = new StreamSet(new BufferSegmentMemory(mem.Image));
        incoming.LoadIncoming(root);
        Assert.That(incoming.IncomingStreams, Is.EquivalentTo(new[] { "session-a", "session-c" }));
        Assert.That(incoming.Open("session-c").Find(1, 1).Payload[0], Is.EqualTo(0xC));
        Assert.That(incoming.Open("session-a").Find(1, 1).Payload[0], Is.EqualTo(0xA));
        Assert.Throws<KStateNotFoundException>(() => incoming.Open("session-b"));
        Assert.That(incoming.DropIncoming("session-a"), Is.True);
        Assert.That(incoming.HasIncoming("session-a"), Is.False);
        Assert.That(incoming.Open("session-c").Find(1, 1).Payload[0], Is.EqualTo(0xC));
    }

    [Test]
    public void An_unknown_format_version_is_refused_clearly()
    {
        using var mem = new BufferSegmentMemory(1 << 20);
        var set = new StreamSet(mem);
        set.Create("main");
        var root = set.Complete();
        BinaryPrimitives.WriteUInt32LittleEndian(root.AsSpan(8), 2);
        var e = Assert.Throws<KStateVersionException>(() => new StreamSet(mem).LoadIncoming(root));
        Assert.That(e!.Message, Does.Contain("version 2 is unknown"));
    }

    [Test]
    public void A_damaged_root_blob_is_a_specific_error()
    {
        using var mem = new BufferSegmentMemory(1 << 20);
        var set = new StreamSet(mem);
        set.Create("main");
        var root = set.Complete();
        for (int i = 0; i < root.Length; i++)
        {
            if (i is >= 8 and < 12) continue; // the version field has its own error
            var bad = (byte[])root.Clone();
            bad[i] ^= 0x40;
            Assert.Throws<KStateCorruptException>(() => new StreamSet(mem).LoadIncoming(bad), $"byte {i}");
        }
        for (int len = 0; len < root.Length; len++)
            Assert.Throws<KStateCorruptException>(() => new StreamSet(mem).LoadIncoming(root.AsSpan(0, len)), $"prefix {len}");
    }

    [Test]
    public void Streams_saved_in_one_process_are_read_after_boot_in_the_next()
    {
        using var region = new TestRegion("rec");
        var result = Child.Run("records-save", region.Path, "500");
        Assert.That(result.ExitCode, Is.Zero, result.ToString());
        using var kho = region.Boot(32 << 20);
        Assert.That(kho.IsKhoBoot, Is.True, kho.BootReport);
        using var streams = new KStateStreams(kho);
        Assert.That(streams.Set.IncomingStreams, Is.EquivalentTo(new[] { "main", "session-1" }));
        var main = streams.Set.Open("main");
        Assert.That(main.Count, Is.EqualTo(500));
        for (ulong i = 0; i < 500; i++)
        {
            var c = main.TryFind("acme-nic/queue", i, out var rec) ? rec.Cursor : throw new AssertionException($"instance {i} missing");
            Assert.That((c.ReadUInt64(), c.ReadString()), Is.EqualTo((i * i, $"queue {i}")));
        }
        Assert.That(streams.Set.Open("session-1").Find(7, 7).Payload.Length, Is.EqualTo(100_000));
        streams.Set.DropIncoming("session-1");
        Assert.That(kho.ListUnrestored(), Is.Empty, "every segment was taken by a reader");
    }

    private sealed record Rec(ulong State, ulong Instance, uint Version, byte[] Payload, byte[][] Nested);

    [Test]
    public void Random_sequences_of_records_and_substreams_round_trip()
    {
        var genRec = Gen.Select(Gen.ULong[0, 50], Gen.ULong[0, 50], Gen.UInt[0, 9], Gen.Byte.Array[0, 300], Gen.Byte.Array[0, 40].Array[0, 3])
            .Select((s, i, v, p, n) => new Rec(s, i, v, p, n));
        var genStreams = genRec.List[0, 40].Array[1, 5];
        genStreams.Sample(streams =>
        {
            using var mem = new BufferSegmentMemory(4 << 20);
            var set = new StreamSet(mem);
            for (int s = 0; s < streams.Length; s++)
            {
                var w = set.Create($"s{s}");
                foreach (var r in streams[s])
                {
                    w.BeginRecord(r.State, r.Instance, r.Version);
                    w.Put(r.Payload);
                    foreach (var n in r.Nested)
                    {
                        w.BeginNested(1, 2, 3);
                        w.Put(n);
                        w.EndNested();
                    }
                    w.EndRecord();
                }
            }
            var root = set.Complete();
            var incoming = new StreamSet(new BufferSegmentMemory(mem.Image));
            incoming.LoadIncoming(root);
            for (int s = 0; s < streams.Length; s++)
            {
                var reader = incoming.Open($"s{s}");
                var newest = new Dictionary<(ulong, ulong), Rec>();
                foreach (var r in streams[s]) newest[(r.State, r.Instance)] = r;
                if (reader.Count != newest.Count) return false;
                foreach (var ((state, instance), r) in newest)
                {
                    var rec = reader.Find(state, instance);
                    var c = rec.Cursor;
                    if (rec.Version != r.Version || !c.ReadSpan(r.Payload.Length).SequenceEqual(r.Payload)) return false;
                    foreach (var n in r.Nested)
                        if (!c.TryReadNested(out var nested) || !nested.Cursor.ReadSpan(n.Length).SequenceEqual(n)) return false;
                    if (c.TryReadNested(out _)) return false;
                }
            }
            return true;
        }, iter: 200);
    }
}
