using System.Buffers.Binary;

namespace KState.Fuzz;

/// <summary>
/// The boot validator: input byte 0 is a mode (bit 0: recompute the checksums), the rest is the start of a region
/// image, zero-padded to the size its header declares (up to 4 MiB), then opened and read as kstate inspect does.
/// </summary>
internal sealed class BootTarget : ITarget
{
    private const int MaxRegion = 4 << 20;
    private readonly byte[] _image = new byte[MaxRegion];
    private readonly ScratchRegion _file = new("boot");

    public void Run(ReadOnlySpan<byte> input)
    {
        if (input.Length < 2) return;
        var bytes = input[1..];
        if (bytes.Length > MaxRegion) bytes = bytes[..MaxRegion];
        int size = bytes.Length;
        if (bytes.Length >= 24)
        {
            ulong declared = BinaryPrimitives.ReadUInt64LittleEndian(bytes[16..]);
            if (declared >= (ulong)bytes.Length && declared <= MaxRegion) size = (int)declared;
        }
        var image = _image.AsSpan(0, size);
        bytes.CopyTo(image);
        image[bytes.Length..].Clear();
        if ((input[0] & 1) != 0) Checksums.FixRegion(image);
        _file.Write(image);
        Reading.ReadAll(_file.Path);
    }

    public void Dispose() => _file.Dispose();
}
