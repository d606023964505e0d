using System.Buffers.Binary;
using System.Text;

namespace KState.Core.Ids;

/// <summary>
/// Ids and their names, written into a stream as its names record (docs/FORMAT.md, "Names record") so that a
/// dump is readable and two names with one id are caught, both when saving and when restoring.
/// </summary>
internal sealed class NameTable
{
    /// <summary>The longest name a names record holds, in UTF-8 bytes (docs/FORMAT.md, "Names record"); the writer
    /// refuses longer names where they are introduced, and the reader refuses them in a stream.</summary>
    public const int MaxNameBytes = 255;

    private readonly Dictionary<ulong, string> _byId = [];
    private readonly List<ulong> _added = []; // ids in the order they were added, so a rolled-back stream forgets its names

    /// <summary>Number of names.</summary>
    public int Count => _byId.Count;

    /// <summary>All (id, name) pairs.</summary>
    public IReadOnlyDictionary<ulong, string> Entries => _byId;

    /// <summary>Adds a name; the same pair again is fine.</summary>
    /// <exception cref="KStateExistsException">Another name has this id.</exception>
    /// <exception cref="KStateInvalidException">The name is empty or longer than <see cref="MaxNameBytes"/> UTF-8 bytes.</exception>
    public void Add(ulong id, string name)
    {
        CheckName(name);
        if (_byId.TryGetValue(id, out var existing))
        {
            if (existing != name) Throw.Exists($"id collision: \"{existing}\" and \"{name}\" both have id 0x{id:x16}");
            return;
        }
        _byId.Add(id, name);
        _added.Add(id);
    }

    /// <summary>Refuses a name the names record cannot hold.</summary>
    /// <exception cref="KStateInvalidException">The name is empty or longer than <see cref="MaxNameBytes"/> UTF-8 bytes.</exception>
    public static void CheckName(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        int n = Encoding.UTF8.GetByteCount(name);
        if (n == 0 || n > MaxNameBytes) Throw.Invalid($"name '{name}' must be 1 to {MaxNameBytes} UTF-8 bytes (it has {n})");
    }

    /// <summary>How many names were added so far (a mark for <see cref="RemoveAddedSince"/>).</summary>
    internal int Added => _added.Count;

    /// <summary>Forgets the names added after <paramref name="mark"/>.</summary>
    internal void RemoveAddedSince(int mark)
    {
        for (int i = _added.Count - 1; i >= mark; i--) _byId.Remove(_added[i]);
        _added.RemoveRange(mark, _added.Count - mark);
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

    /// <summary>Reads a names payload; checks every entry's name (1 to 255 bytes of UTF-8) and that the ids are in
    /// strictly ascending order, as FORMAT.md orders them (so none appears twice). An id need not be the hash of its
    /// name (descriptions may carry explicit ids); a reader looking a name up checks the pair (RecordReader.TryFind).</summary>
    /// <exception cref="KStateCorruptException">The payload is malformed, or an id is out of order or appears twice (offset given).</exception>
    internal static NameTable Read(ReadOnlySpan<byte> payload, long baseOffset)
    {
        var t = new NameTable();
        if (payload.Length < 4) Throw.Corrupt("names record: too short", baseOffset);
        uint count = BinaryPrimitives.ReadUInt32LittleEndian(payload);
        int at = 4;
        ulong previous = 0;
        for (uint i = 0; i < count; i++)
        {
            if (payload.Length - at < 10) Throw.Corrupt("names record: entry runs past the payload", baseOffset + at);
            ulong id = BinaryPrimitives.ReadUInt64LittleEndian(payload[at..]);
            int n = BinaryPrimitives.ReadUInt16LittleEndian(payload[(at + 8)..]);
            if (n == 0 || n > MaxNameBytes || payload.Length - at - 10 < n) Throw.Corrupt("names record: bad name length", baseOffset + at + 8);
            string name;
            try { name = new UTF8Encoding(false, true).GetString(payload.Slice(at + 10, n)); }
            catch (DecoderFallbackException) { throw new KStateCorruptException("names record: name is not UTF-8", baseOffset + at + 10); }
            if (i > 0 && id <= previous)
                Throw.Corrupt(id == previous ? $"names record: id 0x{id:x16} appears twice" : $"names record: id 0x{id:x16} follows 0x{previous:x16} (ids must ascend)", baseOffset + at);
            previous = id;
            t._byId.Add(id, name);
            at += 10 + n;
        }
        if (at != payload.Length) Throw.Corrupt($"names record: {payload.Length - at} bytes after its {count} entries", baseOffset + at);
        return t;
    }
}
