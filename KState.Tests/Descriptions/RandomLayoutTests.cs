using CsCheck;

namespace KState.Tests.Descriptions;

/// <summary>Random struct layouts over a byte buffer: generated field lists, saved and restored.</summary>
public unsafe class RandomLayoutTests
{
    private sealed record Layout(int Size, (int Offset, int Size, int Count, int Version)[] Fields, int DescVersion);

    private static readonly Gen<Layout> GenLayout =
        Gen.Select(Gen.Int[1, 16], Gen.Int[1, 4], Gen.Int[0, 3], Gen.Int[1, 3]).Array[1, 12]
            .Select(Gen.Int[1, 3], (specs, descVersion) =>
            {
                int at = 0;
                var fields = new List<(int, int, int, int)>();
                foreach (var (size, count, gap, version) in specs)
                {
                    at += gap;
                    fields.Add((at, size, count, Math.Min(version, descVersion) == 1 ? 0 : Math.Min(version, descVersion)));
                    at += size * count;
                }
                return new Layout(at + 3, [.. fields], descVersion);
            });

    /// <summary>The layout as version <paramref name="version"/> of the program saw it: fields introduced later are not there.</summary>
    private static KStateDescription Describe(Layout l, int version) =>
        KStateDescription.Create("acme-test/random", 1, version, 1, l.Size,
            l.Fields.Select((f, i) => new KStateField { Name = $"f{i}", Offset = f.Offset, Size = f.Size, Count = f.Count, Kind = FieldKind.Base, VersionId = f.Version })
                .Where(f => f.VersionId <= version));

    [Test]
    public void Random_layouts_round_trip_and_leave_gaps_alone()
    {
        Gen.Select(GenLayout, Gen.Int).Sample((layout, seed) =>
        {
            var d = Describe(layout, layout.DescVersion);
            var src = new byte[layout.Size];
            new Random(seed).NextBytes(src);
            var dst = new byte[layout.Size];
            dst.AsSpan().Fill(0xEE);
            using var h = new Harness();
            fixed (byte* s = src) d.Save(h.Writer, s, 0);
            var r = h.Reader();
            fixed (byte* t = dst) d.Restore(r, t, 0);
            var covered = new bool[layout.Size];
            foreach (var (off, size, count, _) in layout.Fields)
                for (int i = off; i < off + size * count; i++) covered[i] = true;
            for (int i = 0; i < layout.Size; i++)
                if (dst[i] != (covered[i] ? src[i] : 0xEE)) return false;
            return true;
        }, iter: 300);
    }

    [Test]
    public void Random_layouts_restore_older_records_keeping_newer_fields()
    {
        GenLayout.Sample(layout =>
        {
            if (layout.DescVersion < 2) return true;
            var old = Describe(layout, 1);
            var current = Describe(layout, layout.DescVersion);
            var src = new byte[layout.Size];
            src.AsSpan().Fill(0x11);
            var dst = new byte[layout.Size];
            dst.AsSpan().Fill(0x22);
            using var h = new Harness();
            fixed (byte* s = src) old.Save(h.Writer, s, 0);
            var r = h.Reader();
            fixed (byte* t = dst) current.Restore(r, t, 0);
            foreach (var (off, size, count, version) in layout.Fields)
            {
                byte expected = version <= 1 ? (byte)0x11 : (byte)0x22;
                for (int i = off; i < off + size * count; i++)
                    if (dst[i] != expected) return false;
            }
            return true;
        }, iter: 300);
    }
}
