using System.Runtime.InteropServices;

namespace KState.Native;

/// <summary>The in-place memory functions of kstate.h (the kernel's 2025–2026 KHO API): runs of pages,
/// allocate-and-preserve, vmalloc areas. Pointers are this generation's mapping (a vmalloc area's own range for the
/// kho_vmalloc family); phys are what crosses generations. Functions returning a pointer, and the void ones, set
/// errno on failure. Every body is one <see cref="Barrier"/> call (a test checks it).</summary>
internal static unsafe class InPlaceExports
{
    [UnmanagedCallersOnly(EntryPoint = "kho_preserve_pages")]
    public static int PreservePages(void* addr, uint pages) => Barrier.Run(((nint)addr, pages), static a =>
        NativeState.Machine.PreservePages(RegionPhys(a.Item1, "kho_preserve_pages"), a.pages));

    [UnmanagedCallersOnly(EntryPoint = "kho_unpreserve_pages")]
    public static int UnpreservePages(void* addr, uint pages) => Barrier.Run(((nint)addr, pages), static a =>
        NativeState.Machine.UnpreservePages(RegionPhys(a.Item1, "kho_unpreserve_pages"), a.pages));

    [UnmanagedCallersOnly(EntryPoint = "kho_restore_pages")]
    public static void* RestorePages(ulong phys, uint pages) => (void*)Barrier.Get((phys, pages), static a =>
        NativeState.Machine.TryRestorePages(a.phys, a.pages) ? (nint)NativeState.Machine.DangerousPhysToVirt(a.phys)
        : throw new KStateNotFoundException($"kho_restore_pages: no run of exactly {a.pages} pages at 0x{a.phys:x} is waiting to be restored (never preserved, another length, or restored already)"));

    [UnmanagedCallersOnly(EntryPoint = "kho_alloc_preserve")]
    public static void* AllocPreserve(nuint size) => (void*)Barrier.Get(size, static size =>
        (nint)NativeState.Machine.DangerousPhysToVirt(NativeState.Machine.AllocPreserve(size).Phys));

    [UnmanagedCallersOnly(EntryPoint = "kho_unpreserve_free")]
    public static void UnpreserveFree(void* mem) => Barrier.Get((nint)mem, static mem =>
    {
        var kho = NativeState.Machine;
        ulong phys = RegionPhys(mem, "kho_unpreserve_free");
        if (!kho.TryFindFolio(phys, out var folio)) throw new KStateInvalidException($"kho_unpreserve_free: 0x{phys:x} is not the start of memory from kho_alloc_preserve");
        kho.UnpreserveFree(folio);
        return (byte)0;
    });

    [UnmanagedCallersOnly(EntryPoint = "kho_restore_free")]
    public static void RestoreFree(void* mem) => Barrier.Get((nint)mem, static mem =>
    {
        NativeState.Machine.RestoreFree(RegionPhys(mem, "kho_restore_free"));
        return (byte)0;
    });

    [UnmanagedCallersOnly(EntryPoint = "kho_vmalloc")]
    public static void* Vmalloc(nuint size) => (void*)Barrier.Get(size, static size => NativeState.Machine.Vmalloc(size).Address);

    [UnmanagedCallersOnly(EntryPoint = "kho_vfree")]
    public static void Vfree(void* ptr) => Barrier.Get((nint)ptr, static ptr =>
    {
        if (ptr != 0) NativeState.Machine.Vfree(Area(ptr, "kho_vfree")); // vfree(NULL) does nothing, as in the kernel
        return (byte)0;
    });

    [UnmanagedCallersOnly(EntryPoint = "kho_preserve_vmalloc")]
    public static int PreserveVmalloc(void* ptr, KhoVmalloc* preservation) => Barrier.Run(((nint)ptr, (nint)preservation), static a =>
    {
        if (a.Item2 == 0) throw new KStateInvalidException("kho_preserve_vmalloc: preservation is NULL");
        *(KhoVmalloc*)a.Item2 = NativeState.Machine.PreserveVmalloc(Area(a.Item1, "kho_preserve_vmalloc"));
    });

    [UnmanagedCallersOnly(EntryPoint = "kho_unpreserve_vmalloc")]
    public static void UnpreserveVmalloc(KhoVmalloc* preservation) => Barrier.Get((nint)preservation, static preservation =>
    {
        NativeState.Machine.UnpreserveVmalloc(Record(preservation, "kho_unpreserve_vmalloc"));
        return (byte)0;
    });

    [UnmanagedCallersOnly(EntryPoint = "kho_restore_vmalloc")]
    public static void* RestoreVmalloc(KhoVmalloc* preservation) => (void*)Barrier.Get((nint)preservation, static preservation =>
        NativeState.Machine.RestoreVmalloc(Record(preservation, "kho_restore_vmalloc")).Address);

    /// <summary>The phys of a pointer into the region's own mapping; an address in a vmalloc area is refused (its
    /// frames are not one physical run).</summary>
    private static ulong RegionPhys(nint addr, string function)
    {
        var kho = NativeState.Machine;
        if (addr == 0) throw new KStateInvalidException($"{function}: address is NULL");
        if (kho.TryFindVmalloc(addr, out _)) throw new KStateInvalidException($"{function}: 0x{addr:x} is inside a kho_vmalloc area (use kho_preserve_vmalloc)");
        ulong phys = kho.DangerousVirtToPhys((void*)addr);
        if (phys == 0) throw new KStateInvalidException($"{function}: 0x{addr:x} is not inside the region");
        return phys;
    }

    /// <summary>The live area that starts at <paramref name="ptr"/>.</summary>
    private static VmallocArea Area(nint ptr, string function)
    {
        if (ptr == 0) throw new KStateInvalidException($"{function}: address is NULL");
        if (!NativeState.Machine.TryFindVmalloc(ptr, out var area) || area.Address != ptr)
            throw new KStateInvalidException($"{function}: 0x{ptr:x} is not the start of a kho_vmalloc area");
        return area;
    }

    /// <summary>A copy of the caller's record (read once: the caller's memory is not read again while it is checked).</summary>
    private static KhoVmalloc Record(nint preservation, string function) =>
        preservation == 0 ? throw new KStateInvalidException($"{function}: preservation is NULL") : *(KhoVmalloc*)preservation;
}
