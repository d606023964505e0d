using System.Globalization;
using Mono.Unix.Native;

namespace KState.Machine.Region;

/// <summary>
/// What backs a region's memory and the page size the kernel maps it with: hugetlbfs says its huge page size itself
/// (statfs's f_bsize); a tmpfs maps huge pages only when mounted with <c>huge=always</c> or <c>huge=within_size</c>
/// (its super options in /proc/self/mountinfo), unless the system-wide shmem setting forces or denies them.
/// </summary>
internal static class BackingProbe
{
    private const long TmpfsMagic = 0x01021994, HugetlbfsMagic = 0x958458f6;
    private const ulong SmallPage = 4096;
    private const string Thp = "/sys/kernel/mm/transparent_hugepage/";

    /// <summary>The backing of the open file <paramref name="fd"/>.</summary>
    public static KhoBacking Probe(int fd, string name)
    {
        var (type, blockSize) = Libc.FileSystemOf(fd, name);
        if (type == HugetlbfsMagic) return new KhoBacking("hugetlbfs", blockSize, $"hugetlbfs: {Size(blockSize)} pages");
        if (type != TmpfsMagic) return new KhoBacking($"0x{type:x}", SmallPage, $"file system 0x{type:x} (not tmpfs): 4 KiB pages");
        if (Syscall.fstat(fd, out var st) != 0) PosixError.Throw(PosixError.Last, $"region {name}: fstat");
        // A tmpfs of the mount table, or the kernel's internal one (memfds), which shmem_enabled alone governs.
        string forced = Selected(Thp + "shmem_enabled") ?? "never";
        string? mount = MountHuge(st.st_dev);
        string huge = mount ?? $"shmem_enabled={forced}";
        bool hugePages = forced switch
        {
            "force" => true,
            "deny" => false,
            _ => huge is "huge=always" or "huge=within_size" or "shmem_enabled=always" or "shmem_enabled=within_size",
        };
        if (mount is not null && forced is "force" or "deny") huge += $", shmem_enabled={forced}"; // it overrides the mount
        ulong page = hugePages ? PmdSize() : SmallPage;
        string note = huge is "huge=advise" ? " (KState does not madvise)" : "";
        return new KhoBacking("tmpfs", page, $"tmpfs, {huge}{note}: {Size(page)} pages");
    }

    /// <summary>Refuses a region size the backing cannot map and unmap whole: hugetlbfs maps only whole huge pages
    /// (and munmap of a partial one fails with EINVAL, which would leak the mapping). One fstatfs: no mount table read.</summary>
    public static void CheckSize(int fd, string name, ulong size)
    {
        var (type, page) = Libc.FileSystemOf(fd, name);
        if (type == HugetlbfsMagic && page != 0 && size % page != 0)
            Throw.Invalid($"region {name}: {size} bytes is not a whole number of hugetlbfs pages ({Size(page)}); use a multiple of {page}");
    }

    private static string Size(ulong bytes) => bytes >= 1 << 30 && bytes % (1 << 30) == 0 ? $"{bytes >> 30} GiB"
        : bytes >= 1 << 20 && bytes % (1 << 20) == 0 ? $"{bytes >> 20} MiB" : $"{bytes >> 10} KiB";

    /// <summary>The <c>huge=</c> super option of the mount whose device is <paramref name="dev"/> ("huge=never" when it
    /// has none), or null when no mount has that device (the internal shm mount of memfds).</summary>
    private static string? MountHuge(ulong dev)
    {
        // st_dev's encoding (glibc's gnu_dev_major/minor); mountinfo's third field is "major:minor".
        ulong major = ((dev >> 8) & 0xfff) | ((dev >> 32) & ~0xfffUL), minor = (dev & 0xff) | ((dev >> 12) & ~0xffUL);
        string want = string.Create(CultureInfo.InvariantCulture, $"{major}:{minor}");
        string[] lines;
        try
        {
            lines = File.ReadAllLines("/proc/self/mountinfo");
        }
        catch (IOException)
        {
            return null;
        }
        foreach (var line in lines)
        {
            var fields = line.Split(' ');
            if (fields.Length < 3 || fields[2] != want) continue;
            int dash = Array.IndexOf(fields, "-");
            if (dash < 0 || dash + 3 >= fields.Length) continue;
            foreach (var option in fields[dash + 3].Split(','))
                if (option.StartsWith("huge=", StringComparison.Ordinal)) return option;
            return "huge=never";
        }
        return null;
    }

    /// <summary>The bracketed choice of a sysfs setting ("always [never] deny" gives "never"), or null.</summary>
    private static string? Selected(string file)
    {
        try
        {
            string text = File.ReadAllText(file);
            int open = text.IndexOf('['), close = text.IndexOf(']');
            return open >= 0 && close > open ? text[(open + 1)..close] : null;
        }
        catch (IOException)
        {
            return null;
        }
        catch (UnauthorizedAccessException)
        {
            return null;
        }
    }

    private static ulong PmdSize()
    {
        try
        {
            return ulong.TryParse(File.ReadAllText(Thp + "hpage_pmd_size").Trim(), CultureInfo.InvariantCulture, out ulong v) && v > 0 ? v : 2UL << 20;
        }
        catch (IOException)
        {
            return 2UL << 20;
        }
    }
}
