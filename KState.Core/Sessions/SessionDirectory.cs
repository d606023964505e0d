using KState.Core.Ids;
using KState.Core.Records;
using KState.Core.Sessions;

namespace KState;

/// <summary>How an item's state was saved.</summary>
public enum ItemKind : byte
{
    /// <summary>A described object (<see cref="Session.SaveState"/>); the compatible string is the description's name.</summary>
    Description = 1,

    /// <summary>An object preserved by an <see cref="ItemHandler"/>.</summary>
    Handler = 2,
}

/// <summary>The global live-update record: how many live updates this state has been through, and who saved it.</summary>
/// <param name="Count">Live updates so far, this one included (1 after the first).</param>
/// <param name="Version">The version string of the program that saved it.</param>
/// <param name="FinalizedAt">When that program finalized the handover.</param>
public sealed record LiveUpdateInfo(ulong Count, string Version, DateTimeOffset FinalizedAt);

/// <summary>One item as the session directory lists it.</summary>
/// <param name="Token">Its token in the session.</param>
/// <param name="Kind">How its state was saved.</param>
/// <param name="Compatible">Its handler's compatible string, or its description's name.</param>
/// <param name="RecordId">State id of its record in the session's stream (the instance id is the token).</param>
/// <param name="Shared">Compatible strings of the shared data it is bound to.</param>
public sealed record ItemEntry(ulong Token, ItemKind Kind, string Compatible, ulong RecordId, IReadOnlyList<string> Shared);

/// <summary>One session as the directory lists it.</summary>
/// <param name="Name">The session's name.</param>
/// <param name="Stream">The substream that holds its items' records.</param>
/// <param name="Items">Its items, in preservation order.</param>
internal sealed record SessionEntry(string Name, string Stream, IReadOnlyList<ItemEntry> Items);

/// <summary>One piece of shared data as the directory lists it.</summary>
/// <param name="Compatible">Its handler's compatible string.</param>
/// <param name="Instance">Instance id of its record in the directory stream.</param>
/// <param name="Users">Items bound to it when it was saved.</param>
internal sealed record SharedEntry(string Compatible, ulong Instance, uint Users);

/// <summary>
/// The "sessions" stream (docs/FORMAT.md, "Sessions"): the global record, one record per session listing its
/// items, and one record per piece of shared data. Item records live in each session's own substream.
/// </summary>
internal sealed class SessionDirectory
{
    /// <summary>The substream that holds the directory.</summary>
    public const string StreamName = "sessions";

    /// <summary>Prefix of session substream names ("session-1", "session-2"...).</summary>
    public const string SessionStreamPrefix = "session-";

    internal static readonly ulong GlobalId = KStateId.FromName("kstate-live-update");
    internal static readonly ulong SessionId = KStateId.FromName("kstate-session");
    internal static readonly ulong SharedId = KStateId.FromName("kstate-shared-data");
    private const uint RecordVersion = 1;
    private const int MinItemBytes = 8 + 1 + 5 + 8 + 1; // token, kind, a 1-byte string, record id, shared count

    private SessionDirectory(LiveUpdateInfo? global, List<SessionEntry> sessions, List<SharedEntry> shared)
    {
        Global = global;
        Sessions = sessions;
        Shared = shared;
    }

    /// <summary>The global record, or null when the stream has none.</summary>
    public LiveUpdateInfo? Global { get; }

    /// <summary>The sessions, in creation order.</summary>
    public IReadOnlyList<SessionEntry> Sessions { get; }

    /// <summary>The shared data.</summary>
    public IReadOnlyList<SharedEntry> Shared { get; }

    /// <summary>Reads and checks the directory.</summary>
    /// <exception cref="KStateCorruptException">A record is damaged or contradicts another.</exception>
    /// <exception cref="KStateVersionException">A record has a version this reader does not know.</exception>
    public static SessionDirectory Read(RecordReader reader)
    {
        ArgumentNullException.ThrowIfNull(reader);
        LiveUpdateInfo? global = null;
        var sessions = new List<SessionEntry>();
        var shared = new List<SharedEntry>();
        var names = new HashSet<string>(StringComparer.Ordinal);
        var streams = new HashSet<string>(StringComparer.Ordinal);
        var sharedNames = new HashSet<string>(StringComparer.Ordinal);
        foreach (var rec in reader)
        {
            if (rec.Type != RecordType.Main) continue;
            if (rec.StateId != GlobalId && rec.StateId != SessionId && rec.StateId != SharedId) continue;
            if (rec.StateId != SharedId && rec.Version != RecordVersion)
                throw new KStateVersionException($"session directory record version {rec.Version} is unknown; this reader knows {RecordVersion}");
            var c = rec.Cursor;
            if (rec.StateId == GlobalId)
            {
                if (global is not null) Throw.Corrupt("two global live-update records", rec.Offset);
                global = new LiveUpdateInfo(c.ReadUInt64(), c.ReadString(), DateTimeOffset.FromUnixTimeMilliseconds(ClampMillis(c.ReadInt64())));
            }
            else if (rec.StateId == SessionId)
            {
                var s = ReadSession(ref c, rec.Offset);
                if (!names.Add(s.Name)) Throw.Corrupt($"session '{s.Name}' listed twice", rec.Offset);
                if (!streams.Add(s.Stream)) Throw.Corrupt($"stream '{s.Stream}' belongs to two sessions", rec.Offset);
                sessions.Add(s);
            }
            else
            {
                string compatible = ReadName(ref c, "shared data compatible string", rec.Offset);
                var e = new SharedEntry(compatible, rec.InstanceId, c.ReadUInt32());
                if (!sharedNames.Add(compatible)) Throw.Corrupt($"shared data '{compatible}' listed twice", rec.Offset);
                shared.Add(e);
            }
        }
        var users = new Dictionary<string, uint>(StringComparer.Ordinal);
        foreach (var s in sessions)
            foreach (var item in s.Items)
                foreach (var compat in item.Shared)
                {
                    if (!sharedNames.Contains(compat))
                        Throw.Corrupt($"item {item.Token} of session '{s.Name}' is bound to shared data '{compat}', which is not saved");
                    users[compat] = users.GetValueOrDefault(compat) + 1;
                }
        foreach (var e in shared)
            if (users.GetValueOrDefault(e.Compatible) != e.Users)
                Throw.Corrupt($"shared data '{e.Compatible}' was saved with {e.Users} items bound to it; the sessions list {users.GetValueOrDefault(e.Compatible)}");
        return new SessionDirectory(global, sessions, shared);
    }

    private static SessionEntry ReadSession(ref RecordCursor c, long at)
    {
        string name = ReadName(ref c, "session name", at);
        string stream = ReadName(ref c, "session stream name", at);
        if (!stream.StartsWith(SessionStreamPrefix, StringComparison.Ordinal)
            || !ulong.TryParse(stream.AsSpan(SessionStreamPrefix.Length), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out _))
            Throw.Corrupt($"session '{name}' names stream '{stream}', which is not a session stream", at);
        uint count = c.ReadUInt32();
        if (count > (uint)c.Remaining / MinItemBytes) Throw.Corrupt($"session '{name}' claims {count} items in {c.Remaining} bytes", at);
        var items = new List<ItemEntry>((int)count);
        var tokens = new HashSet<ulong>();
        for (uint i = 0; i < count; i++)
        {
            ulong token = c.ReadUInt64();
            var kind = (ItemKind)c.ReadByte();
            if (kind is not (ItemKind.Description or ItemKind.Handler)) Throw.Corrupt($"item {token} of session '{name}' has unknown kind {(byte)kind}", at);
            string compatible = ReadName(ref c, "compatible string", at);
            ulong recordId = c.ReadUInt64();
            byte sharedCount = c.ReadByte();
            var shared = new string[sharedCount];
            for (int k = 0; k < sharedCount; k++) shared[k] = ReadName(ref c, "shared data compatible string", at);
            if (!tokens.Add(token)) Throw.Corrupt($"token {token} listed twice in session '{name}'", at);
            items.Add(new ItemEntry(token, kind, compatible, recordId, shared));
        }
        return new SessionEntry(name, stream, items);
    }

    private static string ReadName(ref RecordCursor c, string what, long at)
    {
        string s = c.ReadString();
        try { SessionNames.Check(s, what); }
        catch (KStateInvalidException e) { throw new KStateCorruptException(e.Message, at); }
        return s;
    }

    private static long ClampMillis(long ms) => Math.Clamp(ms, DateTimeOffset.MinValue.ToUnixTimeMilliseconds(), DateTimeOffset.MaxValue.ToUnixTimeMilliseconds());

    internal static void WriteGlobal(RecordWriter w, LiveUpdateInfo info)
    {
        w.DefineName(GlobalId, "kstate-live-update");
        w.DefineName(SessionId, "kstate-session");
        w.DefineName(SharedId, "kstate-shared-data");
        w.BeginRecord(GlobalId, 0, RecordVersion);
        w.PutUInt64(info.Count);
        w.PutString(info.Version);
        w.PutInt64(info.FinalizedAt.ToUnixTimeMilliseconds());
        w.EndRecord();
    }

    /// <summary>Writes a session record from a directory entry (tests forge directories with it).</summary>
    internal static void WriteSession(RecordWriter w, ulong ordinal, SessionEntry s)
    {
        BeginSession(w, ordinal, s.Name, s.Stream, s.Items.Count);
        foreach (var i in s.Items) PutItem(w, i.Token, i.Kind, i.Compatible, i.RecordId, i.Shared);
        w.EndRecord();
    }

    /// <summary>Writes an outgoing session's record straight from its items (no entry per item at finalize).</summary>
    internal static void WriteSession(RecordWriter w, Session s)
    {
        BeginSession(w, s.Ordinal, s.Name, s.StreamName, s.Items.Count);
        foreach (var i in s.Items) PutItem(w, i.Token, i.Kind, i.Compatible, i.RecordId, i.Shared.Length == 0 ? [] : [.. i.Shared.Select(x => x.Compatible)]);
        w.EndRecord();
    }

    private static void BeginSession(RecordWriter w, ulong ordinal, string name, string stream, int items)
    {
        w.BeginRecord(SessionId, ordinal, RecordVersion);
        w.PutString(name);
        w.PutString(stream);
        w.PutUInt32((uint)items);
    }

    private static void PutItem(RecordWriter w, ulong token, ItemKind kind, string compatible, ulong recordId, IReadOnlyList<string> shared)
    {
        w.PutUInt64(token);
        w.PutByte((byte)kind);
        w.PutString(compatible);
        w.PutUInt64(recordId);
        w.PutByte((byte)shared.Count);
        foreach (var compat in shared) w.PutString(compat);
    }

    /// <summary>The handler's bytes of a shared-data record (past what <see cref="BeginShared"/> wrote), and its version.</summary>
    /// <exception cref="KStateCorruptException">The record is missing or damaged.</exception>
    internal static RecordCursor SharedState(RecordReader reader, SharedEntry entry, out uint version)
    {
        if (!reader.TryFind(SharedId, entry.Instance, out var rec))
            Throw.Corrupt($"shared data '{entry.Compatible}' is listed but its record is missing");
        var c = rec.Cursor;
        c.ReadString();
        c.ReadUInt32();
        version = rec.Version;
        return c;
    }

    /// <summary>Opens a shared-data record; the handler's state follows, then <see cref="RecordWriter.EndRecord"/>.</summary>
    internal static void BeginShared(RecordWriter w, ulong instance, string compatible, uint version, uint users)
    {
        w.BeginRecord(SharedId, instance, version);
        w.PutString(compatible);
        w.PutUInt32(users);
    }
}
