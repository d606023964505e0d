using System.Buffers.Binary;
using System.Text;
using KState.Core.Records;

namespace KState.Core.Ids;

/// <summary>
/// Ids and their names, written into a stream as its names record (docs/FORMAT.md, "Names record") so that a
/// dump is readable and two names with one id are caught, both when saving and when restoring.
/// </summary>
public sealed class NameTable
{
    private readonly Dictionary<ulong, string> _byId = [];

    /// <summary>Number of names.</summary>
    public int Count => _byId.Count;

    /// <summary>All (id, name) pairs.</summary>
    public IReadOnlyDictionary<ulong, string> Entries => _byId;

    /// <summary>Adds a name; the same pair again is fine.</summary>
    /// <exception cref="KStateExistsException">Another name has this id.</exception>
    public void Add(ulong id, string name)
    {
        if (_byId.TryGetValue(id, out var existing))
        {
            if (existing != name) throw new KStateExistsException($"id collision: \"{existing}\" and \"{name}\" both have id 0x{id:x16}");
            return;
        }
        _byId.Add(id, name);
    }

    /// <summary>The name of an id, or null.</summary>
    public string? NameOf(ulong id) => _byId.GetValueOrDefault(id);

    internal void Write(RecordWriter w)
    {
        w.PutUInt32((uint)_byId.Count);
        foreach (var (id, name) in _byId.OrderBy(e => e.Key))
        {
            w.PutUInt64(id);
            int n = Encoding.UTF8.GetByteCount(name);
            w.PutUInt16((ushort)n);
            Encoding.UTF8.GetBytes(name, w.PutSpan(n));
        }
    }

    /// <summary>Reads a names payload; checks every entry's id against its name.</summary>
    /// <exception cref="KStateCorruptException">The payload is malformed or an id appears twice (offset given).</exception>
    internal static NameTable Read(ReadOnlySpan<byte> payload, long baseOffset)
    {
        var t = new NameTable();
        if (payload.Length < 4) throw new KStateCorruptException("names record: too short", baseOffset);
        uint count = BinaryPrimitives.ReadUInt32LittleEndian(payload);
        int at = 4;
        for (uint i = 0; i < count; i++)
        {
            if (payload.Length - at < 10) throw new KStateCorruptException("names record: entry runs past the payload", baseOffset + at);
            ulong id = BinaryPrimitives.ReadUInt64LittleEndian(payload[at..]);
            int n = BinaryPrimitives.ReadUInt16LittleEndian(payload[(at + 8)..]);
            if (n == 0 || n > 255 || payload.Length - at - 10 < n) throw new KStateCorruptException("names record: bad name length", baseOffset + at + 8);
            string name;
            try { name = new UTF8Encoding(false, true).GetString(payload.Slice(at + 10, n)); }
            catch (DecoderFallbackException) { throw new KStateCorruptException("names record: name is not UTF-8", baseOffset + at + 10); }
            if (t._byId.ContainsKey(id)) throw new KStateCorruptException($"names record: id 0x{id:x16} appears twice", baseOffset + at);
            t._byId.Add(id, name);
            at += 10 + n;
        }
        return t;
    }
}
