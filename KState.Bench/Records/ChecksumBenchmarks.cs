using System.IO.Hashing;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text;
using BenchmarkDotNet.Attributes;

namespace KState.Bench.Records;

/// <summary>
/// The record checksum: XXH3-64 (what the format uses, System.IO.Hashing.XxHash3) against CRC32C computed with
/// the SSE4.2 crc32 instruction (System.Numerics.BitOperations.Crc32C over 8-byte chunks, the straightforward
/// serial loop) and against System.IO.Hashing.Crc32 (the IEEE polynomial, not CRC32C; shown because it is the CRC
/// the BCL ships, vectorized with carry-less multiplication). One cache-resident input per size.
/// </summary>
[MemoryDiagnoser]
public class ChecksumBenchmarks
{
    [Params(16, 4096, 1 << 20)]
    public int Bytes;

    private byte[] _data = [];

    [GlobalSetup]
    public void Setup()
    {
        _data = RecordBench.RandomBytes(Bytes);
        // Check value of CRC-32C (Castagnoli) for "123456789".
        if (Crc32C(Encoding.ASCII.GetBytes("123456789")) != 0xE306_9283) throw new InvalidOperationException("CRC32C is wrong");
    }

    [Benchmark(Baseline = true)]
    public ulong Xxh3_64() => XxHash3.HashToUInt64(_data);

    [Benchmark]
    public uint Crc32C_BitOperations() => Crc32C(_data);

    [Benchmark]
    public uint Crc32Ieee_SystemIOHashing() => Crc32.HashToUInt32(_data);

    /// <summary>CRC-32C: reflected, initial value and final xor 0xFFFFFFFF; 8 bytes per crc32 instruction.</summary>
    public static uint Crc32C(ReadOnlySpan<byte> data)
    {
        uint crc = 0xFFFF_FFFF;
        ref byte p = ref MemoryMarshal.GetReference(data);
        int n = data.Length, i = 0;
        for (; i + 8 <= n; i += 8) crc = BitOperations.Crc32C(crc, Unsafe.ReadUnaligned<ulong>(ref Unsafe.Add(ref p, i)));
        for (; i < n; i++) crc = BitOperations.Crc32C(crc, Unsafe.Add(ref p, i));
        return ~crc;
    }
}
