using System.Buffers.Binary;
using System.Text;
using KState.Core.Ids;

namespace KState.Tests.Records;

/// <summary>The names record is read as FORMAT.md defines it: ids strictly ascending, names of 1 to 255 bytes, nothing
/// after the last entry (issue 12, defect 9).</summary>
public class NameTableTests
{
    private static byte[] Payload(params (ulong Id, string Name)[] entries)
    {
        var bytes = new List<byte>();
        var word = new byte[8];
        BinaryPrimitives.WriteUInt32LittleEndian(word, (uint)entries.Length);
        bytes.AddRange(word[..4]);
        foreach (var (id, name) in entries)
        {
            BinaryPrimitives.WriteUInt64LittleEndian(word, id);
            bytes.AddRange(word);
            var utf8 = Encoding.UTF8.GetBytes(name);
            BinaryPrimitives.WriteUInt16LittleEndian(word, (ushort)utf8.Length);
            bytes.AddRange(word[..2]);
            bytes.AddRange(utf8);
        }
        return [.. bytes];
    }

    [Test]
    public void Ascending_ids_are_read()
    {
        var t = NameTable.Read(Payload((1, "acme/a"), (2, "acme/b")), 0);
        Assert.That((t.NameOf(1), t.NameOf(2)), Is.EqualTo(("acme/a", "acme/b")));
    }

    [Test]
    public void Ids_out_of_order_are_refused()
    {
        var e = Assert.Throws<KStateCorruptException>(() => NameTable.Read(Payload((2, "acme/b"), (1, "acme/a")), 0));
        Assert.That(e!.Message, Does.Contain("ascend"));
    }

    [Test]
    public void Bytes_after_the_last_entry_are_refused()
    {
        byte[] payload = [.. Payload((1, "acme/a")), 0];
        Assert.Throws<KStateCorruptException>(() => NameTable.Read(payload, 0));
    }

    [Test]
    public void The_writer_refuses_a_name_the_reader_would_refuse()
    {
        var t = new NameTable();
        t.Add(1, new string('n', NameTable.MaxNameBytes));
        Assert.That(NameTable.Read(Payload((1, new string('n', NameTable.MaxNameBytes))), 0).NameOf(1), Has.Length.EqualTo(NameTable.MaxNameBytes));
        Assert.Throws<KStateInvalidException>(() => t.Add(2, new string('n', NameTable.MaxNameBytes + 1)));
        Assert.Throws<KStateCorruptException>(() => NameTable.Read(Payload((1, new string('n', NameTable.MaxNameBytes + 1))), 0));
    }
}
