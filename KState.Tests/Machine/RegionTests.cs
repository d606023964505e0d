using System.Diagnostics;
using KState;
using KState.Tests.Support;

namespace KState.Tests.Machine;

public class RegionTests
{
    [Test]
    public void Region_is_created_with_mode_0600_and_its_full_size()
    {
        using var r = new TestRegion();
        using (var kho = r.Boot(4 << 20))
        {
            Assert.That(kho.RegionSize, Is.EqualTo(4UL << 20));
            Assert.That(kho.IsKhoBoot, Is.False);
            Assert.That(kho.BootReport, Does.Contain("cold boot: no handover"));
        }
        var info = new FileInfo(r.Path);
        using (Assert.EnterMultipleScope())
        {
            Assert.That(info.Length, Is.EqualTo(4L << 20));
            Assert.That(File.GetUnixFileMode(r.Path), Is.EqualTo(UnixFileMode.UserRead | UnixFileMode.UserWrite));
        }
    }

    [Test]
    public void Adopting_with_size_zero_takes_the_existing_size()
    {
        using var r = new TestRegion();
        r.Boot(2 << 20).Dispose();
        using var kho = Kho.Init(r.Path, 0);
        Assert.That(kho.RegionSize, Is.EqualTo(2UL << 20));
    }

    [Test]
    public void Adopting_a_missing_region_without_a_size_is_not_found()
    {
        using var r = new TestRegion();
        Assert.Throws<KStateNotFoundException>(() => Kho.Init(r.Path, 0));
    }

    [Test]
    public void Adopting_with_a_different_size_is_invalid()
    {
        using var r = new TestRegion();
        r.Boot(2 << 20).Dispose();
        Assert.Throws<KStateInvalidException>(() => Kho.Init(r.Path, 4 << 20));
    }

    [TestCase(0UL + 4096)]
    [TestCase((2UL << 20) + 1)]
    public void Bad_sizes_are_invalid_and_leave_no_file(ulong size)
    {
        using var r = new TestRegion();
        Assert.Throws<KStateInvalidException>(() => Kho.Init(r.Path, size));
        Assert.That(File.Exists(r.Path), Is.False);
    }

    [Test]
    public void A_region_larger_than_the_file_system_fails_at_creation_with_no_space()
    {
        using var r = new TestRegion();
        ulong total = (ulong)new DriveInfo("/dev/shm").TotalSize;
        ulong size = (total * 2 + 4095) & ~4095UL;
        var e = Assert.Throws<KStateNoSpaceException>(() => Kho.Init(r.Path, size));
        Assert.That(e!.Message, Does.Contain("no space"));
        Assert.That(File.Exists(r.Path), Is.False);
    }

    [Test]
    public void A_symlink_is_refused()
    {
        using var target = new TestRegion();
        using var link = new TestRegion("link");
        target.Boot(1 << 20).Dispose();
        File.CreateSymbolicLink(link.Path, target.Path);
        var e = Assert.Throws<KStateInvalidException>(() => Kho.Init(link.Path, 0));
        Assert.That(e!.Message, Does.Contain("symbolic link"));
    }

    [Test]
    public void A_region_open_to_group_or_others_is_refused()
    {
        using var r = new TestRegion();
        r.Boot(1 << 20).Dispose();
        File.SetUnixFileMode(r.Path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead);
        var e = Assert.Throws<KStateInvalidException>(() => Kho.Init(r.Path, 0));
        Assert.That(e!.Message, Does.Contain("group or others"));
    }

    [Test]
    public void A_region_owned_by_another_user_is_refused()
    {
        if (Environment.UserName != "root") Assert.Ignore("needs root to chown");
        using var r = new TestRegion();
        r.Boot(1 << 20).Dispose();
        using (var chown = Process.Start("chown", ["nobody", r.Path])) chown.WaitForExit();
        var e = Assert.Throws<KStateInvalidException>(() => Kho.Init(r.Path, 0));
        Assert.That(e!.Message, Does.Contain("owned by uid"));
    }

    [Test]
    public void A_second_boot_in_this_process_is_busy()
    {
        using var r = new TestRegion();
        using var kho = r.Boot(1 << 20);
        Assert.Throws<KStateBusyException>(() => Kho.Init(r.Path, 0));
    }

    [Test]
    public void A_region_booted_by_another_process_is_busy()
    {
        using var r = new TestRegion();
        r.Boot(1 << 20).Dispose();
        using var holder = Child.Start("kho-hold", r.Path);
        Assert.That(holder.StandardOutput.ReadLine(), Is.EqualTo("ready"));
        var e = Assert.Throws<KStateBusyException>(() => Kho.Init(r.Path, 0));
        Assert.That(e!.Message, Does.Contain("another process"));
        holder.StandardInput.Close();
        holder.WaitForExit();
        using var kho = Kho.Init(r.Path, 0); // free again once the holder exits
    }

    [Test]
    public void A_truncated_region_is_reported_as_corrupt()
    {
        using var r = new TestRegion();
        r.Boot(2 << 20).Dispose();
        using (var f = new FileStream(r.Path, FileMode.Open)) f.SetLength(1 << 20);
        var e = Assert.Throws<KStateCorruptException>(() => Kho.Init(r.Path, 0));
        Assert.That(e!.Message, Does.Contain("truncated"));
    }

    [Test]
    public void A_file_that_is_not_a_region_is_reported_as_corrupt()
    {
        using var r = new TestRegion();
        File.WriteAllBytes(r.Path, Enumerable.Repeat((byte)0x55, 1 << 20).ToArray());
        File.SetUnixFileMode(r.Path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        var e = Assert.Throws<KStateCorruptException>(() => Kho.Init(r.Path, 0));
        Assert.That(e!.Message, Does.Contain("bad magic"));
    }

    [Test]
    public void Phys_and_virt_translate_both_ways_and_refuse_outside_the_region()
    {
        using var r = new TestRegion();
        using var kho = r.Boot(1 << 20);
        var folio = kho.AllocFolio(0);
        unsafe
        {
            byte* p = kho.DangerousPhysToVirt(folio.Phys);
            Assert.That(p != null, Is.True);
            Assert.That(kho.DangerousVirtToPhys(p), Is.EqualTo(folio.Phys));
            Assert.That(kho.DangerousVirtToPhys(p + 17), Is.EqualTo(folio.Phys + 17));
            Assert.That(kho.DangerousPhysToVirt(0) == null, Is.True);
            Assert.That(kho.DangerousPhysToVirt(Kho.PhysBase + kho.RegionSize) == null, Is.True);
            Assert.That(kho.DangerousVirtToPhys(&p), Is.Zero);
        }
        Assert.Throws<KStateInvalidException>(() => kho.PhysSpan(Kho.PhysBase + kho.RegionSize - 10, 11));
    }
}
