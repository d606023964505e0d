using System.Runtime.InteropServices;

namespace KState.TestHost.Shared;

/// <summary>An element of an in-place array, version 1: 16 bytes.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct Entry
{
    public ulong Key;
    public uint Value;
    public uint Flags;
}

/// <summary>The same element in version 2: a field added (at the end, so the layout changed).</summary>
[StructLayout(LayoutKind.Sequential)]
public struct EntryV2
{
    public ulong Key;
    public uint Value;
    public uint Flags;
    public ulong Added;
}

/// <summary>A table whose entries live in preserved memory, with their count in a member; and one struct alone.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct Table
{
    public Ptr<Entry> Items;
    public uint Count;
    public uint Generation;
    public Ptr<Entry> Head;
}

/// <summary>The table restored by a version whose entries have one more field.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct TableV2
{
    public Ptr<EntryV2> Items;
    public uint Count;
    public uint Generation;
    public Ptr<EntryV2> Head;
}

public static class InPlaceDescriptions
{
    public const string TableName = "acme-test/inplace-table";
    public const string EntryName = "acme-test/inplace-entry";

    public static KStateDescription EntryV1 { get; } = KStateDescriptionBuilder<Entry>.Create(EntryName, 1, 1)
        .Base((ref Entry e) => ref e.Key)
        .Base((ref Entry e) => ref e.Value)
        .Base((ref Entry e) => ref e.Flags)
        .Build();

    public static KStateDescription EntryV2 { get; } = KStateDescriptionBuilder<EntryV2>.Create(EntryName, 2, 1)
        .Base((ref EntryV2 e) => ref e.Key)
        .Base((ref EntryV2 e) => ref e.Value)
        .Base((ref EntryV2 e) => ref e.Flags)
        .Base((ref EntryV2 e) => ref e.Added, versionId: 2)
        .Build();

    public static KStateDescription Table(InPlaceIntegrity integrity) => KStateDescriptionBuilder<Table>.Create(TableName, 1, 1)
        .DefaultIntegrity(integrity)
        .Base((ref Table t) => ref t.Generation)
        .PreservedArray((ref Table t) => ref t.Items, EntryV1, (ref Table t) => ref t.Count)
        .PreservedStruct((ref Table t) => ref t.Head, EntryV1)
        .Build();

    public static KStateDescription TableV2(InPlaceIntegrity integrity) => KStateDescriptionBuilder<TableV2>.Create(TableName, 1, 1)
        .DefaultIntegrity(integrity)
        .Base((ref TableV2 t) => ref t.Generation)
        .PreservedArray((ref TableV2 t) => ref t.Items, EntryV2, (ref TableV2 t) => ref t.Count)
        .PreservedStruct((ref TableV2 t) => ref t.Head, EntryV2)
        .Build();

    /// <summary>What entry i holds in generation g (each generation rewrites its values in place).</summary>
    public static Entry Expected(int i, int g) => new() { Key = (ulong)i * 0x9E37_79B9 + 1, Value = (uint)(i + 1000 * g), Flags = (uint)g };
}
