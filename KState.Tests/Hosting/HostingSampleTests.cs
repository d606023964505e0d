using KState.TestHost;
using KState.Tests.Support;
using Mono.Unix.Native;

namespace KState.Tests.Hosting;

/// <summary>The hosting sample across real processes: each generation is its own `dotnet` process, and they share
/// nothing but the region.</summary>
public class HostingSampleTests
{
    private static void Fill(CacheProcess cache)
    {
        Assert.That(cache.Send("set alpha 1"), Is.EqualTo("OK"));
        Assert.That(cache.Send("set beta two words"), Is.EqualTo("OK"));
        Assert.That(cache.Send("set gamma ünïcödé"), Is.EqualTo("OK"));
        Assert.That(cache.Send("count"), Is.EqualTo("COUNT 3"));
    }

    private static void AssertKept(CacheProcess cache)
    {
        using (Assert.EnterMultipleScope())
        {
            Assert.That(cache.Send("get alpha"), Is.EqualTo("VALUE 1"));
            Assert.That(cache.Send("get beta"), Is.EqualTo("VALUE two words"));
            Assert.That(cache.Send("get gamma"), Is.EqualTo("VALUE ünïcödé"));
            Assert.That(cache.Send("count"), Is.EqualTo("COUNT 3"));
        }
    }

    [Test]
    public void The_cache_keeps_its_entries_across_a_restart_ended_by_the_end_of_its_input()
    {
        using var r = new TestRegion("hostcache");
        using (var first = CacheProcess.Start(r.Path))
        {
            Assert.That(first.Boot, Is.EqualTo("BOOT first entries=0 live-updates=0"));
            Fill(first);
            var (exit, log) = first.StopByEndOfInput();
            Assert.That(exit, Is.EqualTo(0), log);
            Assert.That(log, Does.Contain("KState handed over"));
        }
        using var second = CacheProcess.Start(r.Path);
        Assert.That(second.Boot, Is.EqualTo("BOOT handover entries=3 live-updates=1"));
        AssertKept(second);
        Assert.That(second.StopByEndOfInput().ExitCode, Is.EqualTo(0));
    }

    [Test]
    public void The_cache_keeps_its_entries_across_a_restart_ended_by_sigterm()
    {
        using var r = new TestRegion("hostterm");
        using (var first = CacheProcess.Start(r.Path))
        {
            Fill(first);
            var (exit, log) = first.StopBySigterm();
            Assert.That(exit, Is.EqualTo(0), log);
        }
        using (var second = CacheProcess.Start(r.Path))
        {
            Assert.That(second.Boot, Is.EqualTo("BOOT handover entries=3 live-updates=1"));
            Assert.That(second.Send("set delta 4"), Is.EqualTo("OK"));
            Assert.That(second.StopBySigterm().ExitCode, Is.EqualTo(0));
        }
        using var third = CacheProcess.Start(r.Path);
        Assert.That(third.Boot, Is.EqualTo("BOOT handover entries=4 live-updates=2"));
        Assert.That(third.Send("get delta"), Is.EqualTo("VALUE 4"));
    }

    [Test]
    public void A_crashed_cache_starts_cold_and_empty()
    {
        using var r = new TestRegion("hostcrash");
        using (var first = CacheProcess.Start(r.Path))
        {
            Fill(first);
            first.Crash();
        }
        using var second = CacheProcess.Start(r.Path);
        Assert.That(second.Boot, Is.EqualTo("BOOT none entries=0 live-updates=0"));
        Assert.That(second.Send("get alpha"), Is.EqualTo("NOTFOUND"));
    }

    [Test]
    public void A_failed_finalize_is_logged_and_the_next_start_is_cold()
    {
        using var r = new TestRegion("hostfail");
        using (var first = CacheProcess.Start(r.Path))
        {
            Fill(first);
            Assert.That(first.StopByEndOfInput().ExitCode, Is.EqualTo(0));
        }
        using (var second = CacheProcess.Start(r.Path, "--fail-finalize", "true"))
        {
            Assert.That(second.Boot, Is.EqualTo("BOOT handover entries=3 live-updates=1"));
            var (exit, log) = second.StopByEndOfInput();
            Assert.That(exit, Is.EqualTo(0), log);
            Assert.That(log, Does.Contain("fail: KState.Hosting.KStateHost").And.Contain("failed; nothing was handed over, the next start is cold")
                .And.Contain("the sample was told to fail the finalize"));
            Assert.That(log, Does.Not.Contain("KState handed over"));
        }
        // The handover the second generation booted on is consumed, and it committed none of its own.
        using var third = CacheProcess.Start(r.Path);
        Assert.That(third.Boot, Is.EqualTo("BOOT consumed entries=0 live-updates=0"));
    }

    [Test]
    public void A_finalize_past_its_deadline_is_withdrawn_and_the_next_start_is_cold()
    {
        using var r = new TestRegion("hostlate");
        using (var first = CacheProcess.Start(r.Path, "--finalize-timeout-ms", "0"))
        {
            Fill(first);
            var (exit, log) = first.StopByEndOfInput();
            Assert.That(exit, Is.EqualTo(0), log);
            Assert.That(log, Does.Contain("did not end within 0 ms").And.Contain("withdrew the late handover"));
        }
        using var second = CacheProcess.Start(r.Path);
        Assert.That(second.Boot, Is.EqualTo("BOOT none entries=0 live-updates=0"));
    }

    [Test]
    public void A_region_kept_in_systemds_fd_store_carries_the_cache_to_the_restarted_service()
    {
        string notify = $"@kstate-test-cache-notify-{Environment.ProcessId}-{Guid.NewGuid():N}";
        int manager = FdPassing.Socket(UnixSocketType.SOCK_DGRAM); // the service manager's end of NOTIFY_SOCKET
        int stored = -1;
        try
        {
            FdPassing.Bind(manager, notify);
            using (var first = CacheProcess.StartFromFdStore("cache-region", notify, storedFd: null))
            {
                Assert.That(first.Boot, Is.EqualTo("BOOT first entries=0 live-updates=0"));
                var (data, fds) = FdPassing.Receive(manager); // stored at boot, before any state: it survives a crash too
                stored = fds.Single();
                Assert.That(System.Text.Encoding.ASCII.GetString(data), Is.EqualTo("FDSTORE=1\nFDNAME=cache-region\n"));
                Fill(first);
                var (exit, log) = first.StopBySigterm();
                Assert.That(exit, Is.EqualTo(0), log);
                Assert.That(log, Does.Contain("gave the new region 'cache-region' to systemd's fd store").And.Contain("KState handed over"));
            }
            using var second = CacheProcess.StartFromFdStore("cache-region", notify, stored);
            Assert.That(second.Boot, Is.EqualTo("BOOT handover entries=3 live-updates=1"));
            AssertKept(second);
            var (exit2, log2) = second.StopByEndOfInput();
            Assert.That(exit2, Is.EqualTo(0), log2);
            Assert.That(log2, Does.Contain("came from systemd's fd store (fd 3)"));
        }
        finally
        {
            if (stored >= 0) Syscall.close(stored);
            Syscall.close(manager);
        }
    }
}
