namespace KState;

public sealed partial class Kho
{
    /// <summary>What backs the region: its file system and the page size the kernel maps it with (2 MiB on a tmpfs
    /// mounted <c>huge=always</c> or <c>huge=within_size</c>, or hugetlbfs's page size; else 4 KiB). KHO's frames stay
    /// 4 KiB whatever the backing. Probed on first use (a fstatfs and, on tmpfs, the mount table), not at boot.</summary>
    /// <exception cref="ObjectDisposedException">The Kho was disposed.</exception>
    public KhoBacking Backing
    {
        get
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            return _mem.Backing;
        }
    }

    /// <summary>The page size of the region's backing in bytes (<see cref="Backing"/>'s): 4096 or a huge page size.</summary>
    /// <exception cref="ObjectDisposedException">The Kho was disposed.</exception>
    public ulong BackingPageSize => Backing.PageSize;
}
