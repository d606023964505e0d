using System.Runtime.CompilerServices;
using KState.Core.Ids;

namespace KState;

/// <summary>Selects a member of <typeparamref name="T"/>: <c>(ref T x) => ref x.member</c>.</summary>
public delegate ref TField Member<T, TField>(ref T obj);

/// <summary>A hook on a typed object.</summary>
public delegate int TypedHook<T>(ref T obj);

/// <summary>A post_load hook on a typed object.</summary>
public delegate int TypedPostLoad<T>(ref T obj, int versionId);

/// <summary>A subsection's needed predicate on a typed object.</summary>
public delegate bool TypedNeeded<T>(ref T obj);

/// <summary>
/// Builds a <see cref="KStateDescription"/> for the unmanaged struct <typeparamref name="T"/> without hand-typed
/// numbers: each member is named by a lambda, <c>.Base((ref A a) => ref a.i)</c>, from which the builder computes
/// its offset and size, and takes its name. The member's type is checked against the kind: pointers must be
/// <see cref="Ptr{T}"/>, folios <see cref="Folio"/>, nested structs the size their description says. No reflection.
/// </summary>
public sealed unsafe class KStateDescriptionBuilder<T> where T : unmanaged
{
    private readonly string _name;
    private readonly ulong _id;
    private readonly int _version, _minVersion;
    private readonly List<KStateField> _fields = [];
    private readonly List<KStateDescription> _subsections = [];
    private NeededHook? _needed;
    private PreSaveHook? _preSave;
    private PostLoadHook? _postLoad;
    private InPlaceIntegrity _integrity;
    private readonly List<int> _defaulted = []; // preserved fields that take the description's integrity

    private KStateDescriptionBuilder(string name, ulong id, int version, int minVersion)
    {
        _name = name;
        _id = id;
        _version = version;
        _minVersion = minVersion;
    }

    /// <summary>Starts a description with an explicit 64-bit state id.</summary>
    public static KStateDescriptionBuilder<T> Create(string name, ulong id, int versionId, int minVersionId) => new(name, id, versionId, minVersionId);

    /// <summary>Starts a description whose state id is the id of its name (a vendor-prefixed name such as "acme-nic/queue").</summary>
    public static KStateDescriptionBuilder<T> Create(string name, int versionId, int minVersionId) => new(name, KStateId.FromName(name), versionId, minVersionId);

    /// <summary>A value member: any unmanaged type, an inline array, a struct saved as plain bytes.</summary>
    public KStateDescriptionBuilder<T> Base<TF>(Member<T, TF> member, int versionId = 0, [CallerArgumentExpression(nameof(member))] string expr = "") where TF : unmanaged
    {
        string name = NameOf(expr);
        if (typeof(TF) == typeof(Folio)) Fail(name, "is a Folio; use Folio()");
        if (typeof(TF).IsGenericType && typeof(TF).GetGenericTypeDefinition() == typeof(Ptr<>)) Fail(name, "is a pointer; use Pointer() or KhoPointer()");
        if (typeof(TF) == typeof(nint) || typeof(TF) == typeof(nuint)) Fail(name, "is a native pointer-sized value; describe it as Ptr<T> with Pointer() or KhoPointer()");
        return Add(new KStateField { Name = name, Offset = OffsetOf(member, name), Size = Unsafe.SizeOf<TF>(), Kind = FieldKind.Base, VersionId = versionId });
    }

    /// <summary>An array of values from <paramref name="first"/> (e.g. <c>ref a.items[0]</c> of an inline array): a fixed
    /// <paramref name="count"/>, or, with <paramref name="countMember"/>, as many as that earlier member says, at most <paramref name="count"/>.</summary>
    public KStateDescriptionBuilder<T> Array<TE>(Member<T, TE> first, int count, string? countMember = null, int versionId = 0,
        [CallerArgumentExpression(nameof(first))] string expr = "") where TE : unmanaged
    {
        string name = NameOf(expr);
        return Add(new KStateField { Name = name, Offset = OffsetOf(first, name), Size = Unsafe.SizeOf<TE>(), Kind = FieldKind.Base, Count = count, CountField = countMember, VersionId = versionId });
    }

    /// <summary>A pointer to <paramref name="count"/> values (or as many as <paramref name="countMember"/> says): the pointees are saved;
    /// restore writes into them, or allocates when the pointer is null.</summary>
    public KStateDescriptionBuilder<T> Pointer<TP>(Member<T, Ptr<TP>> member, int count = 1, string? countMember = null, int versionId = 0,
        [CallerArgumentExpression(nameof(member))] string expr = "") where TP : unmanaged
    {
        string name = NameOf(expr);
        return Add(new KStateField { Name = name, Offset = OffsetOf(member, name), Size = Unsafe.SizeOf<TP>(), Kind = FieldKind.Pointer, Count = count, CountField = countMember, VersionId = versionId });
    }

    /// <summary>A pointer into KHO memory: saved as phys, restored as an address in the new mapping.</summary>
    public KStateDescriptionBuilder<T> KhoPointer<TP>(Member<T, Ptr<TP>> member, int versionId = 0, [CallerArgumentExpression(nameof(member))] string expr = "") where TP : unmanaged
    {
        string name = NameOf(expr);
        return Add(new KStateField { Name = name, Offset = OffsetOf(member, name), Size = Unsafe.SizeOf<TP>(), Kind = FieldKind.KhoPointer, VersionId = versionId });
    }

    /// <summary>A KHO folio: preserved at save, restored through KHO.</summary>
    public KStateDescriptionBuilder<T> Folio(Member<T, Folio> member, int count = 1, string? countMember = null, int versionId = 0,
        [CallerArgumentExpression(nameof(member))] string expr = "")
    {
        string name = NameOf(expr);
        return Add(new KStateField { Name = name, Offset = OffsetOf(member, name), Size = 8, Kind = FieldKind.Folio, Count = count, CountField = countMember, VersionId = versionId });
    }

    /// <summary>A nested struct (or an array of them) with its own description and version.</summary>
    public KStateDescriptionBuilder<T> Struct<TN>(Member<T, TN> member, KStateDescription nested, int count = 1, string? countMember = null, int versionId = 0,
        [CallerArgumentExpression(nameof(member))] string expr = "") where TN : unmanaged
    {
        string name = NameOf(expr);
        ArgumentNullException.ThrowIfNull(nested);
        if (Unsafe.SizeOf<TN>() != nested.Size) Fail(name, $"is {Unsafe.SizeOf<TN>()} bytes but '{nested.Name}' describes {nested.Size}");
        return Add(new KStateField { Name = name, Offset = OffsetOf(member, name), Size = nested.Size, Kind = FieldKind.Struct, Nested = nested, Count = count, CountField = countMember, VersionId = versionId });
    }

    /// <summary>A pointer to one struct in preserved memory (a folio, <see cref="Kho.AllocPreserve"/> or vmalloc memory),
    /// handed over in place: saving preserves that memory if it is not yet and records where it is, copying nothing;
    /// restoring hands the same memory back through KHO, or converts it into new memory when the element layout
    /// changed. <paramref name="element"/> may hold only base values, deprecated fields, KHO pointers stored as phys
    /// and nested structs of those. <paramref name="integrity"/> null takes the description's
    /// <see cref="DefaultIntegrity"/>.</summary>
    public KStateDescriptionBuilder<T> PreservedStruct<TE>(Member<T, Ptr<TE>> member, KStateDescription element, InPlaceIntegrity? integrity = null,
        int versionId = 0, [CallerArgumentExpression(nameof(member))] string expr = "") where TE : unmanaged
    {
        string name = NameOf(expr);
        CheckElement<TE>(name, element);
        return AddInPlace(new KStateField { Name = name, Offset = OffsetOf(member, name), Size = Unsafe.SizeOf<TE>(), Kind = FieldKind.PreservedStruct, Nested = element, VersionId = versionId }, integrity);
    }

    /// <summary>A pointer to an array of structs in preserved memory, handed over in place as
    /// <see cref="PreservedStruct{TE}"/>; <paramref name="count"/> selects the unsigned integer member (1, 2, 4 or 8
    /// bytes) that holds the number of elements: saving reads it, restoring sets it.</summary>
    public KStateDescriptionBuilder<T> PreservedArray<TE, TC>(Member<T, Ptr<TE>> member, KStateDescription element, Member<T, TC> count,
        InPlaceIntegrity? integrity = null, int versionId = 0, [CallerArgumentExpression(nameof(member))] string expr = "")
        where TE : unmanaged where TC : unmanaged
    {
        string name = NameOf(expr);
        CheckElement<TE>(name, element);
        if (typeof(TC) != typeof(byte) && typeof(TC) != typeof(ushort) && typeof(TC) != typeof(uint) && typeof(TC) != typeof(ulong))
            Fail(name, $"takes its count from a {typeof(TC).Name}; the count member must be a byte, ushort, uint or ulong");
        return AddInPlace(new KStateField
        {
            Name = name, Offset = OffsetOf(member, name), Size = Unsafe.SizeOf<TE>(), Kind = FieldKind.PreservedArray, Nested = element, VersionId = versionId,
            CountOffset = OffsetOf(count, name + " (count)"), CountSize = Unsafe.SizeOf<TC>(),
        }, integrity);
    }

    /// <summary>How preserved struct and array fields added without an explicit integrity are checked (default:
    /// <see cref="InPlaceIntegrity.Checksum"/>).</summary>
    public KStateDescriptionBuilder<T> DefaultIntegrity(InPlaceIntegrity integrity)
    {
        _integrity = integrity;
        return this;
    }

    private void CheckElement<TE>(string name, KStateDescription element) where TE : unmanaged
    {
        ArgumentNullException.ThrowIfNull(element);
        if (Unsafe.SizeOf<TE>() < element.Size) Fail(name, $"points at {Unsafe.SizeOf<TE>()}-byte elements but '{element.Name}' describes {element.Size}");
    }

    private KStateDescriptionBuilder<T> AddInPlace(KStateField f, InPlaceIntegrity? integrity)
    {
        if (integrity is null) _defaulted.Add(_fields.Count);
        return Add(f with { Integrity = integrity ?? InPlaceIntegrity.Checksum });
    }

    /// <summary>A member saved and restored by callbacks.</summary>
    public KStateDescriptionBuilder<T> Custom<TF>(Member<T, TF> member, CustomSave save, CustomRestore restore, int versionId = 0,
        [CallerArgumentExpression(nameof(member))] string expr = "") where TF : unmanaged
    {
        string name = NameOf(expr);
        return Add(new KStateField { Name = name, Offset = OffsetOf(member, name), Size = Unsafe.SizeOf<TF>(), Kind = FieldKind.Custom, Save = save, Restore = restore, VersionId = versionId });
    }

    /// <summary>A member that no longer exists: <paramref name="size"/> bytes that records up to <paramref name="lastVersionId"/> carry and that restore skips.</summary>
    public KStateDescriptionBuilder<T> Deprecated(string name, int size, int lastVersionId, int count = 1) =>
        Add(new KStateField { Name = name, Size = size, Kind = FieldKind.Deprecated, VersionId = lastVersionId, Count = count });

    /// <summary>A subsection: another description of this same struct, sent when its needed predicate says so.</summary>
    public KStateDescriptionBuilder<T> Subsection(KStateDescription subsection)
    {
        _subsections.Add(subsection);
        return this;
    }

    /// <summary>For a description used as a subsection: send it only when this returns true.</summary>
    public KStateDescriptionBuilder<T> Needed(TypedNeeded<T> needed)
    {
        _needed = obj => needed(ref Unsafe.AsRef<T>(obj));
        return this;
    }

    /// <summary>Runs before save; non-zero aborts it.</summary>
    public KStateDescriptionBuilder<T> PreSave(TypedHook<T> hook)
    {
        _preSave = obj => hook(ref Unsafe.AsRef<T>(obj));
        return this;
    }

    /// <summary>Runs after restore with the record's version; non-zero fails it.</summary>
    public KStateDescriptionBuilder<T> PostLoad(TypedPostLoad<T> hook)
    {
        _postLoad = (obj, v) => hook(ref Unsafe.AsRef<T>(obj), v);
        return this;
    }

    /// <summary>Validates and compiles the description.</summary>
    /// <exception cref="KStateInvalidException">The description is invalid; the message names the member.</exception>
    public KStateDescription<T> Build()
    {
        var fields = _fields.ToArray();
        foreach (int i in _defaulted) fields[i] = fields[i] with { Integrity = _integrity };
        return KStateDescription.CreateTyped<T>(_name, _id, _version, _minVersion, fields, _subsections, _needed, _preSave, _postLoad);
    }

    private KStateDescriptionBuilder<T> Add(KStateField f)
    {
        _fields.Add(f);
        return this;
    }

    /// <summary>The member's offset, found by asking the selector for a reference into a default instance.</summary>
    private int OffsetOf<TF>(Member<T, TF> member, string name)
    {
        ArgumentNullException.ThrowIfNull(member);
        T probe = default;
        ref byte start = ref Unsafe.As<T, byte>(ref probe);
        ref byte field = ref Unsafe.As<TF, byte>(ref member(ref probe));
        nint offset = Unsafe.ByteOffset(ref start, ref field);
        if (offset < 0 || offset + Unsafe.SizeOf<TF>() > Unsafe.SizeOf<T>())
            Fail(name, $"is not inside {typeof(T).Name} (the selector must return a member of its argument)");
        return (int)offset;
    }

    /// <summary>"(ref A a) => ref a.inner.x[0]" gives "inner.x".</summary>
    private static string NameOf(string expr)
    {
        string s = expr;
        int arrow = s.LastIndexOf("=>", StringComparison.Ordinal);
        if (arrow >= 0) s = s[(arrow + 2)..];
        s = s.Trim();
        if (s.StartsWith("ref ", StringComparison.Ordinal)) s = s[4..].TrimStart();
        int dot = s.IndexOf('.');
        if (dot >= 0) s = s[(dot + 1)..];
        int bracket = s.IndexOf('[');
        if (bracket >= 0) s = s[..bracket];
        return s.Length == 0 ? expr : s;
    }

    [System.Diagnostics.CodeAnalysis.DoesNotReturn]
    private void Fail(string member, string what) => KStateDescription.Invalid(_name, $"member '{member}' {what}");
}
