using System.Buffers.Binary;

namespace KState.Fuzz;

/// <summary>
/// The stream reader: a real region with a committed handover (the template) whose stream segment is replaced by the
/// input. Byte 0 is a mode (bit 0: recompute the segment and record checksums), byte 1 picks the stream, the rest is
/// the segment (zero-padded to its size); the region is then read as kstate inspect does.
/// </summary>
internal sealed class StreamTarget : ITarget
{
    private readonly byte[] _template;
    private readonly byte[] _image;
    private readonly IReadOnlyList<(int Offset, int Size)> _segments;
    private readonly ScratchRegion _file = new("stream");

    public StreamTarget(string templatePath)
    {
        _template = File.ReadAllBytes(templatePath);
        _image = new byte[_template.Length];
        _segments = FirstSegments(templatePath);
        if (_segments.Count == 0) throw new InvalidOperationException($"{templatePath} holds no KSTATE stream");
    }

    public string Run(ReadOnlySpan<byte> input)
    {
        if (input.Length < 2) return "too short";
        _file.Write(Image(input));
        return Reading.ReadAll(_file.Path);
    }

    public ReadOnlySpan<byte> Image(ReadOnlySpan<byte> input)
    {
        if (input.Length < 2) return _template;
        var (offset, size) = _segments[input[1] % _segments.Count];
        var bytes = input[2..];
        if (bytes.Length > size) bytes = bytes[..size];
        _template.CopyTo(_image, 0);
        var segment = _image.AsSpan(offset, size);
        bytes.CopyTo(segment);
        segment[bytes.Length..].Clear();
        if ((input[0] & 1) != 0) Checksums.FixSegment(segment);
        return _image;
    }

    /// <summary>Region offset and size of each stream's first segment, from the "kstate" root blob (FORMAT.md).</summary>
    public static List<(int Offset, int Size)> FirstSegments(string regionPath)
    {
        var found = new List<(int, int)>();
        var image = File.ReadAllBytes(regionPath);
        using var region = KhoInspector.Open(regionPath);
        if (!region.TryGetSubtree("kstate", out var root) || root.Length < 24) return found;
        uint count = BinaryPrimitives.ReadUInt32LittleEndian(root[12..]);
        for (int i = 0; i < count && 24 + 96 * (i + 1) <= root.Length; i++)
        {
            int offset = (int)(BinaryPrimitives.ReadUInt64LittleEndian(root[(24 + 96 * i + 64)..]) - Kho.PhysBase);
            found.Add((offset, Kho.PageSize << image[offset + 14]));
        }
        return found;
    }

    public void Dispose() => _file.Dispose();
}
