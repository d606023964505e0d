using System.Text.Json;
using KState.Cli;
using KState.Inspection;
using KState.Tests.Cli;
using KState.Tests.Support;

namespace KState.Tests.Machine;

/// <summary>
/// What backs a region (<see cref="Kho.Backing"/>): the file system and the page size the kernel maps it with. The
/// huge-page cases mount their own tmpfs or hugetlbfs (root only; ignored otherwise, saying what was not tested) and
/// hand a region over on it: KHO's frames stay 4 KiB whatever the backing's pages.
/// </summary>
[NonParallelizable]
public class BackingTests
{
    private static readonly ulong PmdSize = ulong.Parse(File.ReadAllText("/sys/kernel/mm/transparent_hugepage/hpage_pmd_size").Trim());

    /// <summary>A folio of each size filled, preserved and finalized; the next generation restores the same bytes.</summary>
    private static void HandOverOn(string path, ulong size)
    {
        ulong small, large;
        using (var kho = Kho.Init(path, size))
        {
            var a = kho.AllocFolio(0);
            var b = kho.AllocFolio(9);
            kho.FolioSpan(a).Fill(0xA5);
            kho.FolioSpan(b).Fill(0x5A);
            kho.PreserveFolio(a);
            kho.PreserveFolio(b);
            (small, large) = (a.Phys, b.Phys);
            kho.FinalizeHandover();
        }
        using var next = Kho.Init(path, 0);
        Assert.That(next.IsKhoBoot, Is.True, next.BootReport);
        Assert.That(next.TryRestoreFolio(small, out var s) && s.Order == 0, Is.True);
        Assert.That(next.TryRestoreFolio(large, out var l) && l.Order == 9, Is.True);
        using (Assert.EnterMultipleScope())
        {
            Assert.That(next.FolioSpan(s).ContainsAnyExcept((byte)0xA5), Is.False, "the 4 KiB folio's bytes");
            Assert.That(next.FolioSpan(l).ContainsAnyExcept((byte)0x5A), Is.False, "the 2 MiB folio's bytes");
        }
    }

    [Test]
    public void A_region_on_dev_shm_and_a_memfd_region_are_tmpfs_and_say_their_page_size()
    {
        using var r = new TestRegion("backing");
        using (var kho = r.Boot(4 << 20))
        {
            using (Assert.EnterMultipleScope())
            {
                Assert.That(kho.Backing.FileSystem, Is.EqualTo("tmpfs"));
                Assert.That(kho.BackingPageSize, Is.EqualTo(4096UL).Or.EqualTo(PmdSize));
                Assert.That(kho.Backing.Description, Does.StartWith("tmpfs, ").And.EndWith(kho.BackingPageSize == 4096 ? "4 KiB pages" : "2 MiB pages"));
            }
        }
        using var inspector = KhoInspector.Open(r.Path);
        Assert.That(inspector.Backing.FileSystem, Is.EqualTo("tmpfs"));
        using var memfd = Kho.CreateMemfd("kstate-test-backing");
        using var onFd = Kho.Init(memfd, 4 << 20);
        Assert.That(onFd.Backing.FileSystem, Is.EqualTo("tmpfs"));
        Assert.That(onFd.Backing.Description, Does.Contain("shmem_enabled="), "a memfd lives on the kernel's internal mount");
    }

    [Test]
    public void The_backing_of_a_disposed_Kho_is_refused()
    {
        using var r = new TestRegion("backing-disposed");
        var kho = r.Boot(4 << 20);
        kho.Dispose();
        Assert.That(() => kho.Backing, Throws.TypeOf<ObjectDisposedException>());
    }

    [TestCase("huge=always", true)]
    [TestCase("huge=within_size", true)]
    [TestCase("huge=advise", false)]
    [TestCase("huge=never", false)]
    public void A_region_on_a_tmpfs_reports_the_page_size_its_huge_option_gives_and_hands_over(string huge, bool hugePages)
    {
        string forced = File.ReadAllText("/sys/kernel/mm/transparent_hugepage/shmem_enabled");
        if (forced.Contains("[force]") || forced.Contains("[deny]")) Assert.Ignore($"shmem_enabled is {forced.Trim()}: it overrides the mount's huge= option");
        using var mount = HugeMount.Mount("tmpfs", $"{huge},size=64M", $"a region on a tmpfs mounted {huge}");
        string path = mount.Region("tmpfs");
        using (var kho = Kho.Init(path, 16 << 20))
        {
            using (Assert.EnterMultipleScope())
            {
                Assert.That(kho.Backing.FileSystem, Is.EqualTo("tmpfs"));
                Assert.That(kho.BackingPageSize, Is.EqualTo(hugePages ? PmdSize : 4096UL));
                Assert.That(kho.Backing.Description, Does.Contain(huge));
            }
        }
        Kho.RemoveRegion(path);
        HandOverOn(path, 16 << 20);
    }

    [Test]
    public void Inspect_reports_the_backing_of_a_region_on_a_huge_tmpfs_in_text_and_json()
    {
        using var mount = HugeMount.Mount("tmpfs", "huge=always,size=64M", "kstate inspect of a region on a huge-page tmpfs");
        string path = mount.Region("inspect");
        using (var kho = Kho.Init(path, 8 << 20)) kho.FinalizeHandover();
        var text = new StringWriter();
        Assert.That(App.Run(["inspect", path], text, new StringWriter()), Is.EqualTo(App.Ok));
        Assert.That(text.ToString(), Does.Contain("backing: tmpfs, huge=always: 2 MiB pages"));
        var json = new StringWriter();
        Assert.That(App.Run(["inspect", "--json", path], json, new StringWriter()), Is.EqualTo(App.Ok));
        using var doc = JsonDocument.Parse(json.ToString());
        Assert.That(JsonDocs.Load().Check(doc.RootElement, "Inspect"), Is.Empty);
        var backing = doc.RootElement.GetProperty("backing");
        using (Assert.EnterMultipleScope())
        {
            Assert.That(backing.GetProperty("file_system").GetString(), Is.EqualTo("tmpfs"));
            Assert.That(backing.GetProperty("page_size").GetUInt64(), Is.EqualTo(PmdSize));
        }
    }

    [Test]
    public void A_region_on_hugetlbfs_of_whole_huge_pages_hands_over_and_a_size_of_part_of_one_is_refused()
    {
        using var pages = HugePages.Reserve(16, "a region on hugetlbfs");
        using var mount = HugeMount.Mount("hugetlbfs", "pagesize=2M,size=32M", "a region on hugetlbfs");
        string path = mount.Region("hugetlbfs");
        var e = Assert.Throws<KStateInvalidException>(() => Kho.Init(path, (8 << 20) + 4096));
        Assert.That(e!.Message, Does.Contain("hugetlbfs pages (2 MiB)"));
        Assert.That(Directory.GetFiles(mount.Dir), Is.Empty, "the refused region left nothing behind");
        using (var kho = Kho.Init(path, 8 << 20))
        {
            Assert.That(kho.Backing, Is.EqualTo(new KhoBacking("hugetlbfs", 2 << 20, "hugetlbfs: 2 MiB pages")));
        }
        Kho.RemoveRegion(path);
        HandOverOn(path, 8 << 20);
    }

    [Test]
    public void A_vmalloc_area_on_hugetlbfs_is_refused_with_the_reason_and_nothing_allocated()
    {
        using var pages = HugePages.Reserve(8, "a vmalloc area on hugetlbfs");
        using var mount = HugeMount.Mount("hugetlbfs", "pagesize=2M,size=16M", "a vmalloc area on hugetlbfs");
        string path = mount.Region("hugetlbfs-vmalloc");
        try
        {
            using var kho = Kho.Init(path, 8 << 20);
            ulong free = kho.FreePages;
            var e = Assert.Throws<KStateInvalidException>(() => kho.Vmalloc(4096));
            Assert.That(e!.Message, Does.Contain("hugetlbfs").And.Contain("huge=always"));
            Assert.That(kho.FreePages, Is.EqualTo(free), "nothing was allocated");
        }
        finally
        {
            Kho.RemoveRegion(path);
        }
    }

    /// <summary>Huge pages reserved for hugetlbfs (vm.nr_hugepages raised, and set back when disposed).</summary>
    private sealed class HugePages : IDisposable
    {
        private const string Knob = "/proc/sys/vm/nr_hugepages";
        private readonly int _before;

        private HugePages(int before) => _before = before;

        public static HugePages Reserve(int count, string untested)
        {
            if (Mono.Unix.Native.Syscall.geteuid() != 0) Assert.Ignore($"not root: cannot reserve huge pages, so {untested} is not tested");
            int before = int.Parse(File.ReadAllText(Knob).Trim());
            File.WriteAllText(Knob, (before + count).ToString());
            var pages = new HugePages(before);
            if (int.Parse(File.ReadAllText(Knob).Trim()) < before + count)
            {
                pages.Dispose();
                Assert.Ignore($"the kernel could not reserve {count} huge pages (memory too fragmented), so {untested} is not tested");
            }
            return pages;
        }

        public void Dispose() => File.WriteAllText(Knob, _before.ToString());
    }
}
