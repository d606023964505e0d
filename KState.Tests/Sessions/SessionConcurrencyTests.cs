using KState.Core.Sessions;
using KState.TestHost.Shared;
using KState.Tests.Support;

namespace KState.Tests.Sessions;

/// <summary>Threads filling and trimming sessions at once: the next generation finds exactly what stayed.</summary>
public class SessionConcurrencyTests
{
    [Test]
    public void Threads_preserving_into_shared_and_own_sessions_lose_nothing()
    {
        const int Threads = 4, PerThread = 300;
        using var region = new TestRegion("session-threads");
        var counters = new CounterHandler();
        using (var generation = new SessionGeneration(region, 32 << 20, new MemfdHandler(), counters))
        {
            var (kho, streams, sessions) = generation;
            var common = sessions.Create("common");
            var errors = new System.Collections.Concurrent.ConcurrentQueue<Exception>();
            var threads = Enumerable.Range(0, Threads).Select(t => new Thread(() =>
            {
                try
                {
                    var own = sessions.Create($"own-{t}");
                    for (int i = 0; i < PerThread; i++)
                    {
                        ulong token = (ulong)(t * PerThread + i);
                        common.Preserve(token, new Counter((long)token));
                        var b = MemfdBuffer.Create(kho, $"t{t}-{i}", 100 + i);
                        Pattern.Fill(b, (int)token);
                        own.Preserve((ulong)i, b);
                        if (i % 3 == 0) common.Unpreserve(token); // every third counter leaves again
                    }
                }
                catch (Exception e)
                {
                    errors.Enqueue(e);
                }
            })).ToList();
            threads.ForEach(t => t.Start());
            threads.ForEach(t => t.Join());
            Assert.That(errors, Is.Empty);
            kho.FinalizeHandover();
        }

        using (var generation = new SessionGeneration(region, 0, new MemfdHandler(), new CounterHandler()))
        {
            var (kho, streams, sessions) = generation;
            var common = sessions.Retrieve("common");
            var expected = Enumerable.Range(0, Threads * PerThread).Where(i => i % PerThread % 3 != 0).Select(i => (ulong)i).ToHashSet();
            Assert.That(common.Items.Select(i => i.Token).ToHashSet(), Is.EquivalentTo(expected));
            foreach (var token in expected) Assert.That(common.Retrieve<Counter>(token).Value, Is.EqualTo((long)token));
            common.Finish();
            for (int t = 0; t < Threads; t++)
            {
                var own = sessions.Retrieve($"own-{t}");
                Assert.That(own.Items.Select(i => i.Token), Is.EqualTo(Enumerable.Range(0, PerThread).Select(i => (ulong)i)), "preservation order within a session");
                for (int i = 0; i < PerThread; i++)
                {
                    var b = own.Retrieve<MemfdBuffer>((ulong)i);
                    Assert.That((b.Name, b.Size), Is.EqualTo(($"t{t}-{i}", 100L + i)));
                    Assert.That(Pattern.FirstMismatch(b, t * PerThread + i), Is.EqualTo(-1L));
                }
                own.Finish();
            }
            Assert.That(sessions.Unretrieved, Is.Empty);
        }
    }
}
