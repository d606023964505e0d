using KState.Machine.Memory;

namespace KState;

/// <summary>A point in an outgoing stream between records, to roll the stream back to (<see cref="RecordWriter.Mark"/>).</summary>
internal readonly record struct StreamMark
{
    internal StreamMark(int segments, int pos, uint records, ulong bytes, int dataSegments, int names)
    {
        Segments = segments;
        Pos = pos;
        Records = records;
        Bytes = bytes;
        DataSegments = dataSegments;
        Names = names;
    }

    internal int Segments { get; }
    internal int Pos { get; }
    internal uint Records { get; }
    internal ulong Bytes { get; }
    internal int DataSegments { get; }
    internal int Names { get; }
}

// Mark and roll back: a finalize step that fails, or is undone, takes back exactly the records it wrote.
public sealed unsafe partial class RecordWriter
{
    /// <summary>Why the writer last dropped an open record itself (a put that could not grow the stream), so that a
    /// caller whose callback swallowed the error reports it instead of the unbalanced records it left.</summary>
    internal Exception? AbandonedBy { get; set; }

    /// <summary>The current end of the stream, between records.</summary>
    /// <exception cref="KStateInvalidException">A record is open, or the stream is complete.</exception>
    internal StreamMark Mark()
    {
        if (_depth != 0) ThrowUnbalanced("Mark inside an open record");
        if (_complete) ThrowUnbalanced("the stream is complete");
        return new StreamMark(_segments.Count, _pos, _records, _bytes, _dataSegments.Count, _names.Added);
    }

    /// <summary>Drops every record written after <paramref name="mark"/> (and the names, segments and data segments
    /// they brought): the stream ends where it did when the mark was taken.</summary>
    /// <exception cref="KStateInvalidException">A record is open, the stream is complete, or the mark is not of this
    /// stream's past.</exception>
    internal void RollBack(StreamMark mark)
    {
        CheckAlive(); // after the Kho was disposed there is nothing to take back, and nothing may be written
        using var lease = RegionMemory.Acquire(_owner);
        if (_depth != 0) ThrowUnbalanced("RollBack inside an open record");
        if (_complete) ThrowUnbalanced("the stream is complete");
        if (mark.Segments < 1 || mark.Segments > _segments.Count || mark.DataSegments > _dataSegments.Count || mark.Records > _records
            || (mark.Segments == _segments.Count && mark.Pos > _pos))
            throw new KStateInvalidException($"stream '{Name}': the mark is not a point this stream has passed");
        FreeDataSegmentsFrom(mark.DataSegments);
        while (_segments.Count > mark.Segments)
        {
            _memory.Free(_segments[^1].Phys, _segments[^1].Order);
            _segments.RemoveAt(_segments.Count - 1);
            _segmentPtrs.RemoveAt(_segmentPtrs.Count - 1);
        }
        _seg = (byte*)_segmentPtrs[^1];
        _segSize = Kho.PageSize << _segments[^1].Order;
        new Span<byte>(_seg + mark.Pos, _segSize - mark.Pos).Clear(); // the zero tail readers check
        _pos = mark.Pos;
        _records = mark.Records;
        _bytes = mark.Bytes;
        _names.RemoveAddedSince(mark.Names);
    }
}
