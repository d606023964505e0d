using System.Collections.Immutable;
using System.Text;
using KState.Generators;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Testing;
using Microsoft.CodeAnalysis.Testing;
using Microsoft.CodeAnalysis.Text;

namespace KState.Tests.Generators;

/// <summary>
/// Runs <see cref="KStateGenerator"/> on a source with Microsoft.CodeAnalysis.Testing (its framework-neutral
/// <see cref="DefaultVerifier"/> throws, which fails the NUnit test). The compilation references this runtime's own
/// assemblies and KState's, so nothing is downloaded.
/// </summary>
internal sealed class GeneratorTest : CSharpSourceGeneratorTest<KStateGenerator, DefaultVerifier>
{
    private static readonly ImmutableArray<MetadataReference> References = LoadReferences();

    public GeneratorTest(string source)
    {
        TestCode = source;
        ReferenceAssemblies = new ReferenceAssemblies("net10.0"); // no reference package: the references below
        TestState.AdditionalReferences.AddRange(References);
    }

    /// <summary>Expects one generated file with this text.</summary>
    public GeneratorTest Generates(string hintName, string text)
    {
        TestState.GeneratedSources.Add((typeof(KStateGenerator), hintName, SourceText.From(text, Encoding.UTF8)));
        return this;
    }

    /// <summary>Expects diagnostics only (the generator emits nothing for a struct it reports).</summary>
    public GeneratorTest Reports(params DiagnosticResult[] diagnostics)
    {
        ExpectedDiagnostics.AddRange(diagnostics);
        return this;
    }

    protected override ParseOptions CreateParseOptions() =>
        ((CSharpParseOptions)base.CreateParseOptions()).WithLanguageVersion(LanguageVersion.Latest);

    /// <summary>False: the source (and what is generated for it) must compile without unsafe code.</summary>
    public bool AllowUnsafe { get; init; } = true;

    protected override CompilationOptions CreateCompilationOptions() =>
        ((CSharpCompilationOptions)base.CreateCompilationOptions()).WithAllowUnsafe(AllowUnsafe).WithNullableContextOptions(NullableContextOptions.Enable);

    private static ImmutableArray<MetadataReference> LoadReferences()
    {
        string runtime = Path.GetDirectoryName(typeof(object).Assembly.Location)!;
        var paths = ((string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!).Split(Path.PathSeparator)
            .Where(p => Path.GetDirectoryName(p) == runtime && Path.GetFileName(p).StartsWith("System", StringComparison.Ordinal) || Path.GetFileName(p) is "mscorlib.dll" or "netstandard.dll")
            .Append(typeof(KStateDescription).Assembly.Location)
            .Append(typeof(Kho).Assembly.Location);
        return [.. paths.Distinct().Select(p => (MetadataReference)MetadataReference.CreateFromFile(p))];
    }
}
