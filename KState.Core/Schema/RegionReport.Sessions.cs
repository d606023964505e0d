using KState.Core.Records;

namespace KState.Inspection;

/// <summary>An item of a saved session as a dump shows it.</summary>
/// <param name="Token">Its token in the session.</param>
/// <param name="Kind">How its state was saved.</param>
/// <param name="Compatible">Its handler's compatible string, or its description's name.</param>
/// <param name="RecordId">State id of its record in the session's stream (the instance id is the token).</param>
/// <param name="Shared">Compatible strings of the shared data it is bound to.</param>
/// <param name="Version">Version of its record, or null when the record is missing.</param>
/// <param name="Bytes">Payload bytes of its record, or null when the record is missing.</param>
/// <param name="Fields">A described item's fields, decoded with the schema its session's stream carries (none for
/// handler items: only the handler knows their layout).</param>
public sealed record ItemReport(ulong Token, ItemKind Kind, string Compatible, ulong RecordId, IReadOnlyList<string> Shared,
    uint? Version, int? Bytes, IReadOnlyList<DecodedField> Fields);

/// <summary>A saved session as a dump shows it.</summary>
/// <param name="Name">The session's name.</param>
/// <param name="Stream">The substream that holds its items' records.</param>
/// <param name="Items">Its items, in preservation order.</param>
public sealed record SessionReport(string Name, string Stream, IReadOnlyList<ItemReport> Items);

/// <summary>Saved shared data as a dump shows it.</summary>
/// <param name="Compatible">Its handler's compatible string.</param>
/// <param name="Instance">Instance id of its record in the directory stream.</param>
/// <param name="Users">Items bound to it when it was saved.</param>
/// <param name="Bytes">Payload bytes of its record, or null when the record is missing.</param>
public sealed record SharedDataReport(string Compatible, ulong Instance, uint Users, int? Bytes);

public sealed partial class RegionReport
{
    /// <summary>The global live-update record, or null (no sessions directory, or one without it).</summary>
    public LiveUpdateInfo? LiveUpdate { get; private set; }

    /// <summary>The saved sessions, in creation order (none without a sessions directory).</summary>
    public IReadOnlyList<SessionReport> Sessions { get; private set; } = [];

    /// <summary>The saved shared data.</summary>
    public IReadOnlyList<SharedDataReport> SharedData { get; private set; } = [];

    /// <summary>What is wrong in the sessions: a damaged directory (then no session is shown), a missing session
    /// stream, a missing or undecodable item record. Empty when they are sound.</summary>
    public IReadOnlyList<string> SessionProblems { get; private set; } = [];

    /// <summary>Reads the "sessions" directory and finds every item's record in its session's stream.</summary>
    private void ReadSessions(StreamSet set)
    {
        if (!set.HasIncoming(SessionDirectory.StreamName)) return;
        var directory = set.Open(SessionDirectory.StreamName);
        SessionDirectory read;
        try
        {
            read = SessionDirectory.Read(directory);
        }
        catch (Exception e) when (e is KStateCorruptException or KStateVersionException)
        {
            SessionProblems = [$"session directory: {e.Message}"];
            return;
        }
        var problems = new List<string>();
        LiveUpdate = read.Global;
        // Described items were decoded with their stream (each folio can be attached once): reuse those fields.
        var decoded = new Dictionary<(string, ulong, ulong), IReadOnlyList<DecodedField>>();
        foreach (var stream in Streams)
            foreach (var r in stream.Live)
                decoded.TryAdd((r.Stream, r.StateId, r.InstanceId), r.Fields);
        Sessions = [.. read.Sessions.Select(s => ReadSession(set, s, decoded, problems))];
        var shared = new List<SharedDataReport>();
        foreach (var s in read.Shared)
        {
            int? bytes = directory.TryFind(SessionDirectory.SharedId, s.Instance, out var rec) ? rec.Payload.Length : null;
            if (bytes is null) problems.Add($"shared data '{s.Compatible}' is listed but its record is missing");
            shared.Add(new SharedDataReport(s.Compatible, s.Instance, s.Users, bytes));
        }
        SharedData = shared;
        SessionProblems = problems;
    }

    private static SessionReport ReadSession(StreamSet set, SessionEntry session,
        Dictionary<(string, ulong, ulong), IReadOnlyList<DecodedField>> decoded, List<string> problems)
    {
        if (!set.HasIncoming(session.Stream))
        {
            problems.Add($"session '{session.Name}': its stream '{session.Stream}' is missing");
            return new SessionReport(session.Name, session.Stream,
                [.. session.Items.Select(i => new ItemReport(i.Token, i.Kind, i.Compatible, i.RecordId, i.Shared, null, null, []))]);
        }
        var reader = set.Open(session.Stream);
        var items = new List<ItemReport>();
        foreach (var i in session.Items)
        {
            if (!reader.TryFind(i.RecordId, i.Token, out var rec))
            {
                problems.Add($"session '{session.Name}': item {i.Token} ('{i.Compatible}') is listed but its record is missing");
                items.Add(new ItemReport(i.Token, i.Kind, i.Compatible, i.RecordId, i.Shared, null, null, []));
                continue;
            }
            var fields = i.Kind == ItemKind.Description ? decoded.GetValueOrDefault((session.Stream, i.RecordId, i.Token), []) : [];
            items.Add(new ItemReport(i.Token, i.Kind, i.Compatible, i.RecordId, i.Shared, rec.Version, rec.Payload.Length, fields));
        }
        return new SessionReport(session.Name, session.Stream, items);
    }
}
