using System.Buffers.Binary;
using System.Diagnostics;
using System.Text;
using KState.Machine.Handover;
using NUnit.Framework;

namespace KState.Tests.Machine;

[TestFixture]
public sealed class FdtTests
{
    private const ulong Address = 0x1122334455667788;

    /// <summary>A small tree using every property kind, nesting and a repeated property name.</summary>
    private static byte[] SampleBlob()
    {
        var b = new FdtBuilder();
        b.BeginNode("");
        b.PropertyString("compatible", "kho-v1");
        b.PropertyU64("fdt", Address);
        b.BeginNode("memory");
        b.PropertyU32("count", 42);
        b.PropertyBytes("odd", [1, 2, 3]);
        b.PropertyBytes("empty", []);
        b.BeginNode("kstate@1");
        b.PropertyString("compatible", "kstate,region v1");
        b.EndNode();
        b.EndNode();
        b.BeginNode("other");
        b.PropertyU64("fdt", 7);
        b.EndNode();
        b.EndNode();
        return b.Finish();
    }

    private static uint HeaderField(byte[] blob, int offset) => BinaryPrimitives.ReadUInt32BigEndian(blob.AsSpan(offset));

    private static void SetHeaderField(byte[] blob, int offset, uint value) => BinaryPrimitives.WriteUInt32BigEndian(blob.AsSpan(offset), value);

    /// <summary>Parse must succeed or fail with KStateCorruptException carrying an offset inside the blob; nothing else.</summary>
    private static void ParseOrCorrupt(byte[] blob, string what)
    {
        try
        {
            FdtReader.Parse(blob);
        }
        catch (KStateCorruptException e)
        {
            if (e.Offset < 0 || e.Offset > blob.Length) Assert.Fail($"{what}: offset {e.Offset} outside the blob ({e.Message})");
        }
        catch (Exception e)
        {
            Assert.Fail($"{what}: {e.GetType().Name}: {e.Message}");
        }
    }

    private static KStateCorruptException Corrupt(byte[] blob) => Assert.Throws<KStateCorruptException>(() => FdtReader.Parse(blob))!;

    /// <summary>Hand-assembles a structure block, for malformations the builder refuses to write.</summary>
    private sealed class RawStruct
    {
        private readonly List<byte> _bytes = [];

        public RawStruct U32(uint v)
        {
            _bytes.AddRange([(byte)(v >> 24), (byte)(v >> 16), (byte)(v >> 8), (byte)v]);
            return this;
        }

        public RawStruct Begin(string name)
        {
            U32(FdtReader.TokenBeginNode);
            _bytes.AddRange(Encoding.ASCII.GetBytes(name + "\0"));
            while (_bytes.Count % 4 != 0) _bytes.Add(0);
            return this;
        }

        public RawStruct End() => U32(FdtReader.TokenEndNode);

        public RawStruct Prop(uint nameOff, params byte[] value)
        {
            U32(FdtReader.TokenProp).U32((uint)value.Length).U32(nameOff);
            _bytes.AddRange(value);
            while (_bytes.Count % 4 != 0) _bytes.Add(0);
            return this;
        }

        public RawStruct Raw(params byte[] bytes)
        {
            _bytes.AddRange(bytes);
            return this;
        }

        /// <summary>A blob laid out as the builder lays it out, around this structure block and "name\0" strings.</summary>
        public byte[] Blob(string strings = "name\0")
        {
            byte[] s = [.. _bytes];
            byte[] str = Encoding.ASCII.GetBytes(strings);
            byte[] blob = new byte[56 + s.Length + str.Length];
            SetHeaderField(blob, 0, FdtReader.Magic);
            SetHeaderField(blob, 4, (uint)blob.Length);
            SetHeaderField(blob, 8, 56);
            SetHeaderField(blob, 12, (uint)(56 + s.Length));
            SetHeaderField(blob, 16, 40);
            SetHeaderField(blob, 20, 17);
            SetHeaderField(blob, 24, 16);
            SetHeaderField(blob, 32, (uint)str.Length);
            SetHeaderField(blob, 36, (uint)s.Length);
            s.CopyTo(blob, 56);
            str.CopyTo(blob, 56 + s.Length);
            return blob;
        }
    }

    [Test]
    public void RoundTrip_PreservesTreeAndValues()
    {
        FdtNode root = FdtReader.Parse(SampleBlob());

        Assert.That(root.Name, Is.EqualTo(""));
        Assert.That(root.Properties.Select(p => p.Name), Is.EqualTo(new[] { "compatible", "fdt" }));
        Assert.That(root.Children.Select(c => c.Name), Is.EqualTo(new[] { "memory", "other" }));
        Assert.That(root.FindProperty("compatible")!.TryGetString(out string compatible), Is.True);
        Assert.That(compatible, Is.EqualTo("kho-v1"));
        Assert.That(root.FindProperty("fdt")!.TryGetU64(out ulong fdt), Is.True);
        Assert.That(fdt, Is.EqualTo(Address));

        FdtNode memory = root.FindChild("memory")!;
        Assert.That(memory.FindProperty("count")!.TryGetU32(out uint count), Is.True);
        Assert.That(count, Is.EqualTo(42u));
        Assert.That(memory.FindProperty("odd")!.Value, Is.EqualTo(new byte[] { 1, 2, 3 }));
        Assert.That(memory.FindProperty("empty")!.Value, Is.Empty);

        FdtNode region = memory.FindChild("kstate@1")!;
        Assert.That(region.Children, Is.Empty);
        Assert.That(region.FindProperty("compatible")!.TryGetString(out string regionCompatible), Is.True);
        Assert.That(regionCompatible, Is.EqualTo("kstate,region v1"));

        Assert.That(root.FindChild("other")!.FindProperty("fdt")!.TryGetU64(out ulong other), Is.True);
        Assert.That(other, Is.EqualTo(7ul));
        Assert.That(root.FindChild("missing"), Is.Null);
        Assert.That(root.FindProperty("missing"), Is.Null);
    }

    [Test]
    public void RoundTrip_ValueOffsetPointsAtTheValue()
    {
        byte[] blob = SampleBlob();
        FdtProperty fdt = FdtReader.Parse(blob).FindProperty("fdt")!;
        Assert.That(BinaryPrimitives.ReadUInt64BigEndian(blob.AsSpan((int)fdt.ValueOffset)), Is.EqualTo(Address));
    }

    [Test]
    public void Header_HasTheSpecifiedFields()
    {
        byte[] blob = SampleBlob();
        uint structSize = HeaderField(blob, 36);
        uint stringsSize = HeaderField(blob, 32);

        Assert.That(HeaderField(blob, 0), Is.EqualTo(0xd00dfeedu), "magic");
        Assert.That(HeaderField(blob, 4), Is.EqualTo((uint)blob.Length), "totalsize");
        Assert.That(HeaderField(blob, 8), Is.EqualTo(56u), "off_dt_struct");
        Assert.That(HeaderField(blob, 12), Is.EqualTo(56u + structSize), "off_dt_strings");
        Assert.That(HeaderField(blob, 16), Is.EqualTo(40u), "off_mem_rsvmap");
        Assert.That(HeaderField(blob, 20), Is.EqualTo(17u), "version");
        Assert.That(HeaderField(blob, 24), Is.EqualTo(16u), "last_comp_version");
        Assert.That(HeaderField(blob, 28), Is.EqualTo(0u), "boot_cpuid_phys");
        Assert.That(blob.AsSpan(40, 16).ToArray(), Is.EqualTo(new byte[16]), "memory reservation terminator");
        Assert.That(structSize % 4, Is.EqualTo(0u));
        Assert.That(HeaderField(blob, 56 + (int)structSize - 4), Is.EqualTo(9u), "FDT_END closes the structure block");
        // Property names are stored once each, however many nodes use them.
        Assert.That(Encoding.ASCII.GetString(blob, 56 + (int)structSize, (int)stringsSize),
            Is.EqualTo("compatible\0fdt\0count\0odd\0empty\0"));
    }

    /// <summary>Runs dtc with <paramref name="arguments"/>, returning its standard output; ignores the test when dtc is missing.</summary>
    private static string RunDtc(params string[] arguments)
    {
        string? dtc = Environment.GetEnvironmentVariable("PATH")?.Split(Path.PathSeparator)
            .Select(dir => Path.Combine(dir, "dtc")).FirstOrDefault(File.Exists);
        if (dtc is null) Assert.Ignore("dtc (device-tree-compiler) is not on PATH");

        var start = new ProcessStartInfo(dtc!, arguments) { RedirectStandardOutput = true, RedirectStandardError = true };
        using var process = Process.Start(start)!;
        Task<string> stderr = process.StandardError.ReadToEndAsync();
        string stdout = process.StandardOutput.ReadToEnd();
        Assert.That(process.WaitForExit(10_000), Is.True, "dtc timed out");
        Assert.That(process.ExitCode, Is.EqualTo(0), stderr.Result);
        return stdout;
    }

    [Test]
    public void Dtc_DecodesTheBuilderOutput()
    {
        string file = Path.Combine(Path.GetTempPath(), $"kstate-fdt-{Guid.NewGuid():N}.dtb");
        try
        {
            File.WriteAllBytes(file, SampleBlob());
            string dts = RunDtc("-I", "dtb", "-O", "dts", file);

            Assert.That(dts, Does.Contain("compatible = \"kho-v1\";"));
            Assert.That(dts, Does.Contain("fdt = <0x11223344 0x55667788>;"));
            Assert.That(dts, Does.Contain("count = <0x2a>;"));
            Assert.That(dts, Does.Contain("odd = [01 02 03];"));
            Assert.That(dts, Does.Contain("empty;"));
            Assert.That(dts, Does.Contain("kstate@1 {"));
            Assert.That(dts, Does.Contain("compatible = \"kstate,region v1\";"));
            Assert.That(dts, Does.Contain("fdt = <0x00 0x07>;").Or.Contain("fdt = <0x0 0x7>;"));
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Test]
    public void Dtc_CompiledBlobParses()
    {
        // dtc's own layout, with a real reservation entry and tail padding, must be accepted too.
        string dir = Path.Combine(Path.GetTempPath(), $"kstate-fdt-{Guid.NewGuid():N}");
        Directory.CreateDirectory(dir);
        try
        {
            File.WriteAllText(Path.Combine(dir, "t.dts"),
                "/dts-v1/;\n/memreserve/ 0x10000000 0x4000;\n/ { compatible = \"x,y\"; n { v = /bits/ 64 <0x1122334455667788>; }; };\n");
            RunDtc("-I", "dts", "-O", "dtb", "-p", "64", "-o", Path.Combine(dir, "t.dtb"), Path.Combine(dir, "t.dts"));
            FdtNode root = FdtReader.Parse(File.ReadAllBytes(Path.Combine(dir, "t.dtb")));

            Assert.That(root.FindProperty("compatible")!.TryGetString(out string compatible), Is.True);
            Assert.That(compatible, Is.EqualTo("x,y"));
            Assert.That(root.FindChild("n")!.FindProperty("v")!.TryGetU64(out ulong v), Is.True);
            Assert.That(v, Is.EqualTo(Address));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Test]
    public void EveryTruncation_IsCorrupt()
    {
        byte[] blob = SampleBlob();
        for (int length = 0; length < blob.Length; length++)
        {
            byte[] cut = blob[..length];
            Assert.That(() => FdtReader.Parse(cut), Throws.TypeOf<KStateCorruptException>(), $"length {length}");
        }
    }

    [Test]
    public void EverySingleByteChange_ParsesOrIsCorrupt()
    {
        byte[] blob = SampleBlob();
        for (int i = 0; i < blob.Length; i++)
        {
            foreach (bool flip in new[] { true, false })
            {
                byte[] changed = (byte[])blob.Clone();
                changed[i] = flip ? (byte)(changed[i] ^ 0xFF) : (byte)0;
                ParseOrCorrupt(changed, $"{(flip ? "xor 0xFF" : "zero")} at {i}");
            }
        }
    }

    [Test]
    public void RandomDamage_ParsesOrIsCorrupt()
    {
        // Several bytes at once, and whole header words, reach states single changes cannot (e.g. huge sizes).
        byte[] blob = SampleBlob();
        var random = new Random(20240601);
        for (int round = 0; round < 3000; round++)
        {
            byte[] changed = (byte[])blob.Clone();
            if (round % 2 == 0)
                SetHeaderField(changed, 4 * random.Next(1, 10), (uint)random.Next(-200, 400));
            for (int n = random.Next(1, 4); n > 0; n--)
                changed[random.Next(changed.Length)] = (byte)random.Next(256);
            ParseOrCorrupt(changed, $"round {round}");
        }
    }

    [Test]
    public void BadMagic_IsCorruptAtOffsetZero()
    {
        byte[] blob = SampleBlob();
        blob[3] ^= 1;
        Assert.That(Corrupt(blob).Offset, Is.EqualTo(0));
    }

    [TestCase(16u, 16u)]
    [TestCase(18u, 16u)]
    [TestCase(17u, 18u)]
    public void WrongVersion_IsCorrupt(uint version, uint lastCompatible)
    {
        byte[] blob = SampleBlob();
        SetHeaderField(blob, 20, version);
        SetHeaderField(blob, 24, lastCompatible);
        Corrupt(blob);
    }

    [Test]
    public void TotalSizeLargerThanBlob_IsCorrupt()
    {
        byte[] blob = SampleBlob();
        SetHeaderField(blob, 4, (uint)blob.Length + 1);
        Assert.That(Corrupt(blob).Offset, Is.EqualTo(4));
        SetHeaderField(blob, 4, uint.MaxValue);
        Corrupt(blob);
    }

    [Test]
    public void TotalSizeSmallerThanBlob_IgnoresTheTail()
    {
        byte[] blob = [.. SampleBlob(), 0xde, 0xad];
        Assert.That(FdtReader.Parse(blob).Children, Has.Count.EqualTo(2));
    }

    [Test]
    public void NameOffsetOutOfRange_IsCorruptAtTheField()
    {
        byte[] blob = new RawStruct().Begin("").Prop(5, 1).End().U32(FdtReader.TokenEnd).Blob();
        Assert.That(Corrupt(blob).Offset, Is.EqualTo(56 + 8 + 8)); // BEGIN_NODE "" is 8 bytes; nameoff follows token and len
        byte[] huge = new RawStruct().Begin("").Prop(uint.MaxValue, 1).End().U32(FdtReader.TokenEnd).Blob();
        Corrupt(huge);
    }

    [Test]
    public void PropertyNameUnterminatedInStrings_IsCorrupt()
    {
        Corrupt(new RawStruct().Begin("").Prop(0, 1).End().U32(FdtReader.TokenEnd).Blob("name"));
    }

    [Test]
    public void UnterminatedNodeName_IsCorrupt()
    {
        // The strings block right after holds NULs: the name must still end inside the structure block.
        byte[] blob = new RawStruct().Begin("").U32(FdtReader.TokenBeginNode).Raw("abcd"u8.ToArray()).Blob();
        Assert.That(Corrupt(blob).Offset, Is.EqualTo(56 + 8 + 4));
    }

    [Test]
    public void MissingEnd_IsCorrupt()
    {
        Corrupt(new RawStruct().Begin("").End().Blob());
        Corrupt(new RawStruct().Begin("").End().U32(FdtReader.TokenNop).Blob());
    }

    [Test]
    public void DepthLimit_AcceptsMaxAndRefusesDeeper()
    {
        static byte[] Nested(int depth)
        {
            var raw = new RawStruct().Begin("");
            for (int i = 1; i < depth; i++) raw.Begin($"n{i}");
            for (int i = 0; i < depth; i++) raw.End();
            return raw.U32(FdtReader.TokenEnd).Blob();
        }

        Assert.That(FdtReader.Parse(Nested(FdtReader.MaxDepth)).Children, Has.Count.EqualTo(1));
        Corrupt(Nested(FdtReader.MaxDepth + 1));
    }

    [Test]
    public void ItemLimit_RefusesMore()
    {
        // Exactly the limit parsing is covered by Builder_RefusesMoreItemsThanTheReaderLimit.
        var raw = new RawStruct().Begin("");
        for (int i = 1; i <= FdtReader.MaxItems; i++) raw.Begin($"n{i}").End();
        Corrupt(raw.End().U32(FdtReader.TokenEnd).Blob());
    }

    private static readonly TestCaseData[] Malformed =
    [
        new TestCaseData(new RawStruct().U32(FdtReader.TokenEnd)).SetName("No root node"),
        new TestCaseData(new RawStruct().Begin("x").End().U32(FdtReader.TokenEnd)).SetName("Root with a name"),
        new TestCaseData(new RawStruct().Begin("").End().Begin("").End().U32(FdtReader.TokenEnd)).SetName("Two roots"),
        new TestCaseData(new RawStruct().Begin("").End().End().U32(FdtReader.TokenEnd)).SetName("Extra END_NODE"),
        new TestCaseData(new RawStruct().Begin("").U32(FdtReader.TokenEnd)).SetName("END inside the root"),
        new TestCaseData(new RawStruct().Begin("").End().Prop(0, 1).U32(FdtReader.TokenEnd)).SetName("Property after root"),
        new TestCaseData(new RawStruct().Begin("").U32(5).End().U32(FdtReader.TokenEnd)).SetName("Unknown token"),
        new TestCaseData(new RawStruct().Begin("").Begin("a b").End().End().U32(FdtReader.TokenEnd)).SetName("Space in node name"),
        new TestCaseData(new RawStruct().Begin("").Begin(new string('a', 256)).End().End().U32(FdtReader.TokenEnd)).SetName("Node name too long"),
        new TestCaseData(new RawStruct().Begin("").Begin("a").End().Begin("a").End().End().U32(FdtReader.TokenEnd)).SetName("Duplicate node"),
        new TestCaseData(new RawStruct().Begin("").Prop(0, 1).Prop(0, 2).End().U32(FdtReader.TokenEnd)).SetName("Duplicate property"),
        new TestCaseData(new RawStruct().Begin("").Begin("a").End().Prop(0, 1).End().U32(FdtReader.TokenEnd)).SetName("Property after child"),
        new TestCaseData(new RawStruct().Begin("").U32(FdtReader.TokenProp).U32(100).U32(0).End().U32(FdtReader.TokenEnd)).SetName("Property longer than block"),
        new TestCaseData(new RawStruct().Begin("").End().U32(FdtReader.TokenEnd).U32(FdtReader.TokenNop)).SetName("Data after END"),
    ];

    [TestCaseSource(nameof(Malformed))]
    public void MalformedStructure_IsCorrupt(object raw) => Corrupt(((RawStruct)raw).Blob());

    [Test]
    public void InvalidPropertyName_IsCorrupt()
    {
        Corrupt(new RawStruct().Begin("").Prop(0, 1).End().U32(FdtReader.TokenEnd).Blob("na\u0001e\0"));
        Corrupt(new RawStruct().Begin("").Prop(0, 1).End().U32(FdtReader.TokenEnd).Blob("\0"));
    }

    [TestCase(8, 58u, TestName = "Structure block not 4-aligned")]
    [TestCase(8, 20u, TestName = "Structure block inside the header")]
    [TestCase(16, 44u, TestName = "Reservation map not 8-aligned")]
    [TestCase(16, 0u, TestName = "Reservation map inside the header")]
    [TestCase(12, 56u, TestName = "Strings overlap structure")]
    [TestCase(16, 56u, TestName = "Reservation map overlaps structure")]
    [TestCase(32, 0xFFFFFFF0u, TestName = "Strings size wraps")]
    [TestCase(36, 0xFFFFFFFCu, TestName = "Structure size huge")]
    public void BadLayout_IsCorruptAtTheField(int field, uint value)
    {
        byte[] blob = SampleBlob();
        if (field == 16 && value == 56) blob.AsSpan(56 + 16, 16).Clear(); // give the map a terminator inside the structure block
        SetHeaderField(blob, field, value);
        Assert.That(Corrupt(blob).Offset, Is.EqualTo(field));
    }

    [Test]
    public void UnterminatedReservationMap_IsCorrupt()
    {
        byte[] blob = SampleBlob();
        int start = (blob.Length - 8) & ~7; // fewer than 16 bytes remain for the terminator
        SetHeaderField(blob, 16, (uint)start);
        Assert.That(Corrupt(blob).Offset, Is.EqualTo(start));
    }

    [Test]
    public void NopsAreSkipped()
    {
        byte[] blob = new RawStruct().U32(FdtReader.TokenNop).Begin("").U32(FdtReader.TokenNop).Prop(0, 1).End()
            .U32(FdtReader.TokenNop).U32(FdtReader.TokenEnd).Blob();
        Assert.That(FdtReader.Parse(blob).FindProperty("name")!.Value, Is.EqualTo(new byte[] { 1 }));
    }

    [Test]
    public void Builder_RefusesMisuse()
    {
        Assert.Throws<KStateInvalidException>(() => new FdtBuilder().Finish());
        var open = new FdtBuilder();
        open.BeginNode("");
        Assert.Throws<KStateInvalidException>(() => open.Finish());
        Assert.Throws<KStateInvalidException>(() => new FdtBuilder().EndNode());
        Assert.Throws<KStateInvalidException>(() => new FdtBuilder().PropertyU32("a", 1));
        Assert.Throws<KStateInvalidException>(() => new FdtBuilder().BeginNode("root"));

        var b = new FdtBuilder();
        b.BeginNode("");
        Assert.Throws<KStateInvalidException>(() => b.BeginNode(""));
        Assert.Throws<KStateInvalidException>(() => b.PropertyU32("bad name", 1));
        Assert.Throws<KStateInvalidException>(() => b.PropertyString("s", "tab\there"));
        b.PropertyU32("a", 1);
        Assert.Throws<KStateInvalidException>(() => b.PropertyU32("a", 2));
        b.BeginNode("child");
        b.EndNode();
        Assert.Throws<KStateInvalidException>(() => b.PropertyU32("late", 1));
        b.EndNode();
        Assert.Throws<KStateInvalidException>(() => b.BeginNode(""));
        b.Finish();
        Assert.Throws<KStateInvalidException>(() => b.Finish());
    }

    [Test]
    public void Builder_RefusesDepthBeyondTheReaderLimit()
    {
        var b = new FdtBuilder();
        b.BeginNode("");
        for (int i = 1; i < FdtReader.MaxDepth; i++) b.BeginNode("n");
        Assert.Throws<KStateInvalidException>(() => b.BeginNode("n"));
    }

    [Test]
    public void Builder_RefusesMoreItemsThanTheReaderLimit()
    {
        var b = new FdtBuilder();
        b.BeginNode("");
        for (int i = 1; i < FdtReader.MaxItems; i++) b.PropertyU32($"p{i}", (uint)i);
        Assert.Throws<KStateInvalidException>(() => b.PropertyU32("one-more", 0));
        b.EndNode();
        Assert.That(FdtReader.Parse(b.Finish()).Properties, Has.Count.EqualTo(FdtReader.MaxItems - 1));
    }

    [Test]
    public void PropertyAccessors_RequireExactShapes()
    {
        static FdtProperty P(params byte[] value) => new("p", value, 0);

        Assert.That(P(1, 2, 3, 4, 5, 6, 7).TryGetU64(out _), Is.False);
        Assert.That(P(1, 2, 3, 4, 5).TryGetU32(out _), Is.False);
        Assert.That(P((byte)'a').TryGetString(out _), Is.False, "no terminator");
        Assert.That(P((byte)'a', 0, (byte)'b', 0).TryGetString(out _), Is.False, "string list");
        Assert.That(P(0xC3, 0xA9, 0).TryGetString(out _), Is.False, "non-ASCII");
        Assert.That(P([]).TryGetString(out _), Is.False, "empty value");
        Assert.That(P(0).TryGetString(out string empty), Is.True);
        Assert.That(empty, Is.EqualTo(""));
    }
}
