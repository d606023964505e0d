using System.Buffers.Binary;
using System.Diagnostics;
using KState.Tests.Support;
using Mono.Unix.Native;

namespace KState.Tests.Machine;

/// <summary>
/// Kho.InitWait (kho_init_wait): a successor that is ready before the handover waits while another generation has the
/// region booted, and boots once that generation has finalized and let go (or exited). The predecessor is a real
/// process (KState.TestHost "kho-predecessor"): it preserves a folio of 0x5A bytes named by the "wait-test" subtree.
/// </summary>
[NonParallelizable]
public class InitWaitTests
{
    private static readonly TimeSpan Long = TimeSpan.FromSeconds(60);

    private static Process StartPredecessor(TestRegion r)
    {
        var p = Child.Start("kho-predecessor", r.Path);
        Assert.That(p.StandardOutput.ReadLine(), Is.EqualTo("booted"), () => p.StandardError.ReadToEnd());
        return p;
    }

    /// <summary>The file's bytes, through a plain open(2): .NET's File APIs take a shared flock, which the holder refuses.</summary>
    private static byte[] ReadWithoutLocking(string path)
    {
        int fd = Syscall.open(path, OpenFlags.O_RDONLY | OpenFlags.O_CLOEXEC);
        Assert.That(fd, Is.GreaterThanOrEqualTo(0), $"open {path}: {Stdlib.GetLastError()}");
        using var handle = new Microsoft.Win32.SafeHandles.SafeFileHandle(fd, ownsHandle: true);
        var bytes = new byte[RandomAccess.GetLength(handle)];
        int done = 0;
        while (done < bytes.Length)
        {
            int n = RandomAccess.Read(handle, bytes.AsSpan(done), done);
            Assert.That(n, Is.GreaterThan(0), $"read {path}");
            done += n;
        }
        return bytes;
    }

    private static void EndPredecessor(Process p)
    {
        p.StandardInput.Close();
        Assert.That(p.WaitForExit(TimeSpan.FromSeconds(60)), Is.True, "the predecessor did not exit");
        Assert.That(p.ExitCode, Is.Zero, () => p.StandardError.ReadToEnd());
    }

    [Test]
    public void A_successor_started_before_the_finalize_waits_then_restores_the_handover_while_the_predecessor_still_runs()
    {
        using var r = new TestRegion("wait");
        using var predecessor = StartPredecessor(r);
        try
        {
            Assert.That(() => Kho.InitWait(r.Path, 0, TimeSpan.Zero), Throws.TypeOf<KStateTimeoutException>(), "the predecessor holds the region");
            var successor = Task.Run(() => Kho.InitWait(r.Path, 0, Long));
            predecessor.StandardInput.WriteLine("finalize");
            predecessor.StandardInput.Flush();
            using var kho = successor.GetAwaiter().GetResult();
            Assert.That(predecessor.StandardOutput.ReadLine(), Is.EqualTo("let-go"));
            using (Assert.EnterMultipleScope())
            {
                Assert.That(kho.IsKhoBoot, Is.True, kho.BootReport);
                Assert.That(predecessor.HasExited, Is.False, "the predecessor stays alive until its stdin closes");
            }
            ulong phys = BinaryPrimitives.ReadUInt64LittleEndian(kho.RetrieveSubtree("wait-test"));
            Assert.That(kho.TryRestoreFolio(phys, out var folio), Is.True);
            Assert.That(kho.FolioSpan(folio).ContainsAnyExcept((byte)0x5A), Is.False, "the preserved folio's bytes");
        }
        finally
        {
            EndPredecessor(predecessor);
        }
    }

    [Test]
    public void A_successor_whose_predecessor_exits_the_region_without_finalizing_boots_cold()
    {
        using var r = new TestRegion("wait");
        using var predecessor = StartPredecessor(r);
        try
        {
            var successor = Task.Run(() => Kho.InitWait(r.Path, 0, Long));
            predecessor.StandardInput.WriteLine("exit");
            predecessor.StandardInput.Flush();
            using var kho = successor.GetAwaiter().GetResult();
            using (Assert.EnterMultipleScope())
            {
                Assert.That(kho.IsKhoBoot, Is.False, kho.BootReport);
                Assert.That(kho.TryRetrieveSubtree("wait-test", out _), Is.False);
            }
        }
        finally
        {
            EndPredecessor(predecessor);
        }
    }

    [Test]
    public void A_successor_whose_predecessor_dies_without_finalizing_boots_cold()
    {
        using var r = new TestRegion("wait");
        using var predecessor = StartPredecessor(r);
        var successor = Task.Run(() => Kho.InitWait(r.Path, 0, Long));
        predecessor.Kill();
        predecessor.WaitForExit();
        using var kho = successor.GetAwaiter().GetResult();
        Assert.That(kho.IsKhoBoot, Is.False, kho.BootReport);
    }

    [Test]
    public void A_wait_that_runs_out_of_time_is_ETIMEDOUT_and_leaves_the_region_untouched()
    {
        using var r = new TestRegion("wait");
        using var predecessor = StartPredecessor(r);
        try
        {
            byte[] before = ReadWithoutLocking(r.Path);
            var e = Assert.Throws<KStateTimeoutException>(() => Kho.InitWait(r.Path, 0, TimeSpan.FromMilliseconds(200)));
            using (Assert.EnterMultipleScope())
            {
                Assert.That(e!.Error, Is.EqualTo(KStateErrno.ETIMEDOUT));
                Assert.That(e.Errno, Is.EqualTo(110));
                Assert.That(e.Message, Does.Contain(r.Path).And.Contain("another process"));
                Assert.That(ReadWithoutLocking(r.Path), Is.EqualTo(before));
            }
            // The predecessor still has it, and can still finalize: the timed-out waiter took nothing.
            predecessor.StandardInput.WriteLine("finalize");
            predecessor.StandardInput.Flush();
            Assert.That(predecessor.StandardOutput.ReadLine(), Is.EqualTo("let-go"));
            using var kho = Kho.Init(r.Path, 0);
            Assert.That(kho.IsKhoBoot, Is.True, kho.BootReport);
        }
        finally
        {
            EndPredecessor(predecessor);
        }
    }

    [Test]
    public void A_wait_for_a_free_region_boots_at_once_and_creates_a_missing_one()
    {
        using var r = new TestRegion("wait");
        using (var first = Kho.InitWait(r.Path, 4 << 20, TimeSpan.Zero)) Assert.That(first.IsKhoBoot, Is.False);
        using var again = Kho.InitWait(r.Path, 0, TimeSpan.Zero);
        Assert.That(again.RegionSize, Is.EqualTo(4UL << 20));
    }

    [Test]
    public void A_successor_in_the_same_process_boots_on_the_handover_once_the_finalized_Kho_is_disposed()
    {
        using var r = new TestRegion("wait");
        var old = r.Boot(4 << 20);
        old.AddSubtree("same-process", [1, 2, 3]);
        old.FinalizeHandover();
        var successor = Task.Run(() => Kho.InitWait(r.Path, 0, Long));
        old.Dispose();
        using var kho = successor.GetAwaiter().GetResult();
        Assert.That(kho.RetrieveSubtree("same-process").ToArray(), Is.EqualTo(new byte[] { 1, 2, 3 }));
    }

    [Test]
    public void A_finalized_Kho_lets_go_only_once_a_call_in_flight_has_ended_since_that_call_may_still_write()
    {
        using var r = new TestRegion("wait");
        var old = r.Boot(4 << 20);
        old.FinalizeHandover();
        old.Memory.AddRef(); // a call in flight on another thread (a folio being zeroed, a record being written)
        old.Dispose();
        Assert.That(() => Kho.InitWait(r.Path, 0, TimeSpan.Zero), Throws.TypeOf<KStateTimeoutException>());
        old.Memory.Release(); // the call ends: the region is let go, then unmapped
        using var kho = Kho.InitWait(r.Path, 0, TimeSpan.Zero);
        Assert.That(kho.IsKhoBoot, Is.True, kho.BootReport);
    }

    [Test]
    public void A_negative_timeout_is_invalid_and_creates_nothing()
    {
        using var r = new TestRegion("wait");
        Assert.That(() => Kho.InitWait(r.Path, 4 << 20, TimeSpan.FromMilliseconds(-5)), Throws.TypeOf<KStateInvalidException>());
        Assert.That(File.Exists(r.Path), Is.False);
    }
}
