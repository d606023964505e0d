using System.Runtime.InteropServices;

namespace KState.Fuzz;

/// <summary>
/// Makes the corpora from a real region: a small generation saves described objects through the registry and a
/// session, then finalizes, so the region holds a committed handover with records, a schema and a session directory.
/// </summary>
internal static unsafe class Seeds
{
    private const ulong RegionSize = 512 << 10;

    [StructLayout(LayoutKind.Sequential)]
    private struct Inner
    {
        public int X;
        public short Y;
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct Thing
    {
        public long A;
        public int Count;
        public Ptr<ulong> Values;
        public Inner Inner;
        public Folio Page;
        public Ptr<Inner> Kept;     // in preserved memory, handed over in place
        public uint KeptCount;
    }

    private static readonly KStateDescription InnerDescription = KStateDescriptionBuilder<Inner>.Create("fuzz/inner", 1, 1)
        .Base((ref Inner i) => ref i.X)
        .Base((ref Inner i) => ref i.Y)
        .Build();

    private static readonly KStateDescription ThingDescription = KStateDescriptionBuilder<Thing>.Create("fuzz/thing", 2, 1)
        .Base((ref Thing t) => ref t.A)
        .Base((ref Thing t) => ref t.Count)
        .Pointer((ref Thing t) => ref t.Values, count: 8, countMember: "Count")
        .Struct((ref Thing t) => ref t.Inner, InnerDescription)
        .Folio((ref Thing t) => ref t.Page)
        .PreservedArray((ref Thing t) => ref t.Kept, InnerDescription, (ref Thing t) => ref t.KeptCount)
        .Build();

    public static int Write(string dir)
    {
        Directory.CreateDirectory(Path.Combine(dir, "boot"));
        Directory.CreateDirectory(Path.Combine(dir, "stream"));
        string region = $"/dev/shm/kstate-fuzz-seed-{Environment.ProcessId}";
        try
        {
            Generation(region);
            var image = File.ReadAllBytes(region);
            string template = Path.Combine(dir, "template.region");
            File.Delete(template);
            File.Copy(region, template);
            File.SetUnixFileMode(template, UnixFileMode.UserRead | UnixFileMode.UserWrite);

            // The area's unused tail and a segment's zero tail are left out: the targets pad with zeros again.
            var parts = BootTarget.Locate(template, image);
            byte[] boot = [.. image.AsSpan(0, parts.Metadata), .. image.AsSpan(parts.AreaOffset, parts.AreaUsed)];
            foreach (byte mode in (ReadOnlySpan<byte>)[0, 1])
                File.WriteAllBytes(Path.Combine(dir, "boot", $"handover-mode{mode}"), [mode, .. boot]);
            var segments = StreamTarget.FirstSegments(template);
            for (int i = 0; i < segments.Count; i++)
            {
                var segment = image.AsSpan(segments[i].Offset, segments[i].Size);
                int length = segment.LastIndexOfAnyExcept((byte)0) + 1;
                foreach (byte mode in (ReadOnlySpan<byte>)[0, 1])
                    File.WriteAllBytes(Path.Combine(dir, "stream", $"stream{i}-mode{mode}"), [mode, (byte)i, .. segment[..length]]);
            }
            Console.WriteLine($"{dir}: template.region ({image.Length} bytes; boot seeds of {boot.Length + 1} bytes: metadata {parts.Metadata}, handover area {parts.AreaUsed} of {parts.AreaSize}), {segments.Count} streams");
            return 0;
        }
        finally
        {
            Kho.RemoveRegion(region);
        }
    }

    private static void Generation(string path)
    {
        using var kho = Kho.Init(path, RegionSize);
        using var streams = new KStateStreams(kho);
        var registry = new KStateRegistry(streams);
        var sessions = new KStateSessions(streams) { Version = "kstate-fuzz seed" };

        var thing = (Thing*)NativeMemory.AllocZeroed((nuint)sizeof(Thing));
        var values = (ulong*)NativeMemory.Alloc(8 * sizeof(ulong));
        for (int i = 0; i < 8; i++) values[i] = 0x1111_1111UL * (ulong)(i + 1);
        thing->A = -42;
        thing->Count = 5;
        thing->Values = new Ptr<ulong>(values);
        thing->Inner = new Inner { X = 7, Y = -3 };
        thing->Page = kho.AllocFolio(0);
        kho.FolioSpan(thing->Page).Fill(0x5A);
        thing->Kept = new Ptr<Inner>((Inner*)kho.DangerousFolioAddress(kho.AllocPreserve(3 * (ulong)sizeof(Inner))));
        thing->KeptCount = 3;
        registry.Register(ThingDescription, thing, 1);
        registry.Save(InnerDescription, &thing->Inner, 2);

        var inner = (Inner*)NativeMemory.AllocZeroed((nuint)sizeof(Inner));
        *inner = new Inner { X = 99, Y = 1 };
        sessions.Create("fuzz/session").SaveState(InnerDescription, inner, 3);
        kho.AddSubtree("fuzz", "seed"u8);
        kho.FinalizeHandover();
    }
}
