namespace KState.Generators;

/// <summary>How a member is described: one builder call each.</summary>
internal enum MemberKind
{
    Base,       // .Base(member)
    Array,      // .Array(first element of an [InlineArray], length, count member)
    Pointer,    // .Pointer(Ptr<T> member, count, count member)
    KhoPointer, // .KhoPointer(Ptr<T> member)
    Folio,      // .Folio(Folio member or first element)
    FolioUlong, // .Folio(a ulong holding a folio handle, seen as a Folio)
    Struct,     // .Struct(member or first element, its type's Description)
    Deprecated, // .Deprecated(name, size of a static placeholder's type, last version)
}

/// <summary>One described member, as the builder call it becomes.</summary>
internal sealed record FieldModel(string Name, MemberKind Kind, string TypeName, bool IsArray, int Count, string? CountField,
    int Version, string? Subsection, string? NestedType);

/// <summary>A [KStateSubsection] of the struct.</summary>
internal sealed record SubsectionModel(string Name, int Version, int MinVersion, string? Needed);

/// <summary>A hook the struct implements as a partial method; <see cref="Declare"/>: emit its defining declaration
/// with these modifiers.</summary>
internal sealed record HookModel(string Modifiers, bool Declare);

/// <summary>A type that contains the struct (the generated partial reopens it).</summary>
internal sealed record ContainingType(string Keyword, string Name);

/// <summary>Everything the generator needs about one [KStateDescribed] struct: values only, so it caches.</summary>
internal sealed record StructModel(string? Namespace, EquatableArray<ContainingType> Containers, string Keyword, string TypeName, string FullName,
    string Name, int Version, int MinVersion, EquatableArray<FieldModel> Fields, EquatableArray<SubsectionModel> Subsections,
    HookModel? PreSave, HookModel? PostLoad, EquatableArray<DiagnosticInfo> Diagnostics, LocationInfo? Location);
