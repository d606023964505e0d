using System.Text;
using KState;
using KState.Tests.Support;
using Microsoft.Win32.SafeHandles;
using Mono.Unix.Native;

namespace KState.Tests.Machine;

/// <summary>Booting on a file descriptor (<c>Kho.Init(fd)</c>, <c>kho_init_fd</c>): a memfd, or an open region file.</summary>
public class FdRegionTests
{
    private const ulong Size = 4 << 20;
    private const int SizeSeals = (int)(SealType.F_SEAL_SHRINK | SealType.F_SEAL_GROW);

    private static int Fd(SafeFileHandle h) => (int)h.DangerousGetHandle();

    /// <summary>open(2), not File.OpenHandle: .NET takes a flock of its own on files it opens, which would make the region busy.</summary>
    private static SafeFileHandle Open(string path, OpenFlags access)
    {
        int fd = Syscall.open(path, access | OpenFlags.O_CLOEXEC);
        Assert.That(fd, Is.GreaterThanOrEqualTo(0), $"open {path}");
        return new SafeFileHandle(fd, ownsHandle: true);
    }

    private static Stat Fstat(int fd)
    {
        Assert.That(Syscall.fstat(fd, out var st), Is.Zero, "fstat");
        return st;
    }

    [Test]
    public void A_blank_memfd_is_formatted_and_its_size_sealed_against_truncation()
    {
        using var memfd = Kho.CreateMemfd("kstate-test-blank");
        using (var kho = Kho.Init(memfd, Size))
        {
            Assert.That(kho.IsKhoBoot, Is.False);
            Assert.That(kho.RegionSize, Is.EqualTo(Size));
            Assert.That(kho.RegionPath, Does.StartWith($"fd {Fd(memfd)} (/memfd:kstate-test-blank"));
        }
        using (Assert.EnterMultipleScope())
        {
            Assert.That(Fstat(Fd(memfd)).st_size, Is.EqualTo((long)Size));
            Assert.That(Syscall.fcntl(Fd(memfd), FcntlCommand.F_GET_SEALS) & SizeSeals, Is.EqualTo(SizeSeals));
            Assert.That(Syscall.ftruncate(Fd(memfd), 0), Is.EqualTo(-1), "truncation (SIGBUS for a mapping) is refused");
            Assert.That(Syscall.ftruncate(Fd(memfd), (long)Size * 2), Is.EqualTo(-1), "so is growing");
        }
    }

    [Test]
    public void A_memfd_created_elsewhere_with_mode_777_is_set_to_0600()
    {
        int fd = Syscall.memfd_create("kstate-test-777", MemfdFlags.MFD_CLOEXEC);
        Assert.That(fd, Is.GreaterThanOrEqualTo(0));
        try
        {
            Assert.That(Fstat(fd).st_mode & FilePermissions.ACCESSPERMS, Is.EqualTo(FilePermissions.ACCESSPERMS), "memfds start 0777");
            using (Kho.Init(fd, Size)) { }
            Assert.That(Fstat(fd).st_mode & FilePermissions.ACCESSPERMS, Is.EqualTo(FilePermissions.S_IRUSR | FilePermissions.S_IWUSR));
            Assert.That(Syscall.fcntl(fd, FcntlCommand.F_GET_SEALS), Is.EqualTo((int)SealType.F_SEAL_SEAL), "no sealing allowed: none added");
        }
        finally
        {
            Syscall.close(fd);
        }
    }

    [Test]
    public void The_next_boot_on_the_same_memfd_restores_the_handover_and_the_callers_fd_stays_open()
    {
        using var memfd = Kho.CreateMemfd("kstate-test-handover");
        using (var kho = Kho.Init(memfd, Size))
        {
            kho.AddSubtree("fd", "kept on a memfd"u8);
            kho.FinalizeHandover();
        }
        using (var next = Kho.Init(Fd(memfd), 0))
        {
            Assert.That(next.IsKhoBoot, Is.True, next.BootReport);
            Assert.That(Encoding.UTF8.GetString(next.RetrieveSubtree("fd")), Is.EqualTo("kept on a memfd"));
        }
        Assert.That(Syscall.fcntl(Fd(memfd), FcntlCommand.F_GETFD), Is.GreaterThanOrEqualTo(0), "the Kho closed only its own description");
    }

    [Test]
    public void A_second_boot_through_a_dup_of_the_booted_fd_is_refused_as_busy()
    {
        // flock locks an open file description, which a dup (or an fd sent over a socket) shares: the Kho must lock its own.
        using var memfd = Kho.CreateMemfd("kstate-test-dup");
        using var kho = Kho.Init(memfd, Size);
        int dup = Syscall.dup(Fd(memfd));
        try
        {
            Assert.That(() => Kho.Init(dup, 0), Throws.TypeOf<KStateBusyException>());
            Assert.That(() => Kho.Init(memfd, 0), Throws.TypeOf<KStateBusyException>());
        }
        finally
        {
            Syscall.close(dup);
        }
    }

    [Test]
    public void An_fd_whose_content_is_not_a_region_is_refused_untouched()
    {
        using var memfd = Kho.CreateMemfd("kstate-test-foreign");
        byte[] foreign = Enumerable.Repeat((byte)0x41, 3 * Kho.PageSize).ToArray();
        using (var stream = new FileStream(new SafeFileHandle(Syscall.dup(Fd(memfd)), ownsHandle: true), FileAccess.ReadWrite))
            stream.Write(foreign);
        Assert.That(() => Kho.Init(memfd, Size), Throws.TypeOf<KStateCorruptException>());
        var back = new byte[foreign.Length + 1];
        int read = RandomAccess.Read(memfd, back, 0);
        using (Assert.EnterMultipleScope())
        {
            Assert.That(read, Is.EqualTo(foreign.Length), "not resized");
            Assert.That(back[..foreign.Length], Is.EqualTo(foreign), "not written");
            Assert.That(Syscall.fcntl(Fd(memfd), FcntlCommand.F_GET_SEALS), Is.Zero, "not sealed");
        }
    }

    [Test]
    public void An_empty_fd_without_a_size_is_refused_as_not_found()
    {
        using var memfd = Kho.CreateMemfd("kstate-test-empty");
        Assert.That(() => Kho.Init(memfd, 0), Throws.TypeOf<KStateNotFoundException>().With.Message.Contains("empty"));
        Assert.That(Fstat(Fd(memfd)).st_size, Is.Zero);
    }

    [Test]
    public void A_memfd_sealed_against_writing_is_refused()
    {
        using var memfd = Kho.CreateMemfd("kstate-test-sealed");
        Assert.That(Syscall.fcntl(Fd(memfd), FcntlCommand.F_ADD_SEALS, SealType.F_SEAL_WRITE), Is.Zero);
        Assert.That(() => Kho.Init(memfd, Size), Throws.TypeOf<KStateInvalidException>().With.Message.Contains("F_SEAL_WRITE"));
    }

    [Test]
    public void A_pipe_a_closed_fd_and_a_negative_fd_are_refused_as_invalid()
    {
        Assert.That(Syscall.pipe(out int reader, out int writer), Is.Zero);
        try
        {
            using (Assert.EnterMultipleScope())
            {
                Assert.That(() => Kho.Init(reader, Size), Throws.TypeOf<KStateInvalidException>().With.Message.Contains("not a regular file"));
                Assert.That(() => Kho.Init(-1, Size), Throws.TypeOf<KStateInvalidException>());
                Assert.That(() => Kho.Init(int.MaxValue, Size), Throws.TypeOf<KStateInvalidException>());
            }
        }
        finally
        {
            Syscall.close(reader);
            Syscall.close(writer);
        }
    }

    [Test]
    public void A_region_file_booted_by_path_cannot_be_booted_again_through_an_fd()
    {
        using var region = new TestRegion("fd-path");
        using var kho = region.Boot(Size);
        using var file = Open(region.Path, OpenFlags.O_RDONLY);
        Assert.That(() => Kho.Init(file, 0), Throws.TypeOf<KStateBusyException>());
    }

    [Test]
    public void A_region_file_open_to_others_is_refused_through_an_fd_as_by_path()
    {
        using var region = new TestRegion("fd-mode");
        using (region.Boot(Size)) { }
        File.SetUnixFileMode(region.Path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
        using var file = Open(region.Path, OpenFlags.O_RDWR);
        Assert.That(() => Kho.Init(file, 0), Throws.TypeOf<KStateInvalidException>().With.Message.Contains("mode 644"));
    }

    [Test]
    public void An_open_region_file_boots_through_its_fd_with_its_handover()
    {
        using var region = new TestRegion("fd-file");
        using (var kho = region.Boot(Size))
        {
            kho.AddSubtree("fd", "on a path"u8);
            kho.FinalizeHandover();
        }
        using var file = Open(region.Path, OpenFlags.O_RDONLY); // read-only: the Kho reopens read-write
        using var next = Kho.Init(file, 0);
        Assert.That(Encoding.UTF8.GetString(next.RetrieveSubtree("fd")), Is.EqualTo("on a path"));
    }
}
