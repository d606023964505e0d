using System.Runtime.InteropServices;
using KState.Hosting;
using KState.Tests.Support;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace KState.Tests.Hosting;

/// <summary>AddKState in a Generic Host in this process: the boot before the services start, what they see, and
/// what becomes of the handover when the host stops.</summary>
public unsafe class HostingTests
{
    [StructLayout(LayoutKind.Sequential)]
    private struct Counter
    {
        public ulong Value;
        public ulong Stamp;
    }

    private static readonly KStateDescription CounterDescription = KStateDescriptionBuilder<Counter>.Create("kstate-test/hosting-counter", 1, 1)
        .Base((ref Counter c) => ref c.Value)
        .Base((ref Counter c) => ref c.Stamp)
        .Build();

    /// <summary>A service registered before AddKState: what it sees in StartAsync proves the region was booted first.</summary>
    private sealed class Probe(IKStateHost kstate, Action<IKStateHost>? start, Action<IKStateHost>? stop) : IHostedService
    {
        public Task StartAsync(CancellationToken cancellationToken)
        {
            start?.Invoke(kstate);
            return Task.CompletedTask;
        }

        public Task StopAsync(CancellationToken cancellationToken)
        {
            stop?.Invoke(kstate);
            return Task.CompletedTask;
        }
    }

    private static IHost Build(LogSink logs, Action<KStateHostOptions> options, Action<IKStateHost>? start = null, Action<IKStateHost>? stop = null)
    {
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Logging.AddProvider(logs);
        builder.Services.AddHostedService(sp => new Probe(sp.GetRequiredService<IKStateHost>(), start, stop));
        builder.Services.AddKState(o =>
        {
            o.RegionSize = 8 << 20;
            o.Kho = new KhoOptions { Poison = true };
            options(o);
        });
        return builder.Build();
    }

    private static IKStateHost Run(IHost host)
    {
        host.StartAsync().GetAwaiter().GetResult();
        host.StopAsync().GetAwaiter().GetResult();
        return host.Services.GetRequiredService<IKStateHost>();
    }

    [Test]
    public void Services_see_the_boot_outcome_and_the_incoming_sessions_in_their_StartAsync()
    {
        using var r = new TestRegion("hostin");
        var logs = new LogSink();
        var counter = (Counter*)NativeMemory.AllocZeroed((nuint)sizeof(Counter)); // saved at finalize: it must stay put until then
        try
        {
            KhoBootKind? firstKind = null;
            using (var first = Build(logs, o => o.RegionPath = r.Path,
                start: k => firstKind = k.BootStatus.Kind,
                stop: k =>
                {
                    *counter = new Counter { Value = 42, Stamp = 7 };
                    k.Sessions.Create("probe").SaveState(CounterDescription, counter, 1);
                }))
            {
                var kstate = Run(first);
                Assert.That(kstate.Handover, Is.EqualTo(KStateHandoverState.Committed), logs.ToString());
            }
            Assert.That(firstKind, Is.EqualTo(KhoBootKind.First));

            KhoBootKind? kind = null;
            IReadOnlyList<string>? sessions = null;
            ulong updates = 0;
            var restored = (Counter*)NativeMemory.AllocZeroed((nuint)sizeof(Counter));
            using (var second = Build(logs, o => o.RegionPath = r.Path, start: k =>
            {
                kind = k.BootStatus.Kind;
                sessions = k.Sessions.IncomingSessions;
                updates = k.LiveUpdateCount;
                var session = k.Sessions.Retrieve("probe");
                session.Restore(CounterDescription, restored, 1);
                session.Finish();
            }))
            {
                Run(second);
            }
            var value = *restored;
            NativeMemory.Free(restored);
            using (Assert.EnterMultipleScope())
            {
                Assert.That(kind, Is.EqualTo(KhoBootKind.Handover));
                Assert.That(sessions, Is.EqualTo(new[] { "probe" }));
                Assert.That(updates, Is.EqualTo(1UL));
                Assert.That(value.Value, Is.EqualTo(42UL));
                Assert.That(value.Stamp, Is.EqualTo(7UL));
                Assert.That(logs.Entries.Count(e => e.Category == "KState.Hosting.KStateHost" && e.EventId == 1), Is.EqualTo(2), "one Booted message per generation");
            }
        }
        finally
        {
            NativeMemory.Free(counter);
        }
    }

    [Test]
    public void Before_the_host_starts_the_generation_is_not_there_and_says_why()
    {
        using var r = new TestRegion("hostearly");
        using var host = Build(new LogSink(), o => o.RegionPath = r.Path);
        var kstate = host.Services.GetRequiredService<IKStateHost>();
        Assert.That(kstate.IsBooted, Is.False);
        Assert.That(() => kstate.Registry, Throws.InvalidOperationException.With.Message.Contains("StartingAsync"));
        Assert.That(kstate.Handover, Is.EqualTo(KStateHandoverState.Pending));
    }

    [TestCase(true, true)]
    [TestCase(false, false)]
    public void A_host_without_exactly_one_region_source_does_not_start(bool path, bool fd)
    {
        using var r = new TestRegion("hostnone");
        var logs = new LogSink();
        using var host = Build(logs, o =>
        {
            if (path) o.RegionPath = r.Path;
            if (fd) o.RegionFd = 0;
        });
        Assert.That(() => host.StartAsync().GetAwaiter().GetResult(),
            Throws.TypeOf<KStateInvalidException>().With.Message.Contains("exactly one of RegionPath, RegionFd and RegionFdName"));
        Assert.That(logs.Entries.Any(e => e.Level == LogLevel.Critical && e.Error is KStateInvalidException), logs.ToString());
        Assert.That(File.Exists(r.Path), Is.False);
    }

    [Test]
    public void A_host_told_not_to_hand_over_leaves_a_cold_start()
    {
        using var r = new TestRegion("hostskip");
        var logs = new LogSink();
        using (var first = Build(logs, o => o.RegionPath = r.Path, stop: k => k.HandOverOnStop = false))
            Assert.That(Run(first).Handover, Is.EqualTo(KStateHandoverState.Skipped));
        using var kho = Kho.Init(r.Path, 0);
        Assert.That(kho.BootStatus.Kind, Is.EqualTo(KhoBootKind.None), kho.BootReport);
    }

    private sealed class FailingParticipant : IKhoParticipant
    {
        public void OnFinalize(Kho kho) => throw new KStateNoSpaceException("injected: no room for the state");

        public void OnAbort(Kho kho) { }
    }

    [Test]
    public void A_failing_finalize_is_logged_as_an_error_and_leaves_a_cold_start()
    {
        using var r = new TestRegion("hostfailin");
        var logs = new LogSink();
        using (var first = Build(logs, o => o.RegionPath = r.Path, start: k => k.Kho.AddParticipant(new FailingParticipant())))
            Assert.That(Run(first).Handover, Is.EqualTo(KStateHandoverState.Failed));
        var error = logs.Entries.Single(e => e.Level == LogLevel.Error);
        Assert.That(error.EventId, Is.EqualTo(6));
        Assert.That(error.Error, Is.TypeOf<KStateNoSpaceException>());
        Assert.That(error.Message, Does.Contain(r.Path).And.Contain("the next start is cold"));
        using var kho = Kho.Init(r.Path, 0);
        Assert.That(kho.BootStatus.Kind, Is.EqualTo(KhoBootKind.None), kho.BootReport);
    }

    [Test]
    public void An_inherited_region_fd_is_booted_and_handed_over()
    {
        using var memfd = Kho.CreateMemfd("kstate-test-hosting");
        int fd = (int)memfd.DangerousGetHandle();
        var logs = new LogSink();
        var kinds = new List<KhoBootKind>();
        for (int generation = 0; generation < 2; generation++)
        {
            using var host = Build(logs, o => o.RegionFd = fd, start: k => kinds.Add(k.BootStatus.Kind));
            Assert.That(Run(host).Handover, Is.EqualTo(KStateHandoverState.Committed), logs.ToString());
        }
        Assert.That(kinds, Is.EqualTo(new[] { KhoBootKind.First, KhoBootKind.Handover }));
    }

    [Test]
    public void A_region_booted_by_another_generation_fails_the_start_when_not_told_to_wait()
    {
        using var r = new TestRegion("hostbusy");
        using var predecessor = r.Boot();
        var logs = new LogSink();
        using var host = Build(logs, o => o.RegionPath = r.Path);
        Assert.That(() => host.StartAsync().GetAwaiter().GetResult(), Throws.TypeOf<KStateBusyException>());
        Assert.That(logs.Entries.Single(e => e.Level == LogLevel.Critical).Message, Does.Contain(r.Path));
    }

    [Test]
    public void A_successor_told_to_wait_boots_on_the_handover_its_predecessor_finalizes_meanwhile()
    {
        using var r = new TestRegion("hostwait");
        var predecessor = r.Boot();
        try
        {
            KhoBootKind? kind = null;
            using var host = Build(new LogSink(), o =>
            {
                o.RegionPath = r.Path;
                o.WaitForPredecessor = TimeSpan.FromSeconds(60);
            }, start: k => kind = k.BootStatus.Kind);
            var starting = Task.Run(() => host.StartAsync()); // held in InitWait while the predecessor has the region
            predecessor.FinalizeHandover();
            predecessor.Dispose();
            Assert.That(starting.Wait(TimeSpan.FromSeconds(120)), Is.True, "the successor did not boot");
            Assert.That(kind, Is.EqualTo(KhoBootKind.Handover));
            host.StopAsync().GetAwaiter().GetResult();
        }
        finally
        {
            predecessor.Dispose();
        }
    }
}
