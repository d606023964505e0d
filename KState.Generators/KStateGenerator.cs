using System.Collections.Generic;
using System.Linq;
using Microsoft.CodeAnalysis;

namespace KState.Generators;

/// <summary>
/// Generates <c>Description</c> (a <c>KStateDescription&lt;T&gt;</c> built with the public builder) for every partial
/// struct marked <c>[KStateDescribed]</c>, and reports what would make it invalid as compile-time errors.
/// </summary>
[Generator(LanguageNames.CSharp)]
public sealed class KStateGenerator : IIncrementalGenerator
{
    /// <inheritdoc/>
    public void Initialize(IncrementalGeneratorInitializationContext context)
    {
        var structs = context.SyntaxProvider.ForAttributeWithMetadataName(
                "KState.KStateDescribedAttribute",
                static (node, _) => node is Microsoft.CodeAnalysis.CSharp.Syntax.StructDeclarationSyntax or Microsoft.CodeAnalysis.CSharp.Syntax.RecordDeclarationSyntax,
                static (ctx, ct) => Parser.Parse(ctx, ct))
            .Where(static m => m is not null)
            .Select(static (m, _) => m!);

        context.RegisterSourceOutput(structs, static (spc, m) =>
        {
            foreach (var d in m.Diagnostics) spc.ReportDiagnostic(d.ToDiagnostic());
            bool valid = m.Diagnostics.Count == 0;
            if (valid || m.PreSave is { Declare: true } || m.PostLoad is { Declare: true }) spc.AddSource(HintName(m), Emitter.Emit(m, valid));
        });

        // Two structs with one description name would collide in a stream (same state id): one error per extra one.
        context.RegisterSourceOutput(structs.Select(static (m, _) => (m.Name, FullName: m.FullName.Replace("global::", ""), m.Location)).Collect(), static (spc, all) =>
        {
            var seen = new Dictionary<string, string>();
            foreach (var (name, fullName, location) in all.OrderBy(x => x.FullName, System.StringComparer.Ordinal))
            {
                if (name.Length == 0) continue;
                if (seen.TryGetValue(name, out var first))
                    spc.ReportDiagnostic(new DiagnosticInfo(Diagnostics.DuplicateName.Id, location, $"'{fullName}' and '{first}' are both described as '{name}'; a description name (and so its state id) names one struct", "").ToDiagnostic());
                else seen[name] = fullName;
            }
        });
    }

    private static string HintName(StructModel m) =>
        m.FullName.Replace("global::", "").Replace('<', '[').Replace('>', ']') + ".KState.g.cs";
}
