using KState.Core.Records;

namespace KState.Tests.Records;

/// <summary>The byte format itself: golden bytes, and damage at every offset of a small stream.</summary>
public class StreamImageTests
{
    /// <summary>A small stream with a main record, a nested record, a second instance and a names table.</summary>
    private static (byte[] Image, ulong First) SmallStream()
    {
        using var mem = new BufferSegmentMemory(1 << 16);
        var w = new RecordWriter(mem, "main");
        w.DefineName(0x11, "acme-nic/queue");
        w.BeginRecord(0x11, 1, 2);
        w.PutUInt32(0xCAFEBABE);
        w.BeginNested(0x22, 0, 1);
        w.PutUInt16(7);
        w.EndNested();
        w.EndRecord();
        w.WriteRecord(0x11, 2, 2, "hi"u8);
        var info = w.Complete();
        return (mem.Image.ToArray(), info.FirstSegment);
    }

    /// <summary>Reads everything there is to read; throws on any damage.</summary>
    private static void ReadAll(byte[] image, ulong first)
    {
        var r = RecordReader.Open(new BufferSegmentMemory(image), first, "main");
        r.Verify();
        var a = r.Find(0x11, 1).Cursor;
        if (a.ReadUInt32() != 0xCAFEBABE || !a.TryReadNested(out var n) || n.Cursor.ReadUInt16() != 7) throw new InvalidOperationException("wrong data read successfully");
        if (!r.Find(0x11, 2).Payload.SequenceEqual("hi"u8)) throw new InvalidOperationException("wrong data read successfully");
        if (r.Names.NameOf(0x11) != "acme-nic/queue") throw new InvalidOperationException("wrong name read successfully");
    }

    // The used bytes of SmallStream(): segment header, two records (one with a nested record), the names table and
    // the end marker, 32 bytes a line (docs/FORMAT.md walks through them).
    private const string Golden =
        "D236D3049C48277F4B534547400002000000000000000000E55EF57ACB89DE49" +
        "0000000050010000000000000000000000000000000000000000000000000000" +
        "06A4B52B82676D0F010028000200000011000000000000000100000000000000" +
        "3800000000000000BEBAFECA0000000000000000000000000300280001000000" +
        "2200000000000000000000000000000002000000000000000700000000000000" +
        "7E87718FE94ECD81010028000200000011000000000000000200000000000000" +
        "02000000000000006869000000000000990A473D40E5E0B70400280001000000" +
        "000000000000000000000000000000001C000000000000000100000011000000" +
        "000000000E0061636D652D6E69632F717565756500000000C1C75672DC57F972" +
        "0F00280001000000000000000000000000000000000000001000000000000000" +
        "0300000000000000D800000000000000";

    [Test]
    public void The_format_matches_the_golden_bytes()
    {
        var (image, _) = SmallStream();
        int used = BitConverter.ToInt32(image, 36);
        string hex = Convert.ToHexString(image.AsSpan(0, used));
        TestContext.Out.WriteLine(hex);
        Assert.That(hex, Is.EqualTo(Golden), "the stream format changed: if on purpose, bump Format.Version and update docs/FORMAT.md and this constant");
        Assert.That(image.AsSpan(used).ContainsAnyExcept((byte)0), Is.False);
    }

    [Test]
    public void The_small_stream_reads_back()
    {
        var (image, first) = SmallStream();
        Assert.DoesNotThrow(() => ReadAll(image, first));
    }

    [Test]
    public void Every_prefix_of_a_stream_is_a_specific_error()
    {
        var (image, first) = SmallStream();
        for (int len = 0; len < image.Length; len++)
        {
            var prefix = image[..len];
            var e = Assert.Throws<KStateCorruptException>(() => ReadAll(prefix, first), $"prefix of {len} bytes");
            Assert.That(e!.Message, Is.Not.Empty);
        }
    }

    [Test]
    public void A_one_byte_change_at_every_offset_is_a_specific_error()
    {
        var (image, first) = SmallStream();
        for (int i = 0; i < image.Length; i++)
        {
            foreach (byte x in new byte[] { 0x01, 0xFF })
            {
                var bad = (byte[])image.Clone();
                bad[i] ^= x;
                Exception? caught = null;
                try { ReadAll(bad, first); }
                catch (Exception e) { caught = e; }
                if (caught is not KStateCorruptException)
                    Assert.Fail($"byte {i} ^ 0x{x:x2}: expected a corruption error, got {caught?.GetType().Name ?? "a successful read"}: {caught?.Message}");
            }
        }
    }
}
