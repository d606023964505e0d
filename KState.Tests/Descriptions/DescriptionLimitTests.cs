using KState.Core.Ids;
using KState.Core.Records;

namespace KState.Tests.Descriptions;

/// <summary>Every limit the reader enforces is enforced when a description is built (issue 18, item 4 and minors).</summary>
public unsafe class DescriptionLimitTests
{
    private static readonly KStateField X = new() { Name = "x", Offset = 0, Size = 4, Kind = FieldKind.Base };

    private static string NameOfBytes(int bytes) => "acme-test/" + new string('n', bytes - "acme-test/".Length);

    [Test]
    public void A_description_name_of_the_names_table_limit_round_trips_and_one_byte_more_is_refused_at_build()
    {
        string longest = NameOfBytes(NameTable.MaxNameBytes);
        var d = KStateDescription.Create(longest, 1, 1, 4, [X]);
        using var h = new Harness();
        int value = 17, back = 0;
        h.Save(d, ref value, 3);
        h.Writer.DefineName(d.Id, d.Name);
        var reader = h.Reader();
        d.Restore(reader, ref back, 3);
        using (Assert.EnterMultipleScope())
        {
            Assert.That(back, Is.EqualTo(17));
            Assert.That(reader.Names.NameOf(d.Id), Is.EqualTo(longest), "the reader accepts the longest name the writer lets through");
            // An explicit id (as the C ABI gives) skips hashing the name: the length is checked all the same.
            var e = Assert.Throws<KStateInvalidException>(() => KStateDescription.Create(NameOfBytes(NameTable.MaxNameBytes + 1), 0x1234, 1, 1, 4, [X]));
            Assert.That(e!.Message, Does.Contain($"{NameTable.MaxNameBytes}"));
            Assert.Throws<KStateInvalidException>(() => new NameTable().Add(1, NameOfBytes(NameTable.MaxNameBytes + 1)));
        }
    }

    [TestCase(int.MaxValue, 0)]
    [TestCase(int.MinValue, 0)]
    [TestCase(0, int.MinValue)]
    [TestCase(int.MaxValue, int.MinValue)]
    public void Extreme_versions_are_invalid_not_an_overflow(int version, int min)
    {
        Assert.Throws<KStateInvalidException>(() => KStateDescription.Create("acme-test/versions", version, min, 4, [X]));
    }

    [Test]
    public void The_newest_version_alone_is_a_valid_range()
    {
        var d = KStateDescription.Create("acme-test/versions-max", int.MaxValue, int.MaxValue, 4, [X]);
        Assert.That(d.VersionId, Is.EqualTo(int.MaxValue));
    }

    /// <summary>A chain of descriptions, each nesting the previous one: level k's records go k nested records deep.</summary>
    private static KStateDescription Chain(int levels)
    {
        var d = KStateDescription.Create("acme-test/depth-0", 1, 1, 4, [X]);
        for (int k = 1; k <= levels; k++)
            d = KStateDescription.Create($"acme-test/depth-{k}", 1, 1, 4, [new KStateField { Name = "inner", Size = 4, Kind = FieldKind.Struct, Nested = d }]);
        return d;
    }

    [Test]
    public void Nesting_as_deep_as_a_record_allows_round_trips_and_one_level_more_is_refused_at_build()
    {
        var deepest = Chain(Format.MaxNesting);
        int value = 5, back = 0;
        using (var h = new Harness())
        {
            h.Save(deepest, ref value);
            deepest.Restore(h.Reader(), ref back, 0);
        }
        Assert.That(back, Is.EqualTo(5));
        var e = Assert.Throws<KStateInvalidException>(() =>
            KStateDescription.Create("acme-test/too-deep", 1, 1, 4, [new KStateField { Name = "inner", Size = 4, Kind = FieldKind.Struct, Nested = deepest }]));
        Assert.That(e!.Message, Does.Contain("deep"));
    }

    [Test]
    public void A_subsection_counts_towards_the_nesting_depth()
    {
        var deepest = Chain(Format.MaxNesting);
        Assert.Throws<KStateInvalidException>(() => KStateDescription.Create("acme-test/too-deep-sub", 1, 1, 4, [X], [deepest]));
    }

    [Test]
    public void A_pointer_whose_size_times_count_overflows_is_refused_at_build()
    {
        var e = Assert.Throws<KStateInvalidException>(() => KStateDescription.Create("acme-test/huge-pointer", 1, 1, 8,
            [new KStateField { Name = "p", Offset = 0, Size = 0x10000, Count = 0x10000, Kind = FieldKind.Pointer }]));
        Assert.That(e!.Message, Does.Contain("4294967296 bytes"));
    }

    [Test]
    public void A_base_array_larger_than_a_record_is_refused_at_build_and_the_largest_that_fits_saves()
    {
        int fits = KStateDescription.MaxRecordPayload;
        Assert.Throws<KStateInvalidException>(() => KStateDescription.Create("acme-test/huge-array", 1, 1, fits + 1,
            [new KStateField { Name = "a", Offset = 0, Size = 1, Count = fits + 1, Kind = FieldKind.Base }]));

        var d = KStateDescription.Create("acme-test/largest-array", 1, 1, fits, [new KStateField { Name = "a", Offset = 0, Size = 1, Count = fits, Kind = FieldKind.Base }]);
        var bytes = new byte[fits];
        bytes[^1] = 9;
        using var h = new Harness(8 << 20);
        fixed (byte* p = bytes) d.Save(h.Writer, p, 0);
        var back = new byte[fits];
        fixed (byte* p = back) d.Restore(h.Reader(), p, 0);
        Assert.That(back[^1], Is.EqualTo(9));
    }

    [Test]
    public void A_custom_save_whose_put_fails_for_space_reports_no_space_not_unbalanced_records()
    {
        var d = KStateDescription.Create("acme-test/custom-nospace", 1, 1, 4, [new KStateField
        {
            Name = "c",
            Size = 4,
            Kind = FieldKind.Custom,
            Save = (w, obj, f) =>
            {
                try { w.PutSpan(8 << 20); }
                catch (KStateNoSpaceException) { } // as a C callback ignoring the put's -ENOSPC
            },
            Restore = (ref c, obj, f) => { },
        }]);
        using var h = new Harness();
        int value = 0;
        Assert.Throws<KStateNoSpaceException>(() => h.Save(d, ref value));
        h.Writer.WriteRecord(1, 1, 1, [1, 2, 3]); // the stream goes on
    }
}
