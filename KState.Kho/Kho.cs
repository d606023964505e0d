using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;
using KState.Machine.Diagnostics;
using KState.Machine.Handover;
using KState.Machine.Memory;
using KState.Machine.Preservation;
using KState.Machine.Region;

namespace KState;

/// <summary>Options of <see cref="Kho.Init(string, ulong, KhoOptions?)"/>.</summary>
public sealed record KhoOptions
{
    /// <summary>Fill memory released at boot (and freed folios) with <see cref="Kho.PoisonByte"/>, so code that
    /// relies on memory it did not preserve fails loudly. Costs a write of all free memory at boot. Default off
    /// (as in the kernel); the environment variable KSTATE_KHO_POISON=1 turns it on.</summary>
    public bool Poison { get; init; } = Environment.GetEnvironmentVariable("KSTATE_KHO_POISON") == "1";

    /// <summary>Scratch size when the region is created (page multiple). Default: 1/64 of the region, 64 KiB to 64 MiB.</summary>
    public ulong? ScratchSize { get; init; }

    /// <summary>Test hook: runs after validation and ingest, just before the handover is consumed (crash tests).</summary>
    internal Action? BeforeConsume { get; init; }
}

/// <summary>
/// One generation's view of the emulated machine: a region booted by this process. It allocates folios, preserves
/// what must survive, and finalizes a handover; the next generation's <see cref="Init(string, ulong, KhoOptions?)"/> boots on the region and
/// restores exactly that. Thread-safe. The C ABI's <c>kho_*</c> functions map one to one onto its members.
/// </summary>
public sealed unsafe partial class Kho : IDisposable
{
    /// <summary>Pattern written into released memory when poisoning is on (the kernel's POISON_FREE).</summary>
    public const byte PoisonByte = 0x6B;

    /// <summary>Size of a page (a frame).</summary>
    public const int PageSize = (int)Layout.PageSize;

    /// <summary>Largest folio order.</summary>
    public const int MaxOrder = Layout.MaxOrder;

    /// <summary>Phys address of the first byte of every region.</summary>
    public const ulong PhysBase = Layout.PhysBase;

    private readonly Lock _lock = new();
    private readonly RegionMemory _mem; // the mapping's one owner: every phys to virt translation goes through it
    private readonly Layout _layout;
    private readonly KhoOptions _options;
    private readonly PreservationMap _map;
    private readonly BuddyAllocator _memory;
    private readonly BuddyAllocator _scratch;
    private bool _disposed;

    private Kho(ShmRegion region, Layout layout, KhoOptions options)
    {
        _mem = new RegionMemory(region);
        _layout = layout;
        _options = options;
        _map = new PreservationMap(_mem, layout);
        _memory = new BuddyAllocator(layout.TotalPages);
        _scratch = new BuddyAllocator(layout.TotalPages);
    }

    /// <summary>
    /// Boots this process on a region (<c>kho_init</c>): adopts <paramref name="path"/> if it exists (size may be 0),
    /// else creates it with <paramref name="size"/> bytes reserved. Then finds, validates and ingests the newest
    /// committed handover, if any (see <see cref="IsKhoBoot"/> and <see cref="BootReport"/>). A new region appears at
    /// its path only once complete (it is made as <c>.kstate-new-PID-RANDOM</c> in the same directory and renamed);
    /// an existing file is never written unless its header proves it a KState region.
    /// </summary>
    /// <exception cref="KStateBusyException">Another process has the region booted.</exception>
    /// <exception cref="KStateNoSpaceException">The file system cannot hold a region of that size.</exception>
    /// <exception cref="KStateInvalidException">Bad size or options (nothing is created then), a symlink, a file that is
    /// not regular, owned by someone else or open to group/others.</exception>
    /// <exception cref="KStateCorruptException">The file is not a KState region (its header is blank or damaged) or was truncated.</exception>
    /// <exception cref="KStateNotFoundException">The region does not exist and <paramref name="size"/> is 0.</exception>
    public static Kho Init(string path, ulong size, KhoOptions? options = null)
    {
        options ??= new KhoOptions();
        // Every option is checked before anything is created, so a bad one leaves no file behind.
        Layout? create = size == 0 ? null : Layout.Compute(size, options.ScratchSize ?? Layout.DefaultScratchSize(size));
        return BootOn(ShmRegion.OpenOrCreate(path, create), create, size, options);
    }

    /// <summary>
    /// Boots this process on an open file (<c>kho_init_fd</c>): a memfd (see <see cref="CreateMemfd"/>), or a file
    /// received over a unix socket (SCM_RIGHTS) or from systemd's fd store (<c>LISTEN_FDS</c>). The checks of a path
    /// apply: a regular file, owned by this user, mode 0600 (a memfd, which has no path and starts 0777, is set to
    /// 0600), locked so that only one process has it booted. An empty file is formatted when <paramref name="size"/>
    /// is not 0; a file with content must carry a region's header (else it is refused untouched). A memfd's size is
    /// then sealed (F_SEAL_SHRINK | F_SEAL_GROW) where sealing is allowed, so nobody can truncate it under a mapping.
    /// </summary>
    /// <remarks>The fd stays the caller's: the Kho opens its own description of the file through
    /// <c>/proc/self/fd</c> and never closes or changes <paramref name="fd"/>, which may be closed as soon as this
    /// returns. The lock is on that own description, so a generation that sent the fd to its successor and still
    /// has the region booted makes the successor's Init throw <see cref="KStateBusyException"/> until it disposes
    /// its Kho or exits: finalize, dispose, then hand the fd over.</remarks>
    /// <param name="fd">An open file descriptor of a regular file.</param>
    /// <param name="size">The region's size when the file is empty (formatted then); 0 adopts the file as it is.</param>
    /// <param name="options">Boot options.</param>
    /// <exception cref="KStateBusyException">Another process (or another Kho in this one) has the file booted.</exception>
    /// <exception cref="KStateInvalidException">Not an open fd, not a regular file, owned by someone else, open to
    /// group/others, sealed against writing, /proc not mounted, or a size differing from the header's.</exception>
    /// <exception cref="KStateNotFoundException">The file is empty and <paramref name="size"/> is 0.</exception>
    /// <exception cref="KStateNoSpaceException">The file system cannot hold a region of that size.</exception>
    /// <exception cref="KStateCorruptException">The file has content that is not a KState region.</exception>
    public static Kho Init(int fd, ulong size, KhoOptions? options = null)
    {
        options ??= new KhoOptions();
        Layout? create = size == 0 ? null : Layout.Compute(size, options.ScratchSize ?? Layout.DefaultScratchSize(size));
        return BootOn(ShmRegion.OpenFd(fd, create), create, size, options);
    }

    /// <summary><see cref="Init(int, ulong, KhoOptions?)"/> on a handle (a <see cref="SafeFileHandle"/> from
    /// <see cref="CreateMemfd"/>); the handle stays the caller's and may be disposed once this returns.</summary>
    /// <exception cref="ObjectDisposedException">The handle is closed.</exception>
    /// <exception cref="KStateException">As for <see cref="Init(int, ulong, KhoOptions?)"/>.</exception>
    public static Kho Init(SafeHandle fd, ulong size, KhoOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(fd);
        bool added = false;
        try
        {
            fd.DangerousAddRef(ref added); // the fd cannot be closed and reused while it is reopened
            return Init((int)fd.DangerousGetHandle(), size, options);
        }
        finally
        {
            if (added) fd.DangerousRelease();
        }
    }

    /// <summary>Creates an empty memfd for a region (memfd_create with MFD_CLOEXEC | MFD_ALLOW_SEALING, mode 0600).
    /// Boot on it with <see cref="Init(SafeHandle, ulong, KhoOptions?)"/> and a size; keep it (or send it to the next
    /// generation, or to systemd's fd store) for as long as the state must live: the memory goes when the last fd does.</summary>
    /// <param name="name">The name shown in <c>/proc/PID/fd</c> (<c>/memfd:NAME</c>); not a path.</param>
    /// <exception cref="KStateException">memfd_create failed (e.g. too many open files).</exception>
    public static SafeFileHandle CreateMemfd(string name) => new(ShmRegion.CreateMemfd(name), ownsHandle: true);

    private static Kho BootOn(ShmRegion region, Layout? create, ulong size, KhoOptions options)
    {
        long started = System.Diagnostics.Stopwatch.GetTimestamp();
        try
        {
            Layout layout;
            if (region.Created)
                layout = create!;
            else
            {
                layout = Layout.ReadHeader(new ReadOnlySpan<byte>(region.Base, PageSize), region.Size);
                if (size != 0 && size != layout.RegionSize)
                    Throw.Invalid($"region {region.Path} has {layout.RegionSize} bytes, not the {size} asked for (pass 0 to adopt it as it is)");
            }
            region.SealSize(); // only once the header proved it a region: a refused file is left untouched
            var kho = new Kho(region, layout, options);
            kho.Boot();
            KStateMeter.Booted(kho, started);
            return kho;
        }
        catch
        {
            region.Dispose();
            throw;
        }
    }

    /// <summary>
    /// <see cref="Init(string, ulong, KhoOptions?)"/> with the path as the file system's bytes, exactly as given
    /// (no UTF-8 decoding: a name that is not valid UTF-8 is kept byte for byte). For the C ABI.
    /// </summary>
    /// <exception cref="KStateInvalidException">The path is empty or holds a NUL byte, or as for the string overload.</exception>
    public static Kho Init(ReadOnlySpan<byte> path, ulong size, KhoOptions? options = null) =>
        Init(UnixPath.FromBytes(path), size, options);

    /// <summary>Removes a region file. A missing file is not an error.</summary>
    public static void RemoveRegion(string path) => ShmRegion.Remove(path);

    /// <summary>Removes a region file named by the file system's bytes, exactly as given. A missing file is not an error.</summary>
    /// <exception cref="KStateInvalidException">The path is empty or holds a NUL byte.</exception>
    public static void RemoveRegion(ReadOnlySpan<byte> path) => ShmRegion.Remove(UnixPath.FromBytes(path));

    /// <summary>The region's path.</summary>
    public string RegionPath => _mem.Path;

    /// <summary>The region's size in bytes.</summary>
    public ulong RegionSize => _layout.RegionSize;

    /// <summary>Phys range of the scratch area: [start, start + size).</summary>
    public (ulong Phys, ulong Size) Scratch => (PhysBase + _layout.ScratchOffset, _layout.ScratchSize);

    /// <summary>Phys range of allocatable memory: [start, end).</summary>
    public (ulong Start, ulong End) DataRange => (PhysBase + _layout.DataOffset, PhysBase + _layout.RegionSize);

    /// <summary>Whether poisoning is on for this generation.</summary>
    public bool Poisoning => _options.Poison;

    /// <summary>The mapping's owner, for the layers above (KSTATE's segment memory takes leases on it).</summary>
    internal RegionMemory Memory => _mem;

    /// <summary>Unmaps and unlocks the region (<c>kho_exit</c>). After <see cref="FinalizeHandover"/> this is the "kexec";
    /// without it, the next boot is a cold boot. Letting go of the region's lock is the first step, before the unmap,
    /// so a successor waiting in <see cref="InitWait(string, ulong, TimeSpan, KhoOptions?)"/> boots while this one tears
    /// down. A call still in flight on another thread finishes first (it may still write): the lock goes and the region
    /// is unmapped when the last one ends, and every call after this throws <see cref="ObjectDisposedException"/>.</summary>
    public void Dispose()
    {
        lock (_lock)
        {
            if (_disposed) return;
            _disposed = true;
            _mem.Close();
        }
    }

    /// <summary>Translates a phys address into this generation's mapping (<c>kho_phys_to_virt</c>); null when outside
    /// the region. The pointer is valid until <see cref="Dispose"/>; nothing checks its use: prefer <see cref="PhysSpan"/>.</summary>
    /// <exception cref="ObjectDisposedException">The Kho was disposed.</exception>
    public byte* DangerousPhysToVirt(ulong phys)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        return _mem.DangerousPhysToVirt(phys);
    }

    /// <summary>Translates a pointer into the mapping, or into a vmalloc area, back to its phys address
    /// (<c>kho_virt_to_phys</c>: for an area, the phys of the frame behind it plus the offset); 0 when outside both.</summary>
    /// <exception cref="ObjectDisposedException">The Kho was disposed.</exception>
    public ulong DangerousVirtToPhys(void* virt)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        ulong phys = _mem.DangerousVirtToPhys(virt);
        return phys != 0 || _vmalloc is null ? phys : VmallocVirtToPhys(virt);
    }

    /// <summary>The bytes [phys, phys + length) of the region, bounds-checked. Valid until <see cref="Dispose"/>.</summary>
    /// <exception cref="KStateInvalidException">The range is not entirely inside the region.</exception>
    /// <exception cref="ObjectDisposedException">The Kho was disposed.</exception>
    public Span<byte> PhysSpan(ulong phys, int length)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        return _mem.Phys(phys, length);
    }

    /// <summary>The bytes of a folio. Valid until <see cref="Dispose"/>.</summary>
    /// <exception cref="KStateInvalidException">The folio's order or range is not valid for this region.</exception>
    /// <exception cref="ObjectDisposedException">The Kho was disposed.</exception>
    public Span<byte> FolioSpan(Folio folio)
    {
        if ((uint)folio.Order > MaxOrder) Throw.Invalid($"{folio}: order out of range");
        return PhysSpan(folio.Phys, (int)folio.Size);
    }

    /// <summary>The address of a folio in this generation's mapping (<c>kho_folio_address</c>). Valid until
    /// <see cref="Dispose"/>; nothing checks its use: prefer <see cref="FolioSpan"/>.</summary>
    /// <exception cref="KStateInvalidException">The folio's order or range is not valid for this region.</exception>
    /// <exception cref="ObjectDisposedException">The Kho was disposed.</exception>
    public byte* DangerousFolioAddress(Folio folio)
    {
        var span = FolioSpan(folio);
        fixed (byte* p = span) return p;
    }

    private ulong PageOf(ulong phys) => (phys - PhysBase) >> Layout.PageShift;

    private static ulong PhysOfPage(ulong page) => PhysBase + (page << Layout.PageShift);

    /// <summary>Checks that phys is a page-aligned address of a block of 2^order pages inside the region.</summary>
    private bool IsValidBlock(ulong phys, int order, out ulong page)
    {
        page = 0;
        return (uint)order <= MaxOrder && _layout.IsBlock(phys, order, out page); // larger orders would wrap the shifts
    }

    private void Poison(ulong page, int order)
    {
        if (_options.Poison) _mem.Pages(page, order).Fill(PoisonByte);
    }
}
