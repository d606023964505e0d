using System.Buffers.Binary;

namespace KState.Fuzz;

/// <summary>
/// The boot validator: a real region with a committed handover (the template) whose metadata and handover area are
/// replaced by the input. Byte 0 is a mode (bit 0: recompute the checksums); then come the region's first bytes up
/// to the scratch area (header, commit slots, summary bitmap, preservation map), then the handover area (root tree
/// and subtree blobs, zero-padded to its size). Only those bytes are mutated, so every mutation lands where boot
/// looks; the region is then opened and read as kstate inspect does.
/// </summary>
internal sealed class BootTarget : ITarget
{
    private readonly byte[] _template;
    private readonly byte[] _image;
    private readonly Parts _parts;
    private readonly ScratchRegion _file = new("boot");

    public BootTarget(string templatePath)
    {
        _template = File.ReadAllBytes(templatePath);
        _image = new byte[_template.Length];
        _parts = Locate(templatePath, _template);
    }

    /// <summary>Where the mutated parts lie in the template: [0, Metadata) and [AreaOffset, AreaOffset + AreaSize).</summary>
    public readonly record struct Parts(int Metadata, int AreaOffset, int AreaSize, int AreaUsed);

    public string Run(ReadOnlySpan<byte> input)
    {
        if (input.Length < 2) return "too short";
        _file.Write(Image(input));
        return Reading.ReadAll(_file.Path);
    }

    public ReadOnlySpan<byte> Image(ReadOnlySpan<byte> input)
    {
        if (input.Length < 2) return _template;
        var bytes = input[1..];
        _template.CopyTo(_image, 0);
        var image = _image.AsSpan();
        int meta = Math.Min(bytes.Length, _parts.Metadata);
        bytes[..meta].CopyTo(image);
        var area = image.Slice(_parts.AreaOffset, _parts.AreaSize);
        var rest = bytes[meta..];
        if (rest.Length > area.Length) rest = rest[..area.Length];
        rest.CopyTo(area);
        area[rest.Length..].Clear();
        if ((input[0] & 1) != 0) Checksums.FixRegion(image);
        return image;
    }

    /// <summary>The template's metadata end (the scratch offset) and the committed slot's handover area (FORMAT.md).</summary>
    public static Parts Locate(string templatePath, ReadOnlySpan<byte> image)
    {
        int metadata;
        using (var region = KhoInspector.Open(templatePath))
        {
            if (!region.HasHandover) throw new InvalidOperationException($"{templatePath} holds no committed handover");
            metadata = (int)(region.Scratch.Phys - Kho.PhysBase);
        }
        foreach (int at in (ReadOnlySpan<int>)[1024, 2048])
        {
            var slot = image.Slice(at, 64);
            if (BinaryPrimitives.ReadUInt32LittleEndian(slot[4..]) != 1) continue; // not the committed one
            int offset = (int)(BinaryPrimitives.ReadUInt64LittleEndian(slot[16..]) - Kho.PhysBase);
            int used = (int)BinaryPrimitives.ReadUInt64LittleEndian(slot[24..]);
            return new Parts(metadata, offset, Kho.PageSize << BinaryPrimitives.ReadInt32LittleEndian(slot[36..]), used);
        }
        throw new InvalidOperationException($"{templatePath}: no committed slot");
    }

    public void Dispose() => _file.Dispose();
}
