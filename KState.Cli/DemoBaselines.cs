using System.Buffers;
using System.Diagnostics;
using System.Runtime.InteropServices;
using MemoryPack;

namespace KState.Cli;

/// <summary>The demo's comparison: the same state carried without KHO, in the same run.</summary>
internal static unsafe partial class Demo
{
    /// <summary>The same state carried by MemoryPack through a /dev/shm file, and by memcpy through shared memory.</summary>
    private static (double MemoryPackMs, double MemcpyMs) Baselines(List<CacheEntry> entries)
    {
        long bytes = entries.Sum(e => (long)e.Length);
        var values = new byte[bytes];
        long at = 0;
        foreach (var e in entries)
        {
            Fill(e.Key, values.AsSpan((int)at, (int)e.Length));
            at += e.Length;
        }
        var index = entries.ToArray();
        string file = $"/dev/shm/kstate-demo-memorypack-{Environment.ProcessId}";
        try
        {
            long t = Stopwatch.GetTimestamp();
            // MemoryPack's writer and reader directly: what its serializer does for arrays of unmanaged structs, without
            // its formatter lookup, which uses reflection that Native AOT cannot compile.
            var packed = new ArrayBufferWriter<byte>();
            using (var state = MemoryPackWriterOptionalStatePool.Rent(MemoryPackSerializerOptions.Default))
            {
                var writer = new MemoryPackWriter<ArrayBufferWriter<byte>>(ref packed, state);
                writer.WriteUnmanagedArray(index);
                writer.WriteUnmanagedArray(values);
                writer.Flush();
            }
            using (var f = new FileStream(file, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20)) f.Write(packed.WrittenSpan);
            var all = File.ReadAllBytes(file);
            CacheEntry[]? index2;
            byte[]? values2;
            using (var state = MemoryPackReaderOptionalStatePool.Rent(MemoryPackSerializerOptions.Default))
            {
                var reader = new MemoryPackReader(all, state);
                index2 = reader.ReadUnmanagedArray<CacheEntry>();
                values2 = reader.ReadUnmanagedArray<byte>();
            }
            double memoryPackMs = Ms(t);
            if (index2!.Length != index.Length || !values2!.AsSpan().SequenceEqual(values)) throw new InvalidOperationException("MemoryPack baseline lost data");

            t = Stopwatch.GetTimestamp();
            using (var mmf = System.IO.MemoryMappedFiles.MemoryMappedFile.CreateFromFile(file, FileMode.Create, null, bytes + index.Length * sizeof(CacheEntry)))
            using (var view = mmf.CreateViewAccessor())
            {
                byte* p = null;
                view.SafeMemoryMappedViewHandle.AcquirePointer(ref p);
                try
                {
                    values.AsSpan().CopyTo(new Span<byte>(p, values.Length));
                    MemoryMarshal.AsBytes(index.AsSpan()).CopyTo(new Span<byte>(p + bytes, index.Length * sizeof(CacheEntry)));
                    var back = GC.AllocateUninitializedArray<byte>(values.Length);
                    new ReadOnlySpan<byte>(p, values.Length).CopyTo(back);
                    var backIndex = new CacheEntry[index.Length];
                    new ReadOnlySpan<byte>(p + bytes, index.Length * sizeof(CacheEntry)).CopyTo(MemoryMarshal.AsBytes(backIndex.AsSpan()));
                }
                finally
                {
                    view.SafeMemoryMappedViewHandle.ReleasePointer();
                }
            }
            return (memoryPackMs, Ms(t));
        }
        finally
        {
            File.Delete(file);
        }
    }
}
