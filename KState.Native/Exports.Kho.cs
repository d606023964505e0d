using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace KState.Native;

/// <summary>The <c>kho_*</c> functions of kstate.h. A folio handle is phys | order (phys is page aligned), never a pointer to memory.</summary>
internal static unsafe class KhoExports
{
    [UnmanagedCallersOnly(EntryPoint = "kho_init")]
    public static int Init(byte* path, ulong size) => NativeState.Call(() =>
    {
        string p = NativeState.Utf8(path) ?? throw new KStateInvalidException("kho_init: region path is NULL");
        NativeState.Boot(p, size);
    });

    [UnmanagedCallersOnly(EntryPoint = "kho_exit")]
    public static int Exit() => NativeState.Call(NativeState.Exit);

    [UnmanagedCallersOnly(EntryPoint = "is_kho_boot")]
    public static byte IsKhoBoot() => NativeState.Kho is { IsKhoBoot: true } ? (byte)1 : (byte)0;

    [UnmanagedCallersOnly(EntryPoint = "kho_folio_alloc")]
    public static nint FolioAlloc(uint order)
    {
        try
        {
            return NativeState.Machine.TryAllocFolio((int)Math.Min(order, int.MaxValue), out var f) ? (nint)f.Handle : 0;
        }
        catch (Exception e)
        {
            NativeState.Fail(e);
            return 0;
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "kho_folio_put")]
    public static void FolioPut(nint folio) => NativeState.Call(() => NativeState.Machine.PutFolio(Folio.FromHandle((ulong)folio)));

    [UnmanagedCallersOnly(EntryPoint = "kho_folio_address")]
    public static void* FolioAddress(nint folio) => NativeState.Kho is { } k && folio != 0 ? k.DangerousPhysToVirt(Folio.FromHandle((ulong)folio).Phys) : null;

    [UnmanagedCallersOnly(EntryPoint = "kho_folio_order")]
    public static uint FolioOrder(nint folio) => (uint)Folio.FromHandle((ulong)folio).Order;

    [UnmanagedCallersOnly(EntryPoint = "kho_folio_phys")]
    public static ulong FolioPhys(nint folio) => Folio.FromHandle((ulong)folio).Phys;

    [UnmanagedCallersOnly(EntryPoint = "kho_phys_to_virt")]
    public static void* PhysToVirt(ulong phys) => NativeState.Kho is { } k ? k.DangerousPhysToVirt(phys) : null;

    [UnmanagedCallersOnly(EntryPoint = "kho_virt_to_phys")]
    public static ulong VirtToPhys(void* virt) => NativeState.Kho is { } k ? k.DangerousVirtToPhys(virt) : 0;

    [UnmanagedCallersOnly(EntryPoint = "kho_preserve_folio")]
    public static int PreserveFolio(nint folio) => NativeState.Call(() => NativeState.Machine.PreserveFolio(ToFolio(folio)));

    [UnmanagedCallersOnly(EntryPoint = "kho_unpreserve_folio")]
    public static int UnpreserveFolio(nint folio) => NativeState.Call(() => NativeState.Machine.UnpreserveFolio(ToFolio(folio)));

    [UnmanagedCallersOnly(EntryPoint = "kho_preserve_phys")]
    public static int PreservePhys(ulong phys, nuint size) => NativeState.Call(() => NativeState.Machine.PreservePhys(phys, size));

    [UnmanagedCallersOnly(EntryPoint = "kho_unpreserve_phys")]
    public static int UnpreservePhys(ulong phys, nuint size) => NativeState.Call(() => NativeState.Machine.UnpreservePhys(phys, size));

    [UnmanagedCallersOnly(EntryPoint = "kho_restore_folio")]
    public static nint RestoreFolio(ulong phys) => NativeState.Kho is { } k && k.TryRestoreFolio(phys, out var f) ? (nint)f.Handle : 0;

    [UnmanagedCallersOnly(EntryPoint = "kho_restore_phys")]
    public static void* RestorePhys(ulong phys, nuint size) => NativeState.Kho is { } k ? (k.TryRestorePhys(phys, size) ? k.DangerousPhysToVirt(phys) : null) : null;

    [UnmanagedCallersOnly(EntryPoint = "kho_add_subtree")]
    public static int AddSubtree(byte* name, void* blob, nuint size) => NativeState.Call(() =>
    {
        string n = NativeState.Utf8(name) ?? throw new KStateInvalidException("kho_add_subtree: name is NULL");
        if (blob == null && size != 0) throw new KStateInvalidException("kho_add_subtree: blob is NULL");
        if (size > int.MaxValue) throw new KStateInvalidException("kho_add_subtree: blob too large");
        NativeState.Machine.AddSubtree(n, new ReadOnlySpan<byte>(blob, (int)size));
    });

    [UnmanagedCallersOnly(EntryPoint = "kho_retrieve_subtree")]
    public static int RetrieveSubtree(byte* name, void** blob, nuint* size) => NativeState.Call(() =>
    {
        string n = NativeState.Utf8(name) ?? throw new KStateInvalidException("kho_retrieve_subtree: name is NULL");
        if (blob == null || size == null) throw new KStateInvalidException("kho_retrieve_subtree: NULL output pointer");
        var span = NativeState.Machine.RetrieveSubtree(n);
        *blob = Unsafe.AsPointer(ref MemoryMarshal.GetReference(span));
        *size = (nuint)span.Length;
    });

    [UnmanagedCallersOnly(EntryPoint = "kho_finalize")]
    public static int FinalizeHandover() => NativeState.Call(() => NativeState.Machine.FinalizeHandover());

    [UnmanagedCallersOnly(EntryPoint = "kho_abort")]
    public static int Abort() => NativeState.Call(() => NativeState.Machine.AbortHandover());

    private static Folio ToFolio(nint handle) =>
        handle == 0 ? throw new KStateInvalidException("NULL folio") : Folio.FromHandle((ulong)handle);
}
