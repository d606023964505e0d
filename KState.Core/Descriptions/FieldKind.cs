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
}
