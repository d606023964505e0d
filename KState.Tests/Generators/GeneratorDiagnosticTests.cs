using Microsoft.CodeAnalysis.Testing;

namespace KState.Tests.Generators;

/// <summary>Each compile-time error of the generator, at the member or attribute it is about
/// ({|ID:text|} marks where it must be reported; {|#0:text|} with arguments checks the message too).</summary>
public class GeneratorDiagnosticTests
{
    private const string Usings = "using KState;\nusing System.Runtime.CompilerServices;\n\nnamespace Acme;\n\n";

    /// <summary>Checks the diagnostics only (what a valid struct generates is GeneratorOutputTests' business).</summary>
    private static Task Check(string body, params DiagnosticResult[] expected)
    {
        var test = new GeneratorTest(Usings + body).Reports(expected);
        test.TestBehaviors |= TestBehaviors.SkipGeneratedSourcesCheck;
        return test.RunAsync();
    }

    private static DiagnosticResult At0(string id, params object[] args) => DiagnosticResult.CompilerError(id).WithLocation(0).WithArguments(args);

    [Test]
    public Task KSTATE001_a_struct_that_is_not_partial_is_reported() => Check("""
        [KStateDescribed("acme/a")] public struct {|#0:A|} { public int X; }
        """, At0("KSTATE001", "A"));

    [Test]
    public Task KSTATE001_a_struct_inside_a_type_that_is_not_partial_is_reported() => Check("""
        public static class Holder { [KStateDescribed("acme/b")] public partial struct {|KSTATE001:B|} { public int X; } }
        """);

    [Test]
    public Task KSTATE002_a_pointer_kind_on_an_int_is_reported() => Check("""
        [KStateDescribed("acme/c")] public partial struct C { [KStatePointer] public int {|#0:Head|}; }
        """, At0("KSTATE002", "Head", "[KStatePointer] needs a KState.Ptr<T> member, not int"));

    [Test]
    public Task KSTATE002_a_folio_kind_on_an_int_a_pointer_without_a_kind_an_address_and_two_kinds_are_reported() => Check("""
        [KStateDescribed("acme/d")]
        public partial struct D
        {
            [KStateFolio] public int {|#0:Ring|};
            public Ptr<int> {|KSTATE002:P|};
            public nint {|KSTATE002:Address|};
            [KStatePointer, KStateKhoPointer] public Ptr<int> {|KSTATE002:Both|};
        }
        """, At0("KSTATE002", "Ring", "[KStateFolio] needs a KState.Folio or ulong member (or an [InlineArray] of them), not int"));

    [Test]
    public Task KSTATE003_a_min_version_above_the_version_is_reported() => Check("""
        [KStateDescribed("acme/e", Version = 1, MinVersion = 2)] public partial struct {|#0:E|} { public int X; }
        """, At0("KSTATE003", "E", "MinVersion 2 is above Version 1: no record could be read"));

    [Test]
    public Task KSTATE003_a_negative_version_is_reported() => Check("""
        [KStateDescribed("acme/e2", Version = -1, MinVersion = -1)] public partial struct {|KSTATE003:E2|} { public int X; }
        """);

    [Test]
    public Task KSTATE004_a_member_newer_than_the_struct_and_a_deprecated_member_not_older_are_reported() => Check("""
        [KStateDescribed("acme/f", Version = 2, MinVersion = 1)]
        public partial struct F
        {
            [KStateField(Version = 3)] public int {|#0:X|};
            [KStateDeprecated(LastVersion = 2)] internal static int {|KSTATE004:gone|};
        }
        """, At0("KSTATE004", "X", "Version 3 is above the struct's Version 2"));

    [Test]
    public Task KSTATE005_a_missing_count_member_is_reported() => Check("""
        [InlineArray(4)] public struct Four { private int _e; }
        [KStateDescribed("acme/g")] public partial struct G { [KStateField(CountField = "Nope")] public Four {|#0:Items|}; }
        """, At0("KSTATE005", "Items", "the count member 'Nope' is not an instance field of the struct"));

    [Test]
    public Task KSTATE005_a_non_integer_later_or_misplaced_count_is_reported() => Check("""
        [InlineArray(4)] public struct Four { private int _e; }
        [KStateDescribed("acme/h")]
        public partial struct H
        {
            public float Ratio;
            [KStateField(CountField = nameof(Ratio))] public Four {|#0:ByRatio|};
            [KStateField(CountField = nameof(Later))] public Four {|KSTATE005:Early|};
            public uint Later;
            [KStateField(Count = 2)] public int {|KSTATE005:NotAPointer|};
            [KStateField(CountField = nameof(Later))] public int {|KSTATE005:NotAnArray|};
        }
        """, At0("KSTATE005", "ByRatio", "the count member 'Ratio' is float, not an integer"));

    [Test]
    public Task KSTATE006_two_structs_with_one_description_name_are_reported() => Check("""
        [KStateDescribed("acme/same")] public partial struct I1 { public int X; }
        [KStateDescribed("acme/same")] public partial struct {|#0:I2|} { public int X; }
        """, At0("KSTATE006", "'Acme.I2' and 'Acme.I1' are both described as 'acme/same'; a description name (and so its state id) names one struct"));

    [Test]
    public Task KSTATE006_a_subsection_named_as_its_struct_is_reported() => Check("""
        [KStateDescribed("acme/j")]
        [{|KSTATE006:KStateSubsection("acme/j")|}]
        public partial struct J { public int X; [KStateField(Subsection = "acme/j")] public int Y; }
        """);

    [Test]
    public Task KSTATE007_unsupported_structs_and_members_are_reported() => Check("""
        [KStateDescribed("acme/k")]
        public partial struct K
        {
            public readonly int {|KSTATE007:Fixed|};
            public int {|KSTATE007:Auto|} { get; set; }
            public string {|KSTATE007:Name|};
            [KStateDeprecated(LastVersion = 1)] public int {|KSTATE007:NotStatic|};
        }
        [KStateDescribed("acme/l")] public partial struct {|KSTATE007:L|}<T> where T : unmanaged { public T X; }
        [KStateDescribed("acme/m")] public readonly partial struct {|KSTATE007:M|} { public readonly int {|KSTATE007:X|}; }
        """);

    [Test]
    public Task KSTATE008_a_hook_of_the_wrong_shape_or_not_partial_and_a_missing_needed_method_are_reported() => Check("""
        [KStateDescribed("acme/n", Version = 2, MinVersion = 1)]
        [{|KSTATE008:KStateSubsection("acme/n/more", Needed = "IsNeeded")|}]
        public partial struct N
        {
            public int X;
            [KStateField(Subsection = "acme/n/more")] public int Y;
            public int {|#0:PreSave|}(int bad) => bad;
            public int {|KSTATE008:PostLoad|}(int versionId) => versionId;
        }
        """, At0("KSTATE008", "N", "the hook 'PreSave' must be one instance method 'partial int PreSave()'"));

    [Test]
    public Task KSTATE009_an_unknown_subsection_and_an_empty_one_are_reported() => Check("""
        [KStateDescribed("acme/o")]
        [KStateSubsection("acme/o/empty")]
        public partial struct {|KSTATE009:O|}
        {
            [KStateField(Subsection = "acme/o/nope")] public int {|#0:X|};
        }
        """, At0("KSTATE009", "X", "no [KStateSubsection(\"acme/o/nope\")] on the struct"));

    [Test]
    public Task KSTATE010_an_empty_description_name_is_reported() => Check("""
        [KStateDescribed("")] public partial struct {|KSTATE010:P|} { public int X; }
        """);

    [Test]
    public Task KSTATE011_a_member_named_Description_is_reported() => Check("""
        [KStateDescribed("acme/q")] public partial struct {|KSTATE011:Q|} { public int X; public static int Description => 0; }
        """);

    [Test]
    public Task A_struct_in_error_gets_no_description_but_its_hooks_declared_so_the_error_does_not_cascade() =>
        new GeneratorTest(Usings + """
            [KStateDescribed("acme/r", Version = 1, MinVersion = 2)]
            public partial struct {|KSTATE003:R|}
            {
                public int X;
                private partial int PreSave() => 0;
            }
            """).Generates("Acme.R.KState.g.cs", """
            // <auto-generated/> by KState.Generators from the struct's [KStateDescribed] attributes.
            #nullable enable

            namespace Acme;

            partial struct R
            {
                private partial int PreSave();
            }

            """).RunAsync();
}
