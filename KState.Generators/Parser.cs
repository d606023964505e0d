using System.Collections.Generic;
using System.Linq;
using System.Text;
using System.Threading;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;

namespace KState.Generators;

/// <summary>Reads a [KStateDescribed] struct into a <see cref="StructModel"/>, checking what the builder would refuse
/// at run time (and what it could not see) so that the mistake is a compile-time error at the member.</summary>
internal sealed class Parser
{
    private const string Ns = "KState.";
    private const int MaxNameBytes = 255;          // NameTable.MaxNameBytes
    private const int MaxReadableVersions = 4096;  // KStateDescription.MaxReadableVersions

    private static readonly SymbolDisplayFormat FullyQualified = SymbolDisplayFormat.FullyQualifiedFormat
        .WithMiscellaneousOptions(SymbolDisplayMiscellaneousOptions.EscapeKeywordIdentifiers | SymbolDisplayMiscellaneousOptions.UseSpecialTypes);

    private readonly List<DiagnosticInfo> _diagnostics = [];
    private readonly INamedTypeSymbol _type;

    private Parser(INamedTypeSymbol type) => _type = type;

    public static StructModel? Parse(GeneratorAttributeSyntaxContext context, CancellationToken ct)
    {
        if (context.TargetSymbol is not INamedTypeSymbol { TypeKind: TypeKind.Struct } type || context.TargetNode is not TypeDeclarationSyntax node) return null;
        return new Parser(type).Read(node, context.Attributes[0], ct);
    }

    private StructModel Read(TypeDeclarationSyntax node, AttributeData described, CancellationToken ct)
    {
        var location = _type.Locations.FirstOrDefault();
        CheckShape(node, location);
        string name = described.ConstructorArguments.Length > 0 ? described.ConstructorArguments[0].Value as string ?? "" : "";
        var (version, minVersion) = Versions(described);
        CheckName(name, location);
        CheckVersions(_type.Name, version, minVersion, location);
        if (_type.GetMembers("Description").Any(m => !m.IsImplicitlyDeclared))
            Report(Diagnostics.DescriptionTaken, location, _type.Name);

        var subsections = ReadSubsections(name);
        var fields = ReadFields(version, subsections, ct);
        foreach (var s in subsections)
            if (!fields.Any(f => f.Subsection == s.Name))
                Report(Diagnostics.BadSubsection, location, _type.Name, $"subsection '{s.Name}' has no member (mark them [KStateField(Subsection = \"{s.Name}\")])");

        var containers = new List<ContainingType>();
        for (var c = _type.ContainingType; c is not null; c = c.ContainingType)
            containers.Insert(0, new ContainingType(Keyword(c), c.Name));
        return new StructModel(
            _type.ContainingNamespace.IsGlobalNamespace ? null : _type.ContainingNamespace.ToDisplayString(),
            containers, Keyword(_type), _type.Name, _type.ToDisplayString(FullyQualified), name, version, minVersion,
            fields, subsections, Hook("PreSave", 0), Hook("PostLoad", 1), _diagnostics, LocationInfo.From(location));
    }

    private void CheckShape(TypeDeclarationSyntax node, Location? location)
    {
        bool partial = node.Modifiers.Any(SyntaxKind.PartialKeyword);
        for (var parent = node.Parent as TypeDeclarationSyntax; parent is not null; parent = parent.Parent as TypeDeclarationSyntax)
            partial &= parent.Modifiers.Any(SyntaxKind.PartialKeyword);
        if (!partial) Report(Diagnostics.NotPartial, location, _type.Name);
        for (var t = _type; t is not null; t = t.ContainingType)
            if (t.IsGenericType) Report(Diagnostics.Unsupported, location, _type.Name, "a generic struct, or a struct inside a generic type, cannot be described (a description is of one closed type)");
        if (_type.IsReadOnly) Report(Diagnostics.Unsupported, location, _type.Name, "a readonly struct cannot be restored into; remove readonly");
        if (_type.IsRefLikeType) Report(Diagnostics.Unsupported, location, _type.Name, "a ref struct cannot be described (it is not unmanaged)");
    }

    private void CheckName(string name, Location? location)
    {
        if (name.Length == 0) Report(Diagnostics.InvalidName, location, _type.Name, "the description needs a name, vendor-prefixed (\"acme-nic/queue\")");
        else if (Encoding.UTF8.GetByteCount(name) > MaxNameBytes) Report(Diagnostics.InvalidName, location, _type.Name, $"the name '{name}' has more than {MaxNameBytes} UTF-8 bytes");
    }

    private void CheckVersions(string what, int version, int minVersion, Location? location)
    {
        if (version < 0) Report(Diagnostics.BadVersions, location, what, $"Version {version} is negative");
        else if (minVersion < 0) Report(Diagnostics.BadVersions, location, what, $"MinVersion {minVersion} is negative");
        else if (minVersion > version) Report(Diagnostics.BadVersions, location, what, $"MinVersion {minVersion} is above Version {version}: no record could be read");
        else if ((long)version - minVersion > MaxReadableVersions) Report(Diagnostics.BadVersions, location, what, $"more than {MaxReadableVersions} readable versions (Version - MinVersion)");
    }

    /// <summary>Version (1 when not given) and MinVersion (Version when not given).</summary>
    private static (int Version, int MinVersion) Versions(AttributeData a)
    {
        int version = Named(a, "Version") is int v ? v : 1;
        return (version, Named(a, "MinVersion") is int m ? m : version);
    }

    private static object? Named(AttributeData a, string name)
    {
        foreach (var kv in a.NamedArguments)
            if (kv.Key == name) return kv.Value.Value;
        return null;
    }

    private List<SubsectionModel> ReadSubsections(string mainName)
    {
        var list = new List<SubsectionModel>();
        foreach (var a in _type.GetAttributes())
        {
            if (a.AttributeClass?.ToDisplayString() != Ns + "KStateSubsectionAttribute") continue;
            var location = a.ApplicationSyntaxReference?.GetSyntax().GetLocation();
            string name = a.ConstructorArguments.Length > 0 ? a.ConstructorArguments[0].Value as string ?? "" : "";
            var (version, minVersion) = Versions(a);
            string? needed = Named(a, "Needed") as string;
            if (name.Length == 0) Report(Diagnostics.BadSubsection, location, _type.Name, "a subsection needs a name");
            else if (name == mainName || list.Any(s => s.Name == name))
                Report(Diagnostics.DuplicateName, location, $"'{_type.Name}': the subsection name '{name}' is used twice (by the struct or another subsection)");
            CheckVersions($"{_type.Name} subsection '{name}'", version, minVersion, location);
            if (needed is not null) CheckNeeded(needed, location);
            list.Add(new SubsectionModel(name, version, minVersion, needed));
        }
        return list;
    }

    private void CheckNeeded(string method, Location? location)
    {
        var candidates = _type.GetMembers(method).OfType<IMethodSymbol>().ToList();
        if (!candidates.Any(m => !m.IsStatic && m.Parameters.Length == 0 && m.ReturnType.SpecialType == SpecialType.System_Boolean))
            Report(Diagnostics.BadHook, location, _type.Name, $"the subsection's Needed method '{method}' must be an instance method 'bool {method}()' of the struct");
    }

    private List<FieldModel> ReadFields(int structVersion, List<SubsectionModel> subsections, CancellationToken ct)
    {
        var fields = new List<FieldModel>();
        foreach (var member in _type.GetMembers())
        {
            ct.ThrowIfCancellationRequested();
            if (member is not IFieldSymbol f) continue;
            var location = f.Locations.FirstOrDefault() ?? (f.AssociatedSymbol?.Locations.FirstOrDefault());
            bool deprecated = Has(f, "KStateDeprecatedAttribute");
            if (f.IsStatic || f.IsConst)
            {
                if (deprecated && (f.IsConst || f.IsReadOnly)) Report(Diagnostics.Unsupported, location, f.Name, "a [KStateDeprecated] placeholder must be a static field that is neither const nor readonly");
                else if (deprecated) ReadDeprecated(f, structVersion, subsections, fields, location);
                continue;
            }
            if (f.AssociatedSymbol is IPropertySymbol p)
            {
                Report(Diagnostics.Unsupported, p.Locations.FirstOrDefault(), p.Name, "an auto-property's backing field cannot be described; make it a field");
                continue;
            }
            if (!f.Type.IsUnmanagedType)
            {
                Report(Diagnostics.Unsupported, location, f.Name, $"{f.Type.ToDisplayString()} is not an unmanaged type; a described struct holds only unmanaged values");
                continue;
            }
            if (Has(f, "KStateIgnoreAttribute")) continue;
            if (deprecated)
            {
                Report(Diagnostics.Unsupported, location, f.Name, "a [KStateDeprecated] member must be static: it marks where a member was, with no storage");
                continue;
            }
            if (f.IsReadOnly)
            {
                Report(Diagnostics.Unsupported, location, f.Name, "a readonly field cannot be restored into; remove readonly or mark it [KStateIgnore]");
                continue;
            }
            if (f.IsFixedSizeBuffer)
            {
                Report(Diagnostics.Unsupported, location, f.Name, "fixed buffers are not supported; use an [InlineArray] struct");
                continue;
            }
            var model = ReadField(f, location);
            if (model is null) continue;
            model = ApplyFieldAttribute(f, model, structVersion, subsections, fields, location);
            if (model is not null) fields.Add(model);
        }
        return fields;
    }

    private FieldModel? ReadField(IFieldSymbol f, Location? location)
    {
        var type = f.Type;
        bool isArray = InlineArray(type, out var element, out int length);
        var item = isArray ? element! : type;
        string[] kinds = [.. new[] { "KStatePointerAttribute", "KStateKhoPointerAttribute", "KStateFolioAttribute" }.Where(k => Has(f, k))];
        if (kinds.Length > 1)
        {
            Report(Diagnostics.KindMismatch, location, f.Name, $"it has {string.Join(" and ", kinds.Select(k => "[" + k.Replace("Attribute", "") + "]"))}; a member has one kind");
            return null;
        }
        string? kind = kinds.FirstOrDefault();
        string typeName = type.ToDisplayString(FullyQualified);
        bool isPtr = IsPtr(item, out var pointee);
        switch (kind)
        {
            case "KStatePointerAttribute" or "KStateKhoPointerAttribute":
                string attr = kind.Replace("Attribute", "");
                if (isArray || !isPtr)
                {
                    Report(Diagnostics.KindMismatch, location, f.Name, $"[{attr}] needs a KState.Ptr<T> member, not {type.ToDisplayString()}");
                    return null;
                }
                return new FieldModel(f.Name, kind == "KStatePointerAttribute" ? MemberKind.Pointer : MemberKind.KhoPointer,
                    pointee!.ToDisplayString(FullyQualified), false, 1, null, 0, null, null);
            case "KStateFolioAttribute":
                if (IsFolio(item)) return new FieldModel(f.Name, MemberKind.Folio, typeName, isArray, isArray ? length : 1, null, 0, null, null);
                if (item.SpecialType == SpecialType.System_UInt64) return new FieldModel(f.Name, MemberKind.FolioUlong, typeName, isArray, isArray ? length : 1, null, 0, null, null);
                Report(Diagnostics.KindMismatch, location, f.Name, $"[KStateFolio] needs a KState.Folio or ulong member (or an [InlineArray] of them), not {type.ToDisplayString()}");
                return null;
        }
        if (isPtr)
        {
            Report(Diagnostics.KindMismatch, location, f.Name, "a KState.Ptr<T> member needs [KStatePointer] (its pointees are saved) or [KStateKhoPointer] (saved as phys)");
            return null;
        }
        if (item.SpecialType is SpecialType.System_IntPtr or SpecialType.System_UIntPtr || item.TypeKind is TypeKind.Pointer or TypeKind.FunctionPointer)
        {
            Report(Diagnostics.KindMismatch, location, f.Name, $"{item.ToDisplayString()} is an address, meaningless in the next generation; make it a KState.Ptr<T> with [KStatePointer] or [KStateKhoPointer]");
            return null;
        }
        if (IsFolio(item)) return new FieldModel(f.Name, MemberKind.Folio, typeName, isArray, isArray ? length : 1, null, 0, null, null);
        if (item is INamedTypeSymbol named && named.GetAttributes().Any(a => a.AttributeClass?.ToDisplayString() == Ns + "KStateDescribedAttribute"))
            return new FieldModel(f.Name, MemberKind.Struct, typeName, isArray, isArray ? length : 1, null, 0, null, named.ToDisplayString(FullyQualified));
        return new FieldModel(f.Name, isArray ? MemberKind.Array : MemberKind.Base, typeName, isArray, isArray ? length : 1, null, 0, null, null);
    }

    /// <summary>Applies [KStateField] (version, count, count member, subsection) and checks them against the rest.</summary>
    private FieldModel? ApplyFieldAttribute(IFieldSymbol f, FieldModel model, int structVersion, List<SubsectionModel> subsections,
        List<FieldModel> earlier, Location? location)
    {
        var a = Attribute(f, "KStateFieldAttribute");
        if (a is null) return model;
        int version = Named(a, "Version") is int v ? v : 0;
        string? countField = Named(a, "CountField") as string;
        int? count = Named(a, "Count") as int?;
        string? subsection = Named(a, "Subsection") as string;
        int limit = structVersion;
        if (subsection is not null)
        {
            var s = subsections.FirstOrDefault(x => x.Name == subsection);
            if (s is null)
            {
                Report(Diagnostics.BadSubsection, location, f.Name, $"no [KStateSubsection(\"{subsection}\")] on the struct");
                return null;
            }
            limit = s.Version;
        }
        if (version < 0) Report(Diagnostics.BadFieldVersion, location, f.Name, $"Version {version} is negative");
        else if (version > limit) Report(Diagnostics.BadFieldVersion, location, f.Name, $"Version {version} is above the {(subsection is null ? "struct" : "subsection")}'s Version {limit}");
        if (count is int n)
        {
            if (model.Kind != MemberKind.Pointer) Report(Diagnostics.BadCount, location, f.Name, "Count applies to [KStatePointer] members only (an [InlineArray]'s length is its count)");
            else if (n < 1) Report(Diagnostics.BadCount, location, f.Name, $"Count {n} must be at least 1");
        }
        if (countField is not null)
        {
            if (!model.IsArray && model.Kind != MemberKind.Pointer)
                Report(Diagnostics.BadCount, location, f.Name, "CountField applies to [InlineArray] and [KStatePointer] members");
            else CheckCountField(f, countField, version, subsection, earlier, location);
        }
        return model with
        {
            Version = version,
            CountField = countField,
            Count = model.Kind == MemberKind.Pointer ? count ?? 1 : model.Count,
            Subsection = subsection,
        };
    }

    private void CheckCountField(IFieldSymbol f, string countField, int version, string? subsection, List<FieldModel> earlier, Location? location)
    {
        var target = _type.GetMembers(countField).OfType<IFieldSymbol>().FirstOrDefault(x => !x.IsStatic);
        if (target is null)
        {
            Report(Diagnostics.BadCount, location, f.Name, $"the count member '{countField}' is not an instance field of the struct");
            return;
        }
        if (target.Type.SpecialType is not (SpecialType.System_Byte or SpecialType.System_SByte or SpecialType.System_Int16 or SpecialType.System_UInt16
            or SpecialType.System_Int32 or SpecialType.System_UInt32 or SpecialType.System_Int64 or SpecialType.System_UInt64))
        {
            Report(Diagnostics.BadCount, location, f.Name, $"the count member '{countField}' is {target.Type.ToDisplayString()}, not an integer");
            return;
        }
        var described = earlier.FirstOrDefault(x => x.Name == countField);
        if (described is null || described.Kind != MemberKind.Base)
            Report(Diagnostics.BadCount, location, f.Name, $"the count member '{countField}' must be a described member declared before it");
        else if (described.Subsection != subsection)
            Report(Diagnostics.BadCount, location, f.Name, $"the count member '{countField}' must be saved in the same record (the same subsection)");
        else if (described.Version > version)
            Report(Diagnostics.BadCount, location, f.Name, $"the count member '{countField}' appears in version {described.Version}, after the member's {version}");
    }

    private void ReadDeprecated(IFieldSymbol f, int structVersion, List<SubsectionModel> subsections, List<FieldModel> fields, Location? location)
    {
        var a = Attribute(f, "KStateDeprecatedAttribute")!;
        int last = Named(a, "LastVersion") is int l ? l : 0;
        var fa = Attribute(f, "KStateFieldAttribute");
        string? subsection = fa is null ? null : Named(fa, "Subsection") as string;
        int limit = structVersion;
        if (subsection is not null)
        {
            var s = subsections.FirstOrDefault(x => x.Name == subsection);
            if (s is null)
            {
                Report(Diagnostics.BadSubsection, location, f.Name, $"no [KStateSubsection(\"{subsection}\")] on the struct");
                return;
            }
            limit = s.Version;
        }
        if (!f.Type.IsUnmanagedType)
        {
            Report(Diagnostics.Unsupported, location, f.Name, $"{f.Type.ToDisplayString()} is not an unmanaged type");
            return;
        }
        if (last < 1 || last >= limit)
            Report(Diagnostics.BadFieldVersion, location, f.Name, $"a deprecated member's LastVersion ({last}) must be at least 1 and below the Version ({limit}) that dropped it");
        fields.Add(new FieldModel(f.Name, MemberKind.Deprecated, f.Type.ToDisplayString(FullyQualified), false, 1, null, last, subsection, null));
    }

    /// <summary>A hook the struct implements: <c>partial int PreSave()</c> (arity 0) or <c>partial int PostLoad(int)</c> (arity 1).</summary>
    private HookModel? Hook(string name, int arity)
    {
        var methods = _type.GetMembers(name).OfType<IMethodSymbol>().ToList();
        if (methods.Count == 0) return null;
        string shape = arity == 0 ? "partial int PreSave()" : "partial int PostLoad(int versionId)";
        var m = methods[0];
        var location = m.Locations.FirstOrDefault();
        if (methods.Count > 1 || m.IsStatic || m.ReturnType.SpecialType != SpecialType.System_Int32 || m.Parameters.Length != arity
            || (arity == 1 && m.Parameters[0].Type.SpecialType != SpecialType.System_Int32) || m.IsGenericMethod
            || m.Parameters.Any(p => p.RefKind != RefKind.None))
        {
            Report(Diagnostics.BadHook, location, _type.Name, $"the hook '{name}' must be one instance method '{shape}'");
            return null;
        }
        if (m.PartialDefinitionPart is not null || m.IsPartialDefinition) return new HookModel("", Declare: false); // both parts written by hand
        var syntax = m.DeclaringSyntaxReferences.Select(r => r.GetSyntax()).OfType<MethodDeclarationSyntax>().FirstOrDefault();
        if (syntax is null || !syntax.Modifiers.Any(SyntaxKind.PartialKeyword))
        {
            Report(Diagnostics.BadHook, location, _type.Name, $"the hook '{name}' must be declared partial ('private {shape}'); the generator declares it");
            return null;
        }
        string modifiers = string.Join(" ", syntax.Modifiers.Where(t => !t.IsKind(SyntaxKind.UnsafeKeyword)).Select(t => t.Text));
        return new HookModel(modifiers, Declare: true);
    }

    private static bool InlineArray(ITypeSymbol type, out ITypeSymbol? element, out int length)
    {
        element = null;
        length = 0;
        var a = type.GetAttributes().FirstOrDefault(x => x.AttributeClass?.ToDisplayString() == "System.Runtime.CompilerServices.InlineArrayAttribute");
        if (a is null || a.ConstructorArguments.Length != 1 || a.ConstructorArguments[0].Value is not int n) return false;
        element = type.GetMembers().OfType<IFieldSymbol>().FirstOrDefault(x => !x.IsStatic)?.Type;
        length = n;
        return element is not null;
    }

    private static bool IsPtr(ITypeSymbol type, out ITypeSymbol? pointee)
    {
        pointee = null;
        if (type is INamedTypeSymbol { IsGenericType: true } n && n.ConstructedFrom.ToDisplayString() == Ns + "Ptr<T>")
        {
            pointee = n.TypeArguments[0];
            return true;
        }
        return false;
    }

    private static bool IsFolio(ITypeSymbol type) => type.ToDisplayString() == Ns + "Folio";

    private static bool Has(ISymbol s, string attribute) => Attribute(s, attribute) is not null;

    private static AttributeData? Attribute(ISymbol s, string attribute) =>
        s.GetAttributes().FirstOrDefault(a => a.AttributeClass?.ToDisplayString() == Ns + attribute);

    private static string Keyword(INamedTypeSymbol t) => t switch
    {
        { IsRecord: true, TypeKind: TypeKind.Struct } => "record struct",
        { IsRecord: true } => "record",
        { TypeKind: TypeKind.Struct } => "struct",
        { TypeKind: TypeKind.Interface } => "interface",
        _ => "class",
    };

    private void Report(DiagnosticDescriptor d, Location? location, string arg0, string arg1 = "") =>
        _diagnostics.Add(new DiagnosticInfo(d.Id, LocationInfo.From(location), arg0, arg1));
}
