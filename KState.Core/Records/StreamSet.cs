using System.Buffers.Binary;
using System.IO.Hashing;
using System.Text;
using KState.Machine.Diagnostics;

namespace KState.Core.Records;

/// <summary>
/// Named substreams, written, found and dropped independently (per session, per file...). The outgoing set is
/// summed up by a root blob (docs/FORMAT.md, "Root blob") that lists each stream's first segment; the incoming set
/// is read back from one. Thread-safe.
/// </summary>
internal sealed class StreamSet
{
    private readonly Lock _lock = new();
    private readonly ISegmentMemory _memory;
    private readonly Dictionary<string, RecordWriter> _outgoing = new(StringComparer.Ordinal);
    private readonly Dictionary<string, StreamInfo> _incoming = new(StringComparer.Ordinal);
    private readonly Dictionary<string, RecordReader> _opened = new(StringComparer.Ordinal);

    /// <summary>A set whose streams live in <paramref name="memory"/>.</summary>
    public StreamSet(ISegmentMemory memory) => _memory = memory;

    /// <summary>Starts a new outgoing stream.</summary>
    /// <exception cref="KStateExistsException">An outgoing stream of that name exists.</exception>
    public RecordWriter Create(string name)
    {
        lock (_lock)
        {
            if (_outgoing.ContainsKey(name)) Throw.Exists($"an outgoing stream named '{name}' exists");
            var w = new RecordWriter(_memory, name);
            _outgoing.Add(name, w);
            return w;
        }
    }

    /// <summary>The outgoing stream of that name, created when there is none.</summary>
    public RecordWriter GetOrCreate(string name)
    {
        lock (_lock) return _outgoing.TryGetValue(name, out var w) ? w : Create(name);
    }

    /// <summary>Names of the outgoing streams.</summary>
    public IReadOnlyList<string> OutgoingStreams
    {
        get { lock (_lock) return [.. _outgoing.Keys]; }
    }

    /// <summary>Drops an outgoing stream and frees its segments; false when there was none.</summary>
    public bool DropOutgoing(string name)
    {
        lock (_lock)
        {
            if (!_outgoing.Remove(name, out var w)) return false;
            w.Release();
            return true;
        }
    }

    /// <summary>Completes every outgoing stream and returns the root blob that lists them.</summary>
    public byte[] Complete()
    {
        lock (_lock)
        {
            var infos = _outgoing.Values.Select(w => w.Complete()).ToList();
            KStateMeter.Saved(infos.Sum(i => (long)i.Bytes));
            var blob = new byte[Format.RootHeaderBytes + infos.Count * Format.RootEntryBytes];
            BinaryPrimitives.WriteUInt64LittleEndian(blob, Format.RootMagic);
            BinaryPrimitives.WriteUInt32LittleEndian(blob.AsSpan(8), Format.Version);
            BinaryPrimitives.WriteUInt32LittleEndian(blob.AsSpan(12), (uint)infos.Count);
            for (int i = 0; i < infos.Count; i++)
            {
                var e = blob.AsSpan(Format.RootHeaderBytes + i * Format.RootEntryBytes, Format.RootEntryBytes);
                Encoding.UTF8.GetBytes(infos[i].Name, e[..64]);
                BinaryPrimitives.WriteUInt64LittleEndian(e[64..], infos[i].FirstSegment);
                BinaryPrimitives.WriteUInt32LittleEndian(e[72..], infos[i].Segments);
                BinaryPrimitives.WriteUInt32LittleEndian(e[76..], infos[i].Records);
                BinaryPrimitives.WriteUInt64LittleEndian(e[80..], infos[i].Bytes);
            }
            BinaryPrimitives.WriteUInt64LittleEndian(blob.AsSpan(16), XxHash3.HashToUInt64(blob.AsSpan(Format.RootHeaderBytes)));
            return blob;
        }
    }

    /// <summary>Reopens every completed outgoing stream (after an aborted handover).</summary>
    public void ReopenAll()
    {
        lock (_lock)
            foreach (var w in _outgoing.Values) w.Reopen();
    }

    /// <summary>Reads a root blob: the incoming streams become available to <see cref="Open"/>.</summary>
    /// <exception cref="KStateVersionException">The blob has a format version this reader does not know.</exception>
    /// <exception cref="KStateCorruptException">The blob is malformed (offset given).</exception>
    public void LoadIncoming(ReadOnlySpan<byte> root)
    {
        if (root.Length < Format.RootHeaderBytes) Throw.Corrupt($"kstate root blob of {root.Length} bytes is too short", 0);
        if (BinaryPrimitives.ReadUInt64LittleEndian(root) != Format.RootMagic) Throw.Corrupt("kstate root blob: bad magic", 0);
        uint version = BinaryPrimitives.ReadUInt32LittleEndian(root[8..]);
        if (version != Format.Version) throw new KStateVersionException($"kstate stream format version {version} is unknown; this reader knows version {Format.Version}");
        uint count = BinaryPrimitives.ReadUInt32LittleEndian(root[12..]);
        if ((ulong)count * Format.RootEntryBytes != (ulong)(root.Length - Format.RootHeaderBytes))
            Throw.Corrupt($"kstate root blob: {count} streams do not fit {root.Length} bytes", 12);
        if (XxHash3.HashToUInt64(root[Format.RootHeaderBytes..]) != BinaryPrimitives.ReadUInt64LittleEndian(root[16..]))
            Throw.Corrupt("kstate root blob: checksum mismatch", 16);
        var found = new Dictionary<string, StreamInfo>(StringComparer.Ordinal);
        for (int i = 0; i < count; i++)
        {
            int off = Format.RootHeaderBytes + i * Format.RootEntryBytes;
            var e = root.Slice(off, Format.RootEntryBytes);
            int n = e[..64].IndexOf((byte)0);
            if (n <= 0 || e[n..64].ContainsAnyExcept((byte)0)) Throw.Corrupt("kstate root blob: bad stream name", off);
            string name;
            try { name = new UTF8Encoding(false, true).GetString(e[..n]); }
            catch (DecoderFallbackException) { throw new KStateCorruptException("kstate root blob: stream name is not UTF-8", off); }
            var info = new StreamInfo(name, BinaryPrimitives.ReadUInt64LittleEndian(e[64..]), BinaryPrimitives.ReadUInt32LittleEndian(e[72..]),
                BinaryPrimitives.ReadUInt32LittleEndian(e[76..]), BinaryPrimitives.ReadUInt64LittleEndian(e[80..]));
            if (!found.TryAdd(name, info)) Throw.Corrupt($"kstate root blob: stream '{name}' listed twice", off);
        }
        lock (_lock)
        {
            _incoming.Clear();
            _opened.Clear();
            foreach (var (k, v) in found) _incoming.Add(k, v);
        }
    }

    /// <summary>Names of the incoming streams.</summary>
    public IReadOnlyList<string> IncomingStreams
    {
        get { lock (_lock) return [.. _incoming.Keys]; }
    }

    /// <summary>Opens an incoming stream (once; later calls return the same reader).</summary>
    /// <exception cref="KStateNotFoundException">No incoming stream of that name.</exception>
    /// <exception cref="KStateCorruptException">The stream is damaged.</exception>
    public RecordReader Open(string name)
    {
        lock (_lock)
        {
            if (_opened.TryGetValue(name, out var r)) return r;
            if (!_incoming.TryGetValue(name, out var info)) Throw.NotFound($"no incoming stream named '{name}'");
            r = RecordReader.Open(_memory, info.FirstSegment, name, (int)Math.Min(info.Records, int.MaxValue));
            if (r.SegmentCount != info.Segments || r.RecordCount != info.Records || r.Bytes != info.Bytes)
                Throw.Corrupt($"stream '{name}' has {r.SegmentCount} segments / {r.RecordCount} records / {r.Bytes} bytes; the root blob says {info.Segments} / {info.Records} / {info.Bytes}");
            _opened.Add(name, r);
            return r;
        }
    }

    /// <summary>True when there is an incoming stream of that name.</summary>
    public bool HasIncoming(string name)
    {
        lock (_lock) return _incoming.ContainsKey(name);
    }

    /// <summary>Drops an incoming stream: its segments go back to memory. False when there was none.</summary>
    /// <exception cref="KStateCorruptException">The stream is damaged (what could be attached stays with KHO's leak report).</exception>
    public bool DropIncoming(string name)
    {
        lock (_lock)
        {
            if (!_incoming.ContainsKey(name)) return false;
            var r = Open(name);
            foreach (var (phys, order) in r.Segments) _memory.Free(phys, order);
            foreach (var (phys, order) in r.DataSegments) _memory.Free(phys, order);
            _incoming.Remove(name);
            _opened.Remove(name);
            return true;
        }
    }
}
