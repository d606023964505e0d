using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using KState.TestHost.Shared;

namespace KState.Tests.Descriptions;

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
