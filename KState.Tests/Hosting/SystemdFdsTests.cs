using KState.Hosting;
using KState.TestHost;
using Mono.Unix.Native;

namespace KState.Tests.Hosting;

/// <summary>systemd's fd passing as KState.Hosting reads and writes it: LISTEN_FDS / LISTEN_FDNAMES / LISTEN_PID,
/// and an FDSTORE=1 message with the fd on NOTIFY_SOCKET.</summary>
public class SystemdFdsTests
{
    [TestCase("region", "2", "sock:region", 4)]
    [TestCase("region", "1", "region", 3)]
    [TestCase("region", "2", "region:region", 3)]
    public void A_named_fd_is_found_at_its_place_after_fd_2(string name, string fds, string names, int expected)
    {
        Assert.That(SystemdFds.TryFind(name, "100", fds, names, 100, out int fd), Is.True);
        Assert.That(fd, Is.EqualTo(expected));
    }

    [TestCase("101", "1", "region")]   // passed to another process
    [TestCase("x", "1", "region")]     // an unreadable LISTEN_PID
    [TestCase(null, "1", "region")]    // no LISTEN_PID: inherited variables
    [TestCase("100", null, "region")]  // no LISTEN_FDS
    [TestCase("100", "0", "region")]
    [TestCase("100", "1", "other")]
    [TestCase("100", "1", null)]
    [TestCase("100", "1", ":region")]  // named, but beyond the count
    public void An_fd_that_is_not_there_for_this_process_is_not_found(string? pid, string? fds, string? names)
    {
        Assert.That(SystemdFds.TryFind("region", pid, fds, names, 100, out int fd), Is.False);
        Assert.That(fd, Is.EqualTo(-1));
    }

    [Test]
    public void Without_a_notify_socket_nothing_is_stored()
    {
        using var memfd = Kho.CreateMemfd("kstate-test-nostore");
        Assert.That(SystemdFds.Store(memfd, "region", null), Is.False);
    }

    [Test]
    public void A_stored_region_reaches_the_notify_socket_as_fdstore_with_its_name_and_fd()
    {
        string address = $"@kstate-test-notify-{Environment.ProcessId}-{Guid.NewGuid():N}";
        int listener = FdPassing.Socket(UnixSocketType.SOCK_DGRAM);
        try
        {
            FdPassing.Bind(listener, address);
            using var memfd = Kho.CreateMemfd("kstate-test-store");
            using (var kho = Kho.Init(memfd, 1 << 20)) kho.FinalizeHandover();
            Assert.That(SystemdFds.Store(memfd, "cache-region", address), Is.True);
            var (data, fds) = FdPassing.Receive(listener);
            Assert.That(System.Text.Encoding.ASCII.GetString(data), Is.EqualTo("FDSTORE=1\nFDNAME=cache-region\n"));
            Assert.That(fds, Has.Length.EqualTo(1));
            try
            {
                using var next = Kho.Init(fds[0], 0); // the stored fd is the region itself
                Assert.That(next.BootStatus.Kind, Is.EqualTo(KhoBootKind.Handover), next.BootReport);
            }
            finally
            {
                Syscall.close(fds[0]);
            }
        }
        finally
        {
            Syscall.close(listener);
        }
    }
}
