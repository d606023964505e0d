using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using KState.Core.Descriptions;

namespace KState.Tests.Descriptions;

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

[StructLayout(LayoutKind.Sequential)]
public struct Inner
{
    public int X;
    public int Y;
}

[StructLayout(LayoutKind.Sequential)]
public struct Outer
{
    public long Id;
    public Inner Inner;
    public int Tail;
}

[InlineArray(8)]
public struct Ints8
{
    private int _e;
}

[StructLayout(LayoutKind.Sequential)]
public struct Counted
{
    public uint N;
    public Ints8 Items;
    public uint M;
    public Ptr<long> Dynamic;
}

[StructLayout(LayoutKind.Sequential)]
public struct Versioned
{
    public int A;
    public int B;   // since v2
    public int C;   // in a subsection
}

public static class TalkDescriptions
{
    public const ulong TestId = 0x4B53_5441_5445_5445; // KSTATE_TEST_ID

    public static KStateDescription A { get; } = KStateDescriptionBuilder<TalkA>.Create("a_struct", TestId, 1, 1)
        .Base((ref TalkA a) => ref a.I)
        .Base((ref TalkA a) => ref a.S)
        .Pointer((ref TalkA a) => ref a.PUlong)
        .Folio((ref TalkA a) => ref a.Folio)
        .Build();
}
