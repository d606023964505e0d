using KState.Core.Records;

namespace KState;

/// <summary>Builds a record's payload with the lower-level API's puts (begin and end are done by the caller).</summary>
public delegate void RecordBuilder(RecordWriter writer);

/// <summary>
/// A record of the incoming stream, read in place: <see cref="Payload"/> points into preserved memory (nothing is
/// copied), and the record's checksum was checked on its first read only. Valid while the region is mapped (until
/// the <see cref="Kho"/> is disposed); a read after that throws <see cref="ObjectDisposedException"/>.
/// </summary>
public readonly ref struct KStateRecord
{
    private readonly Record _record;

    internal KStateRecord(Record record) => _record = record;

    /// <summary>The record's state id.</summary>
    public ulong StateId => _record.StateId;

    /// <summary>The record's instance id.</summary>
    public ulong InstanceId => _record.InstanceId;

    /// <summary>The version the record was saved with.</summary>
    public uint Version => _record.Version;

    /// <summary>The payload, in place in the region (docs/FORMAT.md, "Records").</summary>
    /// <exception cref="ObjectDisposedException">The region was unmapped.</exception>
    public ReadOnlySpan<byte> Payload => _record.Payload;

    /// <summary>A bounds-checked cursor over the payload, for the lower-level API's typed reads.</summary>
    /// <exception cref="ObjectDisposedException">The region was unmapped.</exception>
    public RecordCursor Cursor => _record.Cursor;
}

public sealed unsafe partial class KStateRegistry
{
    /// <summary>
    /// Saves one record with the lower-level record API into the outgoing stream now: begin record (state
    /// <paramref name="stateId"/>, <paramref name="instanceId"/>, <paramref name="version"/>), the puts of
    /// <paramref name="build"/>, end record. Saving the same state and instance again replaces it. A build that throws
    /// leaves the stream as it was.
    /// </summary>
    /// <exception cref="KStateBusyException">The handover is finalized.</exception>
    /// <exception cref="KStateNoSpaceException">The region is full.</exception>
    public void SaveRecord(ulong stateId, ulong instanceId, uint version, RecordBuilder build)
    {
        ArgumentNullException.ThrowIfNull(build);
        lock (_lock)
        {
            CheckNotFinalized("save a record");
            Write(_streams.Set.GetOrCreate(StreamName), stateId, instanceId, version, build);
        }
    }

    /// <summary>Saves a record whose state id is the id of <paramref name="stateName"/> (kept in the stream's names
    /// table, so dumps show it); see <see cref="SaveRecord(ulong, ulong, uint, RecordBuilder)"/>.</summary>
    /// <exception cref="KStateExistsException">Another name of the stream has the same id.</exception>
    public void SaveRecord(string stateName, ulong instanceId, uint version, RecordBuilder build)
    {
        ArgumentNullException.ThrowIfNull(stateName);
        ArgumentNullException.ThrowIfNull(build);
        lock (_lock)
        {
            CheckNotFinalized("save a record");
            var writer = _streams.Set.GetOrCreate(StreamName);
            Write(writer, writer.Name2Id(stateName), instanceId, version, build);
        }
    }

    private static void Write(RecordWriter writer, ulong stateId, ulong instanceId, uint version, RecordBuilder build)
    {
        writer.BeginRecord(stateId, instanceId, version);
        try
        {
            int depth = writer.Depth;
            build(writer);
            if (writer.Depth != depth) Throw.Invalid($"record 0x{stateId:x16}/{instanceId}: its builder left nested records open");
            writer.EndRecord();
        }
        catch
        {
            writer.AbandonOpenRecord();
            throw;
        }
    }

    /// <summary>Finds the incoming record of (<paramref name="stateId"/>, <paramref name="instanceId"/>) and gives it
    /// in place; false when there is none (or this was a cold boot). Any record of the stream can be read this way,
    /// a described object's included (its payload is laid out as docs/FORMAT.md says).</summary>
    /// <exception cref="KStateCorruptException">The record's checksum does not match, or the incoming stream is damaged.</exception>
    public bool TryReadRecord(ulong stateId, ulong instanceId, out KStateRecord record)
    {
        record = default;
        if (!TryIncoming(out var reader) || !reader.TryFind(stateId, instanceId, out var rec)) return false;
        record = new KStateRecord(rec);
        return true;
    }

    /// <summary>Finds an incoming record by its state's name; see <see cref="TryReadRecord(ulong, ulong, out KStateRecord)"/>.</summary>
    /// <exception cref="KStateExistsException">The stream's names table gives the name's id to another name.</exception>
    public bool TryReadRecord(string stateName, ulong instanceId, out KStateRecord record)
    {
        ArgumentNullException.ThrowIfNull(stateName);
        record = default;
        if (!TryIncoming(out var reader) || !reader.TryFind(stateName, instanceId, out var rec)) return false;
        record = new KStateRecord(rec);
        return true;
    }

    /// <summary>Finds an incoming record; see <see cref="TryReadRecord(ulong, ulong, out KStateRecord)"/>.</summary>
    /// <exception cref="KStateNotFoundException">There is none.</exception>
    public KStateRecord ReadRecord(ulong stateId, ulong instanceId)
    {
        if (!TryReadRecord(stateId, instanceId, out var record))
            Throw.NotFound($"no incoming record of state 0x{stateId:x16} instance {instanceId}");
        return record;
    }

    private bool TryIncoming(out RecordReader reader)
    {
        lock (_lock)
        {
            if (_streams.IncomingProblem is { } problem) throw problem;
            reader = null!;
            if (!_streams.Set.HasIncoming(StreamName)) return false;
            reader = _streams.Set.Open(StreamName);
            return true;
        }
    }
}
