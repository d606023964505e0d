namespace KState.Core.Records;

/// <summary>Section types of a record (docs/FORMAT.md, "Record header").</summary>
internal enum RecordType : ushort
{
    /// <summary>A state record: one object, found by (state id, instance id).</summary>
    Main = 1,
    /// <summary>A subsection, nested in a main record's payload.</summary>
    Subsection = 2,
    /// <summary>A nested struct, nested in a record's payload.</summary>
    Nested = 3,
    /// <summary>The names table: ids and their names.</summary>
    Names = 4,
    /// <summary>The schema: the saver's descriptions.</summary>
    Schema = 5,
    /// <summary>Opaque data of the layers above (sessions, ...), found by (state id, instance id) like a main record.</summary>
    Data = 6,
    /// <summary>The end marker: closes a stream.</summary>
    End = 15,
}

/// <summary>Byte layout constants of the stream format. docs/FORMAT.md is the authority; this mirrors it.</summary>
internal static class Format
{
    public const uint Version = 1;

    // Root blob, the KHO subtree "kstate".
    public const ulong RootMagic = 0x3130_4554_4154_534B; // "KSTATE01"
    public const int RootHeaderBytes = 24;
    public const int RootEntryBytes = 96;
    public const int MaxNameBytes = 63;

    // Segment header.
    public const uint SegmentMagic = 0x4745_534B; // "KSEG"
    public const int SegmentHeaderBytes = 64;

    // Record header.
    public const int RecordHeaderBytes = 40;
    public const int RecordAlign = 8;
    public const int MaxNesting = 16;

    public const int FirstSegmentOrder = 2;   // 16 KiB; later segments double up to the largest folio
    public const int MaxSegmentOrder = 10;

    public static int Align8(int n) => (n + 7) & ~7;
}
