using CsCheck;
using KState.Core.Sessions;
using KState.TestHost.Shared;
using KState.Tests.Support;

namespace KState.Tests.Sessions;

/// <summary>
/// Random generations of sessions against a model: sessions created, filled, trimmed and closed; finalizes aborted
/// and redone; incoming sessions retrieved whole, in part or not at all; buffers carried on. Every generation must
/// find exactly what the previous one saved (CsCheck prints the seed of a failing run).
/// </summary>
public class SessionModelTests
{
    private sealed record ModelItem(ulong Token, bool IsBuffer, long Size, int Seed, long Value);

    private sealed class ModelSession(string name)
    {
        public string Name { get; } = name;
        public List<ModelItem> Items { get; } = [];
    }

    [Test]
    public void Sessions_survive_random_generations_exactly() => Gen.Int.Sample(seed => Run(seed, generations: 4), iter: 12);

    [Test, Category("Stress")]
    public void Sessions_survive_many_random_generations_exactly() => Gen.Int.Sample(seed => Run(seed, generations: 12), iter: 300);

    private static void Run(int seed, int generations)
    {
        var rnd = new Random(seed);
        using var region = new TestRegion("session-model");
        var incoming = new List<ModelSession>();
        for (int g = 1; g <= generations; g++)
        {
            using var generation = new SessionGeneration(region, g == 1 ? 24UL << 20 : 0, new MemfdHandler(), new CounterHandler());
            var (kho, _, sessions) = generation;
            sessions.Version = $"gen{g}";
            Assert.That(sessions.LiveUpdateCount, Is.EqualTo((ulong)(g - 1)), $"seed {seed} gen {g}");
            Assert.That(sessions.IncomingSessions, Is.EqualTo(incoming.Select(s => s.Name)), $"seed {seed} gen {g}");
            if (g > 1) Assert.That(sessions.Previous!.Version, Is.EqualTo($"gen{g - 1}"));

            var outgoing = new List<ModelSession>();
            var carried = new List<(MemfdBuffer Buffer, ModelItem Item)>();
            int retrieved = 0;
            foreach (var m in incoming)
            {
                int choice = rnd.Next(3);
                if (choice == 0) continue; // never retrieved: reported, then gone with this generation
                var s = sessions.Retrieve(m.Name);
                var order = m.Items.OrderBy(_ => rnd.Next()).ToList();
                int take = choice == 1 ? order.Count : rnd.Next(order.Count + 1);
                retrieved += take;
                foreach (var item in order.Take(take))
                {
                    if (item.IsBuffer)
                    {
                        var b = s.Retrieve<MemfdBuffer>(item.Token);
                        Assert.That(b.Size, Is.EqualTo(item.Size), $"seed {seed}");
                        Assert.That(Pattern.FirstMismatch(b, item.Seed), Is.EqualTo(-1L), $"seed {seed}: buffer {item.Token} of '{m.Name}'");
                        carried.Add((b, item));
                    }
                    else Assert.That(s.Retrieve<Counter>(item.Token).Value, Is.EqualTo(item.Value), $"seed {seed}");
                }
                Assert.That(s.Unretrieved.Select(i => i.Token), Is.EquivalentTo(order.Skip(take).Select(i => i.Token)), $"seed {seed}");
                if (take == order.Count) s.Finish();
                else
                {
                    Assert.Throws<KStateBusyException>(s.Finish);
                    carried.RemoveAll(c => m.Items.Contains(c.Item)); // still the previous generation's until finished
                }
            }
            Assert.That(sessions.Unretrieved, Has.Count.EqualTo(incoming.Sum(m => m.Items.Count) - retrieved), $"seed {seed}");

            var live = new Dictionary<string, Session>();
            int created = rnd.Next(4);
            for (int i = 0; i < created; i++)
            {
                string name = $"s{rnd.Next(5)}";
                if (live.ContainsKey(name))
                {
                    Assert.Throws<KStateExistsException>(() => sessions.Create(name));
                    continue;
                }
                live[name] = sessions.Create(name);
                outgoing.Add(new ModelSession(name));
            }
            ulong nextToken = 1;
            foreach (var m in outgoing)
            {
                var s = live[m.Name];
                int items = rnd.Next(5);
                for (int i = 0; i < items; i++)
                {
                    ulong token = nextToken++ * 7;
                    if (carried.Count > 0 && rnd.Next(3) == 0)
                    {
                        var (b, old) = carried[^1];
                        carried.RemoveAt(carried.Count - 1);
                        s.Preserve(token, b);
                        m.Items.Add(old with { Token = token });
                    }
                    else if (rnd.Next(2) == 0)
                    {
                        var item = new ModelItem(token, true, rnd.Next(300_000), rnd.Next(), 0);
                        var b = MemfdBuffer.Create(kho, $"b{token}", item.Size);
                        Pattern.Fill(b, item.Seed);
                        s.Preserve(token, b);
                        m.Items.Add(item);
                    }
                    else
                    {
                        var item = new ModelItem(token, false, 0, 0, rnd.NextInt64());
                        s.Preserve(token, new Counter(item.Value));
                        m.Items.Add(item);
                    }
                }
                if (m.Items.Count > 0 && rnd.Next(4) == 0)
                {
                    var gone = m.Items[rnd.Next(m.Items.Count)];
                    s.Unpreserve(gone.Token);
                    m.Items.Remove(gone);
                }
            }
            if (outgoing.Count > 0 && rnd.Next(5) == 0)
            {
                var closed = outgoing[rnd.Next(outgoing.Count)];
                live[closed.Name].Close();
                outgoing.Remove(closed);
            }
            if (rnd.Next(5) == 0)
            {
                kho.FinalizeHandover();
                kho.AbortHandover();
            }
            kho.FinalizeHandover();
            incoming = outgoing;
        }
    }
}
