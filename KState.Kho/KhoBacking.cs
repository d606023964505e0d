namespace KState;

/// <summary>
/// What backs a region's memory (<see cref="Kho.Backing"/>): the file system and the size of the pages the kernel
/// maps the region with. Huge pages (a tmpfs mounted <c>huge=always</c> or <c>huge=within_size</c>, or hugetlbfs)
/// make the page-table work of mapping and unmapping the region 512 times smaller; KHO's frames stay 4 KiB whatever
/// the backing.
/// </summary>
/// <param name="FileSystem"><c>tmpfs</c>, <c>hugetlbfs</c>, or another file system's magic number (<c>0x...</c>).</param>
/// <param name="PageSize">The page size in bytes: 4096, or the huge page size (2 MiB on x86-64).</param>
/// <param name="Description">One line for people, e.g. "tmpfs, huge=always: 2 MiB pages".</param>
public sealed record KhoBacking(string FileSystem, ulong PageSize, string Description);
