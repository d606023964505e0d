namespace KState;

/// <summary>How a member of a <c>[KStateDescribed]</c> struct is described: its version, its count, its subsection.</summary>
[AttributeUsage(AttributeTargets.Field, AllowMultiple = false, Inherited = false)]
public sealed class KStateFieldAttribute : Attribute
{
    /// <summary>The first version that has the member (0, the default: every version).</summary>
    public int Version { get; set; }

    /// <summary>For an <c>[InlineArray]</c> or a <c>[KStatePointer]</c> member: the name of an earlier integer member
    /// that holds how many elements are used (at most the array's length, or <see cref="Count"/>).</summary>
    public string? CountField { get; set; }

    /// <summary>For a <c>[KStatePointer]</c> member: how many values it points to (1, the default), or the most with
    /// <see cref="CountField"/>.</summary>
    public int Count { get; set; } = 1;

    /// <summary>The name of the <c>[KStateSubsection]</c> the member is saved in (null: the struct's own record).</summary>
    public string? Subsection { get; set; }
}

/// <summary>A <see cref="Ptr{T}"/> member whose pointees are saved (<see cref="FieldKind.Pointer"/>); restore writes
/// into them, or allocates when the pointer is null.</summary>
[AttributeUsage(AttributeTargets.Field, AllowMultiple = false, Inherited = false)]
public sealed class KStatePointerAttribute : Attribute;

/// <summary>A <see cref="Ptr{T}"/> member into KHO memory, saved as phys (<see cref="FieldKind.KhoPointer"/>).</summary>
[AttributeUsage(AttributeTargets.Field, AllowMultiple = false, Inherited = false)]
public sealed class KStateKhoPointerAttribute : Attribute;

/// <summary>A KHO folio (<see cref="FieldKind.Folio"/>): a <see cref="Folio"/> member (which is a folio without the
/// attribute too), a <c>ulong</c> holding a folio handle, or an <c>[InlineArray]</c> of either.</summary>
[AttributeUsage(AttributeTargets.Field, AllowMultiple = false, Inherited = false)]
public sealed class KStateFolioAttribute : Attribute;

/// <summary>A member that is not saved (a cache, a lock): restore leaves it as it is.</summary>
[AttributeUsage(AttributeTargets.Field, AllowMultiple = false, Inherited = false)]
public sealed class KStateIgnoreAttribute : Attribute;

/// <summary>
/// A member that no longer exists (<see cref="FieldKind.Deprecated"/>), declared as a <c>static</c> field where the
/// member was, of the member's type: no storage in the struct; records up to <see cref="LastVersion"/> carry its bytes
/// at that place in the field order, and restore skips them. <c>[KStateDeprecated(LastVersion = 1)] static uint oldTail;</c>
/// </summary>
[AttributeUsage(AttributeTargets.Field, AllowMultiple = false, Inherited = false)]
public sealed class KStateDeprecatedAttribute : Attribute
{
    /// <summary>The last version that had the member: at least 1, below the struct's version.</summary>
    public int LastVersion { get; set; }
}
