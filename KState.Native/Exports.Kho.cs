using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace KState.Native;

/// <summary>The <c>kho_*</c> functions of kstate.h. A folio handle is phys | order (phys is page aligned), never a pointer to memory.
/// Every body is one <see cref="Barrier"/> call (a test checks it).</summary>
internal static unsafe class KhoExports
{
    [UnmanagedCallersOnly(EntryPoint = "kho_init")]
    public static int Init(byte* path, ulong size) => Barrier.Lifetime("kho_init", () =>
    {
        if (path == null) throw new KStateInvalidException("kho_init: region path is NULL");
        NativeState.Boot(MemoryMarshal.CreateReadOnlySpanFromNullTerminated(path), size); // the path's bytes exactly as given
    });

    [UnmanagedCallersOnly(EntryPoint = "kho_exit")]
    public static int Exit() => Barrier.Lifetime("kho_exit", NativeState.Exit);

    [UnmanagedCallersOnly(EntryPoint = "is_kho_boot")]
    public static byte IsKhoBoot() => Barrier.Get(static () => NativeState.Kho is { IsKhoBoot: true } ? (byte)1 : (byte)0);

    [UnmanagedCallersOnly(EntryPoint = "kho_folio_alloc")]
    public static nint FolioAlloc(uint order) => Barrier.Get(order, static order =>
        NativeState.Machine.TryAllocFolio((int)Math.Min(order, int.MaxValue), out var f) ? (nint)f.Handle : 0);

    [UnmanagedCallersOnly(EntryPoint = "kho_folio_put")]
    public static void FolioPut(nint folio) => Barrier.Run(folio, static folio => NativeState.Machine.PutFolio(ToFolio(folio)));

    [UnmanagedCallersOnly(EntryPoint = "kho_folio_address")]
    public static void* FolioAddress(nint folio) => (void*)Barrier.Get(folio, static folio =>
        (nint)NativeState.Machine.DangerousPhysToVirt(ToFolio(folio).Phys));

    [UnmanagedCallersOnly(EntryPoint = "kho_folio_order")]
    public static uint FolioOrder(nint folio) => Barrier.Get(folio, static folio => (uint)Folio.FromHandle((ulong)folio).Order);

    [UnmanagedCallersOnly(EntryPoint = "kho_folio_phys")]
    public static ulong FolioPhys(nint folio) => Barrier.Get(folio, static folio => Folio.FromHandle((ulong)folio).Phys);

    [UnmanagedCallersOnly(EntryPoint = "kho_phys_to_virt")]
    public static void* PhysToVirt(ulong phys) => (void*)Barrier.Get(phys, static phys => (nint)NativeState.Machine.DangerousPhysToVirt(phys));

    [UnmanagedCallersOnly(EntryPoint = "kho_virt_to_phys")]
    public static ulong VirtToPhys(void* virt) => Barrier.Get((nint)virt, static virt => NativeState.Machine.DangerousVirtToPhys((void*)virt));

    [UnmanagedCallersOnly(EntryPoint = "kho_preserve_folio")]
    public static int PreserveFolio(nint folio) => Barrier.Run(folio, static folio => NativeState.Machine.PreserveFolio(ToFolio(folio)));

    [UnmanagedCallersOnly(EntryPoint = "kho_unpreserve_folio")]
    public static int UnpreserveFolio(nint folio) => Barrier.Run(folio, static folio => NativeState.Machine.UnpreserveFolio(ToFolio(folio)));

    [UnmanagedCallersOnly(EntryPoint = "kho_preserve_phys")]
    public static int PreservePhys(ulong phys, nuint size) => Barrier.Run((phys, size), static a => NativeState.Machine.PreservePhys(a.phys, a.size));

    [UnmanagedCallersOnly(EntryPoint = "kho_unpreserve_phys")]
    public static int UnpreservePhys(ulong phys, nuint size) => Barrier.Run((phys, size), static a => NativeState.Machine.UnpreservePhys(a.phys, a.size));

    [UnmanagedCallersOnly(EntryPoint = "kho_restore_folio")]
    public static nint RestoreFolio(ulong phys) => Barrier.Get(phys, static phys =>
        NativeState.Machine.TryRestoreFolio(phys, out var f) ? (nint)f.Handle : 0);

    [UnmanagedCallersOnly(EntryPoint = "kho_restore_phys")]
    public static void* RestorePhys(ulong phys, nuint size) => (void*)Barrier.Get((phys, size), static a => NativeState.Machine.TryRestorePhys(a.phys, a.size) ? (nint)NativeState.Machine.DangerousPhysToVirt(a.phys)
        : throw new KStateNotFoundException($"kho_restore_phys: 0x{a.phys:x}+{a.size} is not a preserved range of the handover (or was restored already)"));

    [UnmanagedCallersOnly(EntryPoint = "kho_add_subtree")]
    public static int AddSubtree(byte* name, void* blob, nuint size) => Barrier.Run(() =>
    {
        string n = NativeState.Utf8(name) ?? throw new KStateInvalidException("kho_add_subtree: name is NULL");
        if (blob == null && size != 0) throw new KStateInvalidException("kho_add_subtree: blob is NULL");
        if (size > int.MaxValue) throw new KStateInvalidException("kho_add_subtree: blob too large");
        NativeState.Machine.AddSubtree(n, new ReadOnlySpan<byte>(blob, (int)size));
    });

    [UnmanagedCallersOnly(EntryPoint = "kho_retrieve_subtree")]
    public static int RetrieveSubtree(byte* name, void** blob, nuint* size) => Barrier.Run(() =>
    {
        string n = NativeState.Utf8(name) ?? throw new KStateInvalidException("kho_retrieve_subtree: name is NULL");
        if (blob == null || size == null) throw new KStateInvalidException("kho_retrieve_subtree: NULL output pointer");
        var span = NativeState.Machine.RetrieveSubtree(n);
        *blob = Unsafe.AsPointer(ref MemoryMarshal.GetReference(span));
        *size = (nuint)span.Length;
    });

    [UnmanagedCallersOnly(EntryPoint = "kho_finalize")]
    public static int FinalizeHandover() => Barrier.Run(static () => NativeState.Machine.FinalizeHandover());

    [UnmanagedCallersOnly(EntryPoint = "kho_abort")]
    public static int Abort() => Barrier.Run(static () => NativeState.Machine.AbortHandover());

    private static Folio ToFolio(nint handle) =>
        handle == 0 ? throw new KStateInvalidException("NULL folio") : Folio.FromHandle((ulong)handle);
}
