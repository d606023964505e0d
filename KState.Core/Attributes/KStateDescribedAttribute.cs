namespace KState;

/// <summary>
/// Generates a <see cref="KStateDescription{T}"/> for a <c>partial</c> unmanaged struct, exposed as its static
/// <c>Description</c> property and built with <see cref="KStateDescriptionBuilder{T}"/> (no reflection: AOT- and
/// trimming-clean). Every instance field is described, in declaration order: a value as a base field, a member whose
/// type is itself <c>[KStateDescribed]</c> as a nested struct, a <see cref="KState.Folio"/> as a folio, an
/// <c>[InlineArray]</c> as an array of its element; <see cref="KStatePointerAttribute"/>,
/// <see cref="KStateKhoPointerAttribute"/>, <see cref="KStateFieldAttribute"/>, <see cref="KStateIgnoreAttribute"/> and
/// <see cref="KStateDeprecatedAttribute"/> say otherwise. Hooks are partial methods the struct implements:
/// <c>private partial int PreSave()</c> and <c>private partial int PostLoad(int versionId)</c> (non-zero refuses).
/// Mistakes are compile-time errors KSTATE001 to KSTATE013.
/// </summary>
/// <param name="name">The description's name, vendor-prefixed ("acme-nic/queue"): its state id is the id of the name.</param>
[AttributeUsage(AttributeTargets.Struct, AllowMultiple = false, Inherited = false)]
public sealed class KStateDescribedAttribute(string name) : Attribute
{
    /// <summary>The description's name.</summary>
    public string Name { get; } = name;

    /// <summary>The version written (version_id); 1 when not given.</summary>
    public int Version { get; set; } = 1;

    /// <summary>The oldest version read (min_version_id); when not given, <see cref="Version"/>.</summary>
    public int MinVersion { get; set; } = -1;
}

/// <summary>
/// A subsection of a <c>[KStateDescribed]</c> struct (VMState's subsection): the members marked
/// <c>[KStateField(Subsection = name)]</c> are saved in a record of their own, sent only when the struct's
/// <see cref="Needed"/> method says so, and skipped by a reader that does not know it.
/// </summary>
/// <param name="name">The subsection's name (its state id is the id of the name): unique among the struct's subsections.</param>
[AttributeUsage(AttributeTargets.Struct, AllowMultiple = true, Inherited = false)]
public sealed class KStateSubsectionAttribute(string name) : Attribute
{
    /// <summary>The subsection's name.</summary>
    public string Name { get; } = name;

    /// <summary>The subsection's version_id; 1 when not given.</summary>
    public int Version { get; set; } = 1;

    /// <summary>Its min_version_id; when not given, <see cref="Version"/>.</summary>
    public int MinVersion { get; set; } = -1;

    /// <summary>The name of an instance method of the struct, <c>bool M()</c>, that says whether to send the
    /// subsection (null: always).</summary>
    public string? Needed { get; set; }
}
