using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;
using KState;

namespace KState.Samples.Cache;

/// <summary>The cache as one described struct: its entries packed into one byte array behind a pointer
/// (per entry: key length, value length, key, value; little-endian u32 lengths, UTF-8 text).</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct CacheImage
{
    public ulong Count;
    public ulong Bytes;
    public Ptr<byte> Data;

    public const int MaxBytes = 8 << 20;

    public static readonly KStateDescription Description = KStateDescriptionBuilder<CacheImage>.Create("kstate-sample/cache", 1, 1)
        .Base((ref CacheImage c) => ref c.Count)
        .Base((ref CacheImage c) => ref c.Bytes)
        .Pointer((ref CacheImage c) => ref c.Data, count: MaxBytes, countMember: "Bytes")
        .Build();

    public static byte[] Pack(IReadOnlyDictionary<string, string> entries)
    {
        var buffer = new MemoryStream();
        Span<byte> lengths = stackalloc byte[8];
        foreach (var (key, value) in entries)
        {
            byte[] k = Encoding.UTF8.GetBytes(key), v = Encoding.UTF8.GetBytes(value);
            BinaryPrimitives.WriteUInt32LittleEndian(lengths, (uint)k.Length);
            BinaryPrimitives.WriteUInt32LittleEndian(lengths[4..], (uint)v.Length);
            buffer.Write(lengths);
            buffer.Write(k);
            buffer.Write(v);
        }
        if (buffer.Length > MaxBytes) throw new InvalidOperationException($"the cache holds {buffer.Length} bytes; the sample keeps at most {MaxBytes}");
        return buffer.ToArray();
    }

    /// <summary>The entries packed in <paramref name="data"/>; the restored bytes passed KSTATE's checksum, and are
    /// still checked against their own lengths.</summary>
    public static Dictionary<string, string> Unpack(ReadOnlySpan<byte> data, ulong count)
    {
        var entries = new Dictionary<string, string>(StringComparer.Ordinal);
        while (data.Length >= 8)
        {
            uint k = BinaryPrimitives.ReadUInt32LittleEndian(data), v = BinaryPrimitives.ReadUInt32LittleEndian(data[4..]);
            if ((ulong)k + v > (ulong)data.Length - 8) throw new InvalidDataException("a restored cache entry runs past the data");
            entries[Encoding.UTF8.GetString(data.Slice(8, (int)k))] = Encoding.UTF8.GetString(data.Slice(8 + (int)k, (int)v));
            data = data[(8 + (int)k + (int)v)..];
        }
        if (!data.IsEmpty || (ulong)entries.Count != count) throw new InvalidDataException($"the restored cache has {entries.Count} entries, not {count}");
        return entries;
    }
}
