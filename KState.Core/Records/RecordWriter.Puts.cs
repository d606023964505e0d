using System.Buffers.Binary;
using System.Runtime.CompilerServices;

namespace KState;

public sealed unsafe partial class RecordWriter
{
    /// <summary>Appends bytes to the open record.</summary>
    /// <exception cref="KStateInvalidException">No record is open.</exception>
    public void Put(ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length < LeaseThreshold) bytes.CopyTo(ReserveInRecord(bytes.Length));
        else PutLeased(bytes);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void PutLeased(ReadOnlySpan<byte> bytes)
    {
        using var lease = KState.Machine.Memory.RegionMemory.Acquire(_owner);
        bytes.CopyTo(ReserveInRecord(bytes.Length));
    }

    /// <summary>Appends the bytes of unmanaged values (little-endian machine order) to the open record.</summary>
    public void PutValues<T>(ReadOnlySpan<T> values) where T : unmanaged => Put(System.Runtime.InteropServices.MemoryMarshal.AsBytes(values));

    /// <summary>Appends one unmanaged value as its raw bytes.</summary>
    public void PutValue<T>(in T value) where T : unmanaged
    {
        var s = ReserveInRecord(Unsafe.SizeOf<T>());
        Unsafe.WriteUnaligned(ref s[0], value);
    }

    /// <summary>Appends a byte.</summary>
    public void PutByte(byte v) => ReserveInRecord(1)[0] = v;

    /// <summary>Appends a little-endian 16-bit value.</summary>
    public void PutUInt16(ushort v) => BinaryPrimitives.WriteUInt16LittleEndian(ReserveInRecord(2), v);

    /// <summary>Appends a little-endian 32-bit value.</summary>
    public void PutUInt32(uint v) => BinaryPrimitives.WriteUInt32LittleEndian(ReserveInRecord(4), v);

    /// <summary>Appends a little-endian 32-bit value.</summary>
    public void PutInt32(int v) => BinaryPrimitives.WriteInt32LittleEndian(ReserveInRecord(4), v);

    /// <summary>Appends a little-endian 64-bit value.</summary>
    public void PutUInt64(ulong v) => BinaryPrimitives.WriteUInt64LittleEndian(ReserveInRecord(8), v);

    /// <summary>Appends a little-endian 64-bit value.</summary>
    public void PutInt64(long v) => BinaryPrimitives.WriteInt64LittleEndian(ReserveInRecord(8), v);

    /// <summary>Appends a little-endian IEEE double.</summary>
    public void PutDouble(double v) => BinaryPrimitives.WriteDoubleLittleEndian(ReserveInRecord(8), v);

    /// <summary>Appends a string: u32 byte length, then UTF-8 bytes.</summary>
    public void PutString(string s)
    {
        int n = System.Text.Encoding.UTF8.GetByteCount(s);
        PutInt32(n);
        System.Text.Encoding.UTF8.GetBytes(s, ReserveInRecord(n));
    }

    /// <summary>Writes a whole record in one call: header, payload, checksum.</summary>
    internal void WriteRecord(ulong stateId, ulong instanceId, uint version, ReadOnlySpan<byte> payload)
    {
        BeginRecord(stateId, instanceId, version);
        Put(payload);
        EndRecord();
    }
}
