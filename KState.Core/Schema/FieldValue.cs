namespace KState.Inspection;

/// <summary>What a decoded field holds, as <see cref="FieldValue.Kind"/> tells.</summary>
public enum FieldValueKind
{
    /// <summary>One little-endian integer of 1, 2, 4 or 8 bytes (<see cref="FieldValue.Integer"/>; the schema does
    /// not say whether it is signed).</summary>
    Integer,

    /// <summary>Printable ASCII, NUL-padded (<see cref="FieldValue.Text"/>).</summary>
    Text,

    /// <summary>Bytes no schema explains further (<see cref="FieldValue.Bytes"/>).</summary>
    Bytes,

    /// <summary>A pointer to <see cref="FieldValue.Count"/> elements of <see cref="FieldValue.Size"/> bytes; NULL when
    /// the count is 0, else its bytes in <see cref="FieldValue.Bytes"/> (or its text).</summary>
    Pointer,

    /// <summary>Folios by phys and order (<see cref="FieldValue.Folios"/>; phys 0 = none).</summary>
    Folios,

    /// <summary>Phys addresses into KHO memory (<see cref="FieldValue.Phys"/>; 0 = none).</summary>
    Phys,

    /// <summary>One nested struct of version <see cref="FieldValue.Version"/>: its fields are the children.</summary>
    Struct,

    /// <summary>An array of nested structs: each child is one ("[i]").</summary>
    Structs,

    /// <summary>A subsection of version <see cref="FieldValue.Version"/>: its fields are the children (when its
    /// description is unknown, <see cref="FieldValue.StateId"/> and <see cref="FieldValue.Bytes"/> instead).</summary>
    Subsection,

    /// <summary>A custom field's bytes (<see cref="FieldValue.Bytes"/>).</summary>
    Custom,

    /// <summary>A deprecated field whose <see cref="FieldValue.Length"/> bytes were skipped.</summary>
    Deprecated,
}

/// <summary>A folio a field names: phys 0 is none.</summary>
public readonly record struct FolioValue(ulong Phys, int Order);

/// <summary>
/// A decoded field's value typed, for machine-readable output (<see cref="DecodedField.Value"/> is the same for
/// people). Only the members its <see cref="Kind"/> names are set.
/// </summary>
public sealed record FieldValue(FieldValueKind Kind)
{
    /// <summary>Largest pointee kept in <see cref="Bytes"/>; a larger one has only its <see cref="Length"/>.</summary>
    public const int MaxPointerBytes = 4096;

    /// <summary>The integer's raw little-endian value.</summary>
    public ulong Integer { get; init; }

    /// <summary>Bytes of one element (an integer's width, a pointer's element size).</summary>
    public int Size { get; init; }

    /// <summary>Elements of a pointer or a struct array.</summary>
    public int Count { get; init; }

    /// <summary>Text, for <see cref="FieldValueKind.Text"/> (and a pointer to text).</summary>
    public string? Text { get; init; }

    /// <summary>Bytes (a pointer's only when it has at most <see cref="MaxPointerBytes"/>).</summary>
    public byte[]? Bytes { get; init; }

    /// <summary>Total bytes (a pointer's blob, bytes skipped for a deprecated field).</summary>
    public int Length { get; init; }

    /// <summary>Folios, for <see cref="FieldValueKind.Folios"/>.</summary>
    public IReadOnlyList<FolioValue>? Folios { get; init; }

    /// <summary>Phys addresses, for <see cref="FieldValueKind.Phys"/>.</summary>
    public IReadOnlyList<ulong>? Phys { get; init; }

    /// <summary>A struct's or subsection's record version.</summary>
    public uint Version { get; init; }

    /// <summary>An unknown subsection's state id.</summary>
    public ulong StateId { get; init; }
}
