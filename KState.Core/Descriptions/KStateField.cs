namespace KState;

/// <summary>Saves a custom field: write whatever the field needs with the writer's puts.</summary>
public unsafe delegate void CustomSave(RecordWriter writer, byte* obj, KStateField field);

/// <summary>Restores a custom field from exactly the bytes its save wrote (the cursor is bounded to them).</summary>
public unsafe delegate void CustomRestore(ref RecordCursor cursor, byte* obj, KStateField field);

/// <summary>
/// One field of a description (the C ABI's <c>struct kstate_field</c>). Build descriptions with
/// <see cref="KStateDescriptionBuilder{T}"/>; <c>KStateDescription.Create</c> validates fields built by hand.
/// </summary>
public sealed record KStateField
{
    /// <summary>Member name (for errors, the schema and dumps).</summary>
    public required string Name { get; init; }

    /// <summary>Offset of the member in the struct (unused for <see cref="FieldKind.Deprecated"/>).</summary>
    public int Offset { get; init; }

    /// <summary>Size of one element: the value, the pointee, the nested struct; 8 for folios.</summary>
    public required int Size { get; init; }

    /// <summary>How the field is saved.</summary>
    public required FieldKind Kind { get; init; }

    /// <summary>First version that has the field (0 = always); for <see cref="FieldKind.Deprecated"/>: the last version that had it.</summary>
    public int VersionId { get; init; }

    /// <summary>Number of elements (fixed arrays), or the most elements when <see cref="CountField"/> is set; 1 for a single value.</summary>
    public int Count { get; init; } = 1;

    /// <summary>Name of an earlier base field (an unsigned integer of 1, 2, 4 or 8 bytes) that holds the element count.</summary>
    public string? CountField { get; init; }

    /// <summary>For <see cref="FieldKind.PreservedArray"/>: offset of the integer member (unsigned, 1, 2, 4 or 8 bytes, see
    /// <see cref="CountSize"/>) that holds the element count; saving reads it, restoring sets it.</summary>
    public int CountOffset { get; init; }

    /// <summary>For <see cref="FieldKind.PreservedArray"/>: size of the count member in bytes (1, 2, 4 or 8); 0 for other kinds.</summary>
    public int CountSize { get; init; }

    /// <summary>For <see cref="FieldKind.PreservedStruct"/> and <see cref="FieldKind.PreservedArray"/>: how the data is checked at restore.</summary>
    public InPlaceIntegrity Integrity { get; init; }

    /// <summary>The nested description, for <see cref="FieldKind.Struct"/>; the element description, for
    /// <see cref="FieldKind.PreservedStruct"/> and <see cref="FieldKind.PreservedArray"/>.</summary>
    public KStateDescription? Nested { get; init; }

    /// <summary>Save callback, for <see cref="FieldKind.Custom"/>.</summary>
    public CustomSave? Save { get; init; }

    /// <summary>Restore callback, for <see cref="FieldKind.Custom"/>.</summary>
    public CustomRestore? Restore { get; init; }

    /// <summary>Bytes the field occupies in the struct: one pointer for <see cref="FieldKind.Pointer"/> and the preserved kinds (to
    /// <see cref="Count"/> elements), <see cref="Count"/> 8-byte slots for folios and KHO pointers, else
    /// <see cref="Count"/> elements of <see cref="Size"/> bytes.</summary>
    public long Extent => Kind switch
    {
        FieldKind.Deprecated => 0,
        FieldKind.Pointer or FieldKind.PreservedStruct or FieldKind.PreservedArray => 8,
        FieldKind.KhoPointer or FieldKind.Folio => 8L * Count,
        _ => (long)Size * Count,
    };
}
