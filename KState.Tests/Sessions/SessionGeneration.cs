using KState.Core.Sessions;
using KState.Tests.Support;

namespace KState.Tests.Sessions;

/// <summary>One generation of a session test in this process: the region booted, its streams, its sessions with the
/// given handlers registered. Disposing it ends the generation (without finalizing, unless the test did).</summary>
internal sealed class SessionGeneration : IDisposable
{
    public SessionGeneration(TestRegion region, ulong size, params ItemHandler[] handlers)
    {
        Kho = region.Boot(size);
        Streams = new KStateStreams(Kho);
        Sessions = new KStateSessions(Streams) { Version = "test" };
        foreach (var h in handlers) Sessions.RegisterHandler(h);
    }

    public Kho Kho { get; }
    public KStateStreams Streams { get; }
    public KStateSessions Sessions { get; }

    public void Deconstruct(out Kho kho, out KStateStreams streams, out KStateSessions sessions) => (kho, streams, sessions) = (Kho, Streams, Sessions);

    public void Dispose()
    {
        Streams.Dispose();
        Kho.Dispose();
    }
}
