using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace KState.TestHost.Shared;

[InlineArray(10)]
public struct Chars10
{
    private byte _e;
}

/// <summary>The KSTATE talk's example: <c>struct a { int i; unsigned long *p_ulong; char s[10]; struct folio *folio; }</c>.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct TalkA
{
    public int I;
    public Ptr<ulong> PUlong;
    public Chars10 S;
    public Folio Folio;
}

/// <summary>The kernel's KSTATE test module, in C#: a value, a deprecated field, a pointer to a scalar and a subsection.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct TestModule
{
    public int I;
    public int J;           // carried by a subsection, sent when non-zero
    public Ptr<ulong> PUlong;
    public long Old;        // generation 1's field, deprecated in version 2
}

public static class TalkDescriptions
{
    public const ulong TestId = 0x4B53_5441_5445_5445; // KSTATE_TEST_ID

    /// <summary>The talk's description, field for field.</summary>
    public static KStateDescription A { get; } = KStateDescriptionBuilder<TalkA>.Create("a_struct", TestId, 1, 1)
        .Base((ref TalkA a) => ref a.I)
        .Base((ref TalkA a) => ref a.S)
        .Pointer((ref TalkA a) => ref a.PUlong)
        .Folio((ref TalkA a) => ref a.Folio)
        .Build();

    private static KStateDescription Sub { get; } = KStateDescriptionBuilder<TestModule>.Create("kstate-test/sub", 1, 1)
        .Base((ref TestModule t) => ref t.J)
        .Needed((ref TestModule t) => t.J != 0)
        .Build();

    /// <summary>Version 1: I, Old, the pointer, and the subsection.</summary>
    public static KStateDescription ModuleV1 { get; } = KStateDescriptionBuilder<TestModule>.Create("kstate-test/module", 1, 1)
        .Base((ref TestModule t) => ref t.I)
        .Base((ref TestModule t) => ref t.Old)
        .Pointer((ref TestModule t) => ref t.PUlong)
        .Subsection(Sub)
        .Build();

    /// <summary>Version 2: Old is deprecated (last in version 1); reads versions 1 and 2.</summary>
    public static KStateDescription ModuleV2 { get; } = KStateDescriptionBuilder<TestModule>.Create("kstate-test/module", 2, 1)
        .Base((ref TestModule t) => ref t.I)
        .Deprecated("Old", 8, lastVersionId: 1)
        .Pointer((ref TestModule t) => ref t.PUlong)
        .Subsection(Sub)
        .Build();
}
