using System.Runtime.InteropServices;
using BenchmarkDotNet.Attributes;

namespace KState.Bench;

/// <summary>
/// Context for the handover figures: copying the same 1 GiB between two native buffers (both pre-faulted), the cost
/// of saving and restoring state by copy instead of handing the memory over. A real copy-based handover would pay it
/// twice (out and back) plus the page faults of fresh memory; this is the one-copy floor.
/// </summary>
[Config(typeof(KhoBenchConfig))]
public unsafe class KhoMemcpyBaseline
{
    private const nuint Bytes = 1u << 30;
    private byte* _from;
    private byte* _to;

    [GlobalSetup]
    public void GlobalSetup()
    {
        _from = (byte*)NativeMemory.AlignedAlloc(Bytes, 4096);
        _to = (byte*)NativeMemory.AlignedAlloc(Bytes, 4096);
        new Span<byte>(_from, (int)(Bytes / 2)).Fill(0x5A);
        new Span<byte>(_from + Bytes / 2, (int)(Bytes / 2)).Fill(0xA5);
        new Span<byte>(_to, (int)(Bytes / 2)).Clear();
        new Span<byte>(_to + Bytes / 2, (int)(Bytes / 2)).Clear();
    }

    [GlobalCleanup]
    public void GlobalCleanup()
    {
        NativeMemory.AlignedFree(_from);
        NativeMemory.AlignedFree(_to);
    }

    /// <summary>Buffer.MemoryCopy of 1 GiB.</summary>
    [Benchmark]
    public void MemoryCopy1GiB() => Buffer.MemoryCopy(_from, _to, Bytes, Bytes);
}
