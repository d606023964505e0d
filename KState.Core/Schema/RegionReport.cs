using KState.Core.Records;

namespace KState.Inspection;

/// <summary>A record as a dump shows it.</summary>
public sealed record RecordReport(string Stream, string Type, ulong StateId, string? StateName, ulong InstanceId, uint Version, int Bytes, IReadOnlyList<DecodedField> Fields);

/// <summary>A stream as a dump shows it.</summary>
public sealed record StreamReport(string Name, int Segments, int Records, ulong Bytes, IReadOnlyList<RecordReport> Live);

/// <summary>
/// Everything KSTATE can say about a region without the program that wrote it: its streams, every record checked
/// against its checksum and decoded with the schema the stream carries, and its sessions. <see cref="Read"/> is also
/// the verifier: it throws at the first damaged stream; what is wrong in the sessions is listed in
/// <see cref="SessionProblems"/>, so the rest can still be shown.
/// </summary>
public sealed partial class RegionReport
{
    private RegionReport(IReadOnlyList<StreamReport> streams, KStateSchema? schema)
    {
        Streams = streams;
        Schema = schema;
    }

    /// <summary>The KSTATE streams of the handover (none without one).</summary>
    public IReadOnlyList<StreamReport> Streams { get; }

    /// <summary>The schema the streams carry (every stream's descriptions, merged), when there is one.</summary>
    public KStateSchema? Schema { get; }

    /// <summary>Reads and checks every stream of an inspected region, then its sessions (see <see cref="SessionProblems"/>).</summary>
    /// <exception cref="KStateCorruptException">The handover, a stream, a record, a blob or a schema is damaged.</exception>
    /// <exception cref="KStateVersionException">The stream format version is unknown.</exception>
    public static RegionReport Read(KhoInspector region)
    {
        if (region.Problem is not null) throw region.Problem;
        if (!region.TryGetSubtree(KStateStreams.SubtreeName, out var root)) return new RegionReport([], null);
        var set = new StreamSet(new InspectorSegmentMemory(region));
        set.LoadIncoming(root);
        var merged = KStateSchema.Of([]);
        var own = new Dictionary<string, KStateSchema>(StringComparer.Ordinal); // each stream's own schema
        var readers = new List<RecordReader>();
        foreach (var name in set.IncomingStreams.Order(StringComparer.Ordinal))
        {
            var r = set.Open(name);
            r.Verify();
            readers.Add(r);
            if (r.TryGetSchema(out var rec))
            {
                own[name] = KStateSchema.Read(rec);
                merged.Merge(own[name]);
            }
        }
        var streams = new List<StreamReport>();
        foreach (var r in readers)
        {
            // A stream's records are decoded with its own schema (sessions each carry one), else with everyone's.
            var schema = own.GetValueOrDefault(r.Name) ?? merged;
            var live = new List<RecordReport>();
            foreach (var rec in r)
            {
                var fields = rec.Type == RecordType.Main ? RecordDecoder.Decode(rec, schema) : [];
                live.Add(new RecordReport(r.Name, rec.Type.ToString().ToLowerInvariant(), rec.StateId,
                    r.Names.NameOf(rec.StateId) ?? (schema.Descriptions.TryGetValue(rec.StateId, out var d) ? d.Name : null),
                    rec.InstanceId, rec.Version, rec.Payload.Length, fields));
            }
            streams.Add(new StreamReport(r.Name, r.SegmentCount, r.RecordCount, r.Bytes, live));
        }
        var report = new RegionReport(streams, merged.Descriptions.Count == 0 ? null : merged);
        report.ReadSessions(set);
        return report;
    }
}
