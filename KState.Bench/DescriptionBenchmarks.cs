using System.Buffers;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using BenchmarkDotNet.Attributes;
using KState.Core.Records;
using MemoryPack;

namespace KState.Bench;

[InlineArray(10)]
public struct Chars10
{
    private byte _e;
}

/// <summary>The KSTATE talk's struct without its folio.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct TalkNoFolio
{
    public int I;
    public Ptr<ulong> PUlong;
    public Chars10 S;
}

/// <summary>Save and restore of the talk's struct (int, pointer to unsigned long, char[10]) by description: time per object.</summary>
[MemoryDiagnoser]
public unsafe class TalkStructBenchmarks
{
    private const int N = 10_000;
    private static readonly KStateDescription Desc = KStateDescriptionBuilder<TalkNoFolio>.Create("bench/talk", 1, 1)
        .Base((ref TalkNoFolio a) => ref a.I)
        .Base((ref TalkNoFolio a) => ref a.S)
        .Pointer((ref TalkNoFolio a) => ref a.PUlong)
        .Build();

    private BufferSegmentMemory _out = null!;
    private BufferSegmentMemory _in = null!;
    private RecordReader _reader = null!;
    private ulong* _value;
    private ulong* _target;

    [GlobalSetup]
    public void Setup()
    {
        _value = (ulong*)NativeMemory.Alloc(8);
        *_value = 0xDEADBEEF;
        _target = (ulong*)NativeMemory.Alloc(8);
        _out = new BufferSegmentMemory(64 << 20);
        var w = new RecordWriter(_out, "main");
        var a = new TalkNoFolio { I = 42, PUlong = new Ptr<ulong>(_value) };
        for (int i = 0; i < N; i++) Desc.Save(w, ref a, (ulong)i);
        var info = w.Complete();
        _in = new BufferSegmentMemory(_out.Image);
        _reader = RecordReader.Open(_in, info.FirstSegment, "main");
    }

    [Benchmark(OperationsPerInvoke = N, Description = "save (per object)")]
    public void Save()
    {
        _out.Reset();
        var w = new RecordWriter(_out, "main");
        var a = new TalkNoFolio { I = 42, PUlong = new Ptr<ulong>(_value) };
        for (int i = 0; i < N; i++) Desc.Save(w, ref a, (ulong)i);
    }

    [Benchmark(OperationsPerInvoke = N, Description = "restore (per object)")]
    public int Restore()
    {
        var a = new TalkNoFolio { PUlong = new Ptr<ulong>(_target) };
        int sum = 0;
        for (int i = 0; i < N; i++)
        {
            Desc.Restore(_reader, ref a, (ulong)i);
            sum += a.I;
        }
        return sum;
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _out.Dispose();
        _in.Dispose();
        NativeMemory.Free(_value);
        NativeMemory.Free(_target);
    }
}

[StructLayout(LayoutKind.Sequential)]
public struct Item32
{
    public long A, B, C, D;
}

[StructLayout(LayoutKind.Sequential)]
public struct Table
{
    public ulong N;
    public Ptr<Item32> Items;
}

/// <summary>1,000,000 structs of 32 bytes, saved and restored by description, against memcpy and MemoryPack.</summary>
[MemoryDiagnoser]
public unsafe class MillionStructsBenchmarks
{
    private const int N = 1_000_000;
    private static readonly KStateDescription Desc = KStateDescriptionBuilder<Table>.Create("bench/table", 1, 1)
        .Base((ref Table t) => ref t.N)
        .Pointer((ref Table t) => ref t.Items, count: N, countMember: "N")
        .Build();

    private Item32[] _items = null!;
    private Item32[] _restored = null!;
    private byte* _copy;
    private BufferSegmentMemory _out = null!;
    private BufferSegmentMemory _in = null!;
    private RecordReader _reader = null!;
    private FixedBufferWriter _packed = null!;
    private int _packedLength;
    private GCHandle _pinItems, _pinRestored;

    [GlobalSetup]
    public void Setup()
    {
        _items = new Item32[N];
        for (int i = 0; i < N; i++) _items[i] = new Item32 { A = i, B = -i, C = i * 3, D = 7 };
        _restored = new Item32[N];
        _pinItems = GCHandle.Alloc(_items, GCHandleType.Pinned);
        _pinRestored = GCHandle.Alloc(_restored, GCHandleType.Pinned);
        _copy = (byte*)NativeMemory.AlignedAlloc(N * 32, 64);
        _out = new BufferSegmentMemory(48 << 20);
        var w = new RecordWriter(_out, "main");
        var t = new Table { N = N, Items = new Ptr<Item32>((Item32*)_pinItems.AddrOfPinnedObject()) };
        Desc.Save(w, ref t, 0);
        var done = w.Complete();
        _in = new BufferSegmentMemory(_out.Image);
        _reader = RecordReader.Open(_in, done.FirstSegment, "main");
        _packed = new FixedBufferWriter(N * 32 + 64);
        MemoryPackSerializer.Serialize(_packed, _items);
        _packedLength = _packed.Written;
    }

    private void SaveOnce()
    {
        _out.Reset();
        var w = new RecordWriter(_out, "main");
        var t = new Table { N = N, Items = new Ptr<Item32>((Item32*)_pinItems.AddrOfPinnedObject()) };
        Desc.Save(w, ref t, 0);
    }

    [Benchmark(Baseline = true, Description = "memcpy 32 MB")]
    public void Memcpy() => Buffer.MemoryCopy((void*)_pinItems.AddrOfPinnedObject(), _copy, N * 32L, N * 32L);

    [Benchmark(Description = "KState save")]
    public void KStateSave() => SaveOnce();

    [Benchmark(Description = "KState restore")]
    public void KStateRestore()
    {
        var t = new Table { Items = new Ptr<Item32>((Item32*)_pinRestored.AddrOfPinnedObject()), N = N };
        Desc.Restore(_reader, ref t, 0);
    }

    [Benchmark(Description = "MemoryPack serialize")]
    public void MemoryPackSerialize()
    {
        _packed.Reset();
        MemoryPackSerializer.Serialize(_packed, _items);
    }

    [Benchmark(Description = "MemoryPack deserialize")]
    public void MemoryPackDeserialize()
    {
        var target = _restored;
        MemoryPackSerializer.Deserialize(_packed.WrittenSpan[.._packedLength], ref target);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _pinItems.Free();
        _pinRestored.Free();
        NativeMemory.AlignedFree(_copy);
        _out.Dispose();
        _in.Dispose();
    }
}

/// <summary>An IBufferWriter over one preallocated array: MemoryPack serializes into it without growing.</summary>
public sealed class FixedBufferWriter(int capacity) : IBufferWriter<byte>
{
    private readonly byte[] _buffer = new byte[capacity];

    public int Written { get; private set; }

    public ReadOnlySpan<byte> WrittenSpan => _buffer.AsSpan(0, Written);

    public void Reset() => Written = 0;

    public void Advance(int count) => Written += count;

    public Memory<byte> GetMemory(int sizeHint = 0) => _buffer.AsMemory(Written);

    public Span<byte> GetSpan(int sizeHint = 0) => _buffer.AsSpan(Written);
}
