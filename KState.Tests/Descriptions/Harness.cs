using KState.Core.Records;

namespace KState.Tests.Descriptions;

/// <summary>Saves with one description and restores with another through a stream in a buffer.</summary>
internal sealed unsafe class Harness : IDisposable
{
    private readonly BufferSegmentMemory _out;
    private BufferSegmentMemory? _in;

    public RecordWriter Writer { get; }

    public Harness(int size = 4 << 20)
    {
        _out = new BufferSegmentMemory(size);
        Writer = new RecordWriter(_out, "main");
    }

    public void Save<T>(KStateDescription d, ref T obj, ulong instance = 0) where T : unmanaged => d.Save(Writer, ref obj, instance);

    public RecordReader Reader()
    {
        var info = Writer.Complete();
        _in = new BufferSegmentMemory(_out.Image);
        return RecordReader.Open(_in, info.FirstSegment, "main");
    }

    public static T RoundTrip<T>(KStateDescription saveWith, T value, KStateDescription restoreWith, T into) where T : unmanaged
    {
        using var h = new Harness();
        h.Save(saveWith, ref value);
        restoreWith.Restore(h.Reader(), ref into, 0);
        return into;
    }

    public void Dispose()
    {
        _out.Dispose();
        _in?.Dispose();
    }
}
