using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Text;

namespace KState.Generators;

/// <summary>The generator's compile-time errors (AnalyzerReleases.Unshipped.md lists them).</summary>
internal static class Diagnostics
{
    private static DiagnosticDescriptor Error(string id, string title, string format) =>
        new(id, title, format, "KState", DiagnosticSeverity.Error, isEnabledByDefault: true);

    public static readonly DiagnosticDescriptor NotPartial = Error("KSTATE001", "A described struct must be partial",
        "'{0}' must be declared partial (and so must every type that contains it) for [KStateDescribed] to generate its description");

    public static readonly DiagnosticDescriptor KindMismatch = Error("KSTATE002", "The field kind does not fit the member's type",
        "Member '{0}': {1}");

    public static readonly DiagnosticDescriptor BadVersions = Error("KSTATE003", "Bad description versions",
        "'{0}': {1}");

    public static readonly DiagnosticDescriptor BadFieldVersion = Error("KSTATE004", "Bad member version",
        "Member '{0}': {1}");

    public static readonly DiagnosticDescriptor BadCount = Error("KSTATE005", "Bad element count",
        "Member '{0}': {1}");

    public static readonly DiagnosticDescriptor DuplicateName = Error("KSTATE006", "Duplicate description name",
        "{0}");

    public static readonly DiagnosticDescriptor Unsupported = Error("KSTATE007", "Unsupported struct or member",
        "'{0}': {1}");

    public static readonly DiagnosticDescriptor BadHook = Error("KSTATE008", "Bad hook",
        "'{0}': {1}");

    public static readonly DiagnosticDescriptor BadSubsection = Error("KSTATE009", "Bad subsection",
        "'{0}': {1}");

    public static readonly DiagnosticDescriptor InvalidName = Error("KSTATE010", "Invalid description name",
        "'{0}': {1}");

    public static readonly DiagnosticDescriptor DescriptionTaken = Error("KSTATE011", "The Description member is taken",
        "'{0}' already has a member named Description; [KStateDescribed] generates one");

    public static DiagnosticDescriptor ById(string id) => id switch
    {
        "KSTATE001" => NotPartial,
        "KSTATE002" => KindMismatch,
        "KSTATE003" => BadVersions,
        "KSTATE004" => BadFieldVersion,
        "KSTATE005" => BadCount,
        "KSTATE006" => DuplicateName,
        "KSTATE007" => Unsupported,
        "KSTATE008" => BadHook,
        "KSTATE009" => BadSubsection,
        "KSTATE010" => InvalidName,
        _ => DescriptionTaken,
    };
}

/// <summary>A location without the syntax tree behind it (a model must not hold compilation objects).</summary>
internal sealed record LocationInfo(string Path, TextSpan Span, LinePositionSpan Lines)
{
    public static LocationInfo? From(Location? location) =>
        location?.SourceTree is null ? null : new(location.SourceTree.FilePath, location.SourceSpan, location.GetLineSpan().Span);

    public Location ToLocation() => Location.Create(Path, Span, Lines);
}

/// <summary>A diagnostic to report, kept as values.</summary>
internal sealed record DiagnosticInfo(string Id, LocationInfo? Location, string Arg0, string Arg1)
{
    public Diagnostic ToDiagnostic() =>
        Diagnostic.Create(Diagnostics.ById(Id), Location?.ToLocation() ?? Microsoft.CodeAnalysis.Location.None,
            Arg1.Length == 0 ? [Arg0] : [Arg0, Arg1]);
}
