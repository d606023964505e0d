using System.Runtime.CompilerServices;

namespace KState.Tests.Generators;

// Structs described by the generator (it runs on this project): one member of every kind, and the same descriptions
// written with the builder by hand, for GeneratedDescriptionTests to compare.

[KStateDescribed("acme-gen/point", Version = 2, MinVersion = 1)]
public partial struct GenPoint
{
    public int X;
    [KStateField(Version = 2)] public int Y;
}

[InlineArray(4)]
public struct GenInts4
{
    private int _e;
}

[InlineArray(2)]
public struct GenFolios2
{
    private Folio _e;
}

[InlineArray(2)]
public struct GenHandles2
{
    private ulong _e;
}

[InlineArray(3)]
public struct GenPoints3
{
    private GenPoint _e;
}

[KStateDescribed("acme-gen/everything", Version = 3, MinVersion = 1)]
[KStateSubsection("acme-gen/everything/extra", Version = 2, MinVersion = 1, Needed = nameof(HasExtra))]
public partial struct GenEverything
{
    public long Plain;
    public byte Used;
    [KStateField(CountField = nameof(Used))] public GenInts4 Items;
    [KStateDeprecated(LastVersion = 2)] internal static uint oldSpeed;
    [KStatePointer, KStateField(Count = 8, CountField = nameof(Used))] public Ptr<long> Dynamic;
    [KStatePointer] public Ptr<ulong> Single;
    [KStateKhoPointer, KStateField(Version = 2)] public Ptr<byte> InKho;
    public Folio Ring;
    [KStateFolio] public GenFolios2 Rings;
    [KStateFolio] public ulong RawRing;
    [KStateFolio] public GenHandles2 RawRings;
    public GenPoint Origin;
    public ushort PointsUsed;
    [KStateField(CountField = nameof(PointsUsed))] public GenPoints3 Points;
    [KStateIgnore] public int Cache;
    [KStateField(Subsection = "acme-gen/everything/extra")] public int Extra;
    [KStateField(Subsection = "acme-gen/everything/extra", Version = 2)] public int ExtraV2;

    public static bool SaveRefused;
    public static int LastLoadedVersion;

    private readonly bool HasExtra() => Extra != 0;

    private partial int PreSave() => SaveRefused ? -1 : 0;

    private partial int PostLoad(int versionId)
    {
        LastLoadedVersion = versionId;
        return 0;
    }

    /// <summary>The same description, written with the builder by hand.</summary>
    internal static KStateDescription<GenEverything> ByHand(KStateDescription<GenPoint> point)
    {
        var extra = KStateDescriptionBuilder<GenEverything>.Create("acme-gen/everything/extra", 2, 1)
            .Base((ref GenEverything e) => ref e.Extra)
            .Base((ref GenEverything e) => ref e.ExtraV2, versionId: 2)
            .Needed((ref GenEverything e) => e.HasExtra())
            .Build();
        return KStateDescriptionBuilder<GenEverything>.Create("acme-gen/everything", 3, 1)
            .Base((ref GenEverything e) => ref e.Plain)
            .Base((ref GenEverything e) => ref e.Used)
            .Array((ref GenEverything e) => ref e.Items[0], 4, nameof(Used))
            .Deprecated("oldSpeed", sizeof(uint), 2)
            .Pointer((ref GenEverything e) => ref e.Dynamic, 8, nameof(Used))
            .Pointer((ref GenEverything e) => ref e.Single)
            .KhoPointer((ref GenEverything e) => ref e.InKho, versionId: 2)
            .Folio((ref GenEverything e) => ref e.Ring)
            .Folio((ref GenEverything e) => ref e.Rings[0], 2)
            .Folio((ref GenEverything e) => ref Unsafe.As<ulong, Folio>(ref e.RawRing), expr: "e.RawRing")
            .Folio((ref GenEverything e) => ref Unsafe.As<ulong, Folio>(ref e.RawRings[0]), 2, expr: "e.RawRings")
            .Struct((ref GenEverything e) => ref e.Origin, point)
            .Base((ref GenEverything e) => ref e.PointsUsed)
            .Struct((ref GenEverything e) => ref e.Points[0], point, 3, nameof(PointsUsed))
            .Subsection(extra)
            .PreSave((ref GenEverything e) => e.PreSave())
            .PostLoad((ref GenEverything e, int v) => e.PostLoad(v))
            .Build();
    }
}

[KStateDescribed("acme-gen/record")]
public partial record struct GenRecord
{
    public int A;
    public Folio Page;
}

public static partial class GenHolder
{
    [KStateDescribed("acme-gen/nested")]
    internal partial struct Counter
    {
        public ulong Value;
    }
}
