using System.Diagnostics;
using KState.Inspection;
using KState;
using KState.Machine.Boot;
using KState.Machine.Region;
using Mono.Unix.Native;

namespace KState.Tests.Machine;

/// <summary>How a region comes to exist and what an entry point refuses to open (issues 12 and 18).</summary>
public class RegionCreationTests
{
    private const ulong Size = 1 << 20;

    /// <summary>A private directory under /dev/shm, removed with everything in it.</summary>
    private sealed class TestDir : IDisposable
    {
        public TestDir() => Directory.CreateDirectory(Path);

        public string Path { get; } = $"/dev/shm/kstate-test-dir-{Environment.ProcessId}-{Guid.NewGuid():N}";

        public string File(string name) => $"{Path}/{name}";

        /// <summary>The names in the directory as the file system has them (raw bytes, from find -print0).</summary>
        public List<byte[]> RawNames()
        {
            var psi = new ProcessStartInfo("find", [Path, "-mindepth", "1", "-maxdepth", "1", "-printf", "%f\\0"]) { RedirectStandardOutput = true };
            using var p = Process.Start(psi)!;
            using var bytes = new MemoryStream();
            p.StandardOutput.BaseStream.CopyTo(bytes);
            p.WaitForExit();
            var names = new List<byte[]>();
            var all = bytes.ToArray().AsSpan();
            for (int end; (end = all.IndexOf((byte)0)) >= 0; all = all[(end + 1)..]) names.Add(all[..end].ToArray());
            return names;
        }

        public string[] Names() => Directory.GetFileSystemEntries(Path).Select(System.IO.Path.GetFileName).ToArray()!;

        public void Dispose()
        {
            foreach (var name in RawNames()) Syscall.unlink(Mono.Unix.UnixEncoding.Instance.GetString([.. System.Text.Encoding.ASCII.GetBytes(Path + "/"), .. name]));
            Directory.Delete(Path, recursive: true);
        }
    }

    /// <summary>Runs an open that must not block; if it does, a writer is opened on the FIFO to release it, and the test fails.</summary>
    private static Exception? OpenWithoutBlocking(string fifo, Action open)
    {
        var task = Task.Run(() => { try { open(); return null; } catch (Exception e) { return e; } });
        bool finished = task.Wait(TimeSpan.FromSeconds(30));
        if (!finished)
        {
            int fd = Syscall.open(fifo, OpenFlags.O_WRONLY | OpenFlags.O_NONBLOCK);
            task.Wait(TimeSpan.FromSeconds(30));
            Syscall.close(fd);
            Assert.Fail("opening a FIFO blocked");
        }
        return task.Result;
    }

    private static string MakeFifo(TestDir dir)
    {
        string fifo = dir.File("fifo");
        Assert.That(Syscall.mkfifo(fifo, FilePermissions.S_IRUSR | FilePermissions.S_IWUSR), Is.Zero);
        return fifo;
    }

    [Test]
    public void Booting_on_a_fifo_is_refused_without_blocking()
    {
        using var dir = new TestDir();
        string fifo = MakeFifo(dir);
        using (Assert.EnterMultipleScope())
        {
            foreach (ulong size in new[] { 0UL, Size })
            {
                var e = OpenWithoutBlocking(fifo, () => Kho.Init(fifo, size).Dispose());
                Assert.That(e, Is.TypeOf<KStateInvalidException>().With.Message.Contains("not a regular file (a FIFO)"), $"size {size}");
            }
        }
    }

    [Test]
    public void Inspecting_a_fifo_is_refused_without_blocking()
    {
        using var dir = new TestDir();
        string fifo = MakeFifo(dir);
        var e = OpenWithoutBlocking(fifo, () => KhoInspector.Open(fifo).Dispose());
        Assert.That(e, Is.TypeOf<KStateInvalidException>().With.Message.Contains("not a regular file (a FIFO)"));
    }

    [Test]
    public void Inspecting_a_directory_is_refused()
    {
        using var dir = new TestDir();
        var e = Assert.Throws<KStateInvalidException>(() => KhoInspector.Open(dir.Path));
        Assert.That(e!.Message, Does.Contain("not a regular file (a directory)"));
    }

    [TestCase(0UL, Size)]
    [TestCase(100UL, Size)]
    [TestCase(1UL << 30, Size)]
    [TestCase(64UL * 1024, 4096UL)]
    [TestCase(64UL * 1024, Size + 1)]
    public void Invalid_options_fail_before_anything_is_created(ulong scratch, ulong size)
    {
        using var dir = new TestDir();
        string path = dir.File("region");
        Assert.Throws<KStateInvalidException>(() => Kho.Init(path, size, new KhoOptions { ScratchSize = scratch }).Dispose());
        Assert.That(dir.Names(), Is.Empty, "no region and no temporary file");
        Assert.Throws<KStateNotFoundException>(() => Kho.Init(path, 0).Dispose());
    }

    [Test]
    public void A_new_region_leaves_nothing_but_itself_in_its_directory()
    {
        using var dir = new TestDir();
        using (var kho = Kho.Init(dir.File("region"), Size))
            Assert.That(dir.Names(), Is.EqualTo(new[] { "region" }));
        using var again = Kho.Init(dir.File("region"), 0);
        Assert.That(again.RegionSize, Is.EqualTo(Size));
    }

    [Test]
    public void Two_creators_racing_for_one_path_leave_one_complete_region_booted_by_one_of_them()
    {
        using var dir = new TestDir();
        for (int round = 0; round < 20; round++)
        {
            string path = dir.File($"race-{round}");
            using var start = new Barrier(2);
            var outcomes = Enumerable.Range(0, 2).Select(_ => Task.Run<object>(() =>
            {
                start.SignalAndWait();
                try { return Kho.Init(path, Size); }
                catch (KStateException e) { return e; }
            })).ToArray();
            Task.WaitAll(outcomes);
            var booted = outcomes.Select(t => t.Result).OfType<Kho>().ToList();
            var refused = outcomes.Select(t => t.Result).OfType<KStateException>().ToList();
            using (Assert.EnterMultipleScope())
            {
                Assert.That(booted, Has.Count.EqualTo(1), $"round {round}: {string.Join("; ", refused.Select(e => e.Message))}");
                Assert.That(refused, Has.All.TypeOf<KStateBusyException>(), $"round {round}");
            }
            foreach (var kho in booted) kho.Dispose();
        }
        Assert.That(dir.Names().Order(), Is.EqualTo(Enumerable.Range(0, 20).Select(i => $"race-{i}").Order()), "no temporary file left");
    }

    [Test]
    public void A_creation_that_fails_for_space_leaves_no_temporary_file()
    {
        using var dir = new TestDir();
        ulong size = ((ulong)new DriveInfo("/dev/shm").TotalSize * 2 + 4095) & ~4095UL;
        Assert.Throws<KStateNoSpaceException>(() => Kho.Init(dir.File("region"), size).Dispose());
        Assert.That(dir.Names(), Is.Empty);
    }

    [TestCase(0UL)]
    [TestCase(Size)]
    public void A_users_file_with_a_blank_header_is_refused_and_left_byte_for_byte(ulong size)
    {
        using var dir = new TestDir();
        string path = dir.File("image");
        using (var f = new FileStream(path, FileMode.CreateNew))
        {
            f.SetLength((long)Size); // sparse: its first bytes, the would-be header, are zero
            f.Position = 1024;
            f.Write("data at 1024"u8);
            f.Position = 5000;
            f.Write("data at 5000"u8);
        }
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        var before = File.ReadAllBytes(path);

        var e = Assert.Throws<KStateCorruptException>(() => Kho.Init(path, size).Dispose());
        Assert.That(e!.Message, Does.Contain("not a KState region"));
        Assert.That(File.ReadAllBytes(path), Is.EqualTo(before));
        Assert.That(dir.Names(), Is.EqualTo(new[] { "image" }));
    }

    [Test]
    public void An_empty_file_of_the_user_is_refused_and_left_empty()
    {
        using var dir = new TestDir();
        string path = dir.File("empty");
        File.WriteAllBytes(path, []);
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        var e = Assert.Throws<KStateCorruptException>(() => Kho.Init(path, Size).Dispose());
        Assert.That(e!.Message, Does.Contain("too small to be a KState region"));
        Assert.That(new FileInfo(path).Length, Is.Zero);
    }

    [Test]
    public void A_path_given_as_bytes_names_exactly_that_file()
    {
        using var dir = new TestDir();
        byte[] name = [.. "region-"u8, 0xff, 0xfe];
        byte[] path = [.. System.Text.Encoding.ASCII.GetBytes(dir.Path + "/"), .. name];
        using (var kho = Kho.Init(path, Size))
            Assert.That(kho.RegionSize, Is.EqualTo(Size));
        Assert.That(dir.RawNames(), Is.EqualTo(new[] { name }));
        using (var kho = Kho.Init(path, 0)) Assert.That(kho.IsKhoBoot, Is.False);
        Kho.RemoveRegion(path);
        Assert.That(dir.RawNames(), Is.Empty);
    }

    [Test]
    public void A_path_given_as_bytes_with_a_nul_or_empty_is_invalid()
    {
        Assert.Throws<KStateInvalidException>(() => Kho.Init("/dev/shm/kstate-test\0x"u8, Size));
        Assert.Throws<KStateInvalidException>(() => Kho.Init(ReadOnlySpan<byte>.Empty, Size));
    }

    [Test]
    public void A_reservation_error_other_than_space_is_reported_as_what_it_is()
    {
        using var dir = new TestDir();
        string path = dir.File("readonly");
        File.WriteAllBytes(path, []);
        int fd = Syscall.open(path, OpenFlags.O_RDONLY);
        try
        {
            // posix_fallocate on a read-only descriptor fails with EBADF: not a lack of space.
            var e = Assert.Throws<KStateInvalidException>(() => ShmRegion.Reserve(path, fd, Size));
            Assert.That(e!.Message, Does.Contain("EBADF"));
        }
        finally
        {
            Syscall.close(fd);
        }
    }
}
