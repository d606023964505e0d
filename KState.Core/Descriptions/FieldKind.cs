namespace KState;

/// <summary>How a field is saved and restored. The values are the C ABI's KS_* constants.</summary>
public enum FieldKind
{
    /// <summary>End of a C field list (KS_END); never in a built description.</summary>
    End = 0,
    /// <summary>A value of any unmanaged type, a fixed buffer or an inline array: its bytes (KS_BASE_TYPE).</summary>
    Base = 1,
    /// <summary>A pointer to unmanaged values: the pointee's bytes; restore writes into the pointee, allocating when null (KS_POINTER).</summary>
    Pointer = 2,
    /// <summary>A KHO folio handle: preserved at save (unless already preserved), recorded by phys, restored through
    /// KHO (KS_FOLIO). A restore claims each folio once, so one object may not hold the same folio in two folio slots
    /// (two fields, two elements, a nested struct or a subsection): its save is refused (EINVAL). A folio shared by two
    /// objects is likewise claimed by the first one restored; the other's restore fails.</summary>
    Folio = 3,
    /// <summary>A nested struct with its own description and version (KS_STRUCT).</summary>
    Struct = 4,
    /// <summary>Saved and restored by callbacks with bounds-checked stream access (KS_CUSTOM).</summary>
    Custom = 5,
    /// <summary>No longer in the struct: never written; its bytes are skipped in records old enough (KS_DEPRECATED).</summary>
    Deprecated = 6,
    /// <summary>A pointer into KHO memory: stored as phys, translated into the new mapping (KS_KHO_POINTER).</summary>
    KhoPointer = 7,
    /// <summary>A pointer to one struct that already lives in preserved memory (a folio, <c>kho_alloc_preserve</c> or
    /// <c>kho_vmalloc</c> memory), handed over in place: saving records where it is and its element description,
    /// restoring hands the same memory back, converting only when the element layout changed (KS_PRESERVED_STRUCT).</summary>
    PreservedStruct = 8,
    /// <summary>A pointer to an array of structs in preserved memory, its element count in an integer member of the
    /// same struct; handed over in place as <see cref="PreservedStruct"/> (KS_PRESERVED_ARRAY).</summary>
    PreservedArray = 9,
}

/// <summary>How the contents of a <see cref="FieldKind.PreservedStruct"/> or <see cref="FieldKind.PreservedArray"/>
/// field are checked at restore (docs/FORMAT.md, "Preserved struct and array fields").</summary>
public enum InPlaceIntegrity
{
    /// <summary>An XXH3-64 checksum of the elements' bytes is computed at save and checked at restore (one read of the data).</summary>
    Checksum = 0,
    /// <summary>Only the metadata is checked (place, count, element size, layout, version): the data is trusted, and
    /// restoring costs the same whatever its size.</summary>
    Trusted = 1,
}
