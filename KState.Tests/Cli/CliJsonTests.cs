using System.Runtime.InteropServices;
using System.Text.Json;
using KState.Cli;
using KState.Core.Records;
using KState.Inspection;
using KState.Tests.Descriptions;
using KState.Machine.Region;
using KState.TestHost;
using KState.Tests.Support;

namespace KState.Tests.Cli;

/// <summary>
/// Issue 15 item 5: every --json output parses and matches docs/JSON.md; ids, phys and large integers are exact
/// strings; kstate schema and kstate extract; and item 4's boot outcome as the tool reports it.
/// </summary>
[NonParallelizable]
public class CliJsonTests
{
    private static readonly JsonDocs Docs = JsonDocs.Load();

    private static (int Code, string Out, string Err) Kstate(params string[] args)
    {
        var o = new StringWriter();
        var e = new StringWriter();
        int code = App.Run(args, o, e);
        return (code, o.ToString(), e.ToString());
    }

    private static TestRegion TalkRegion()
    {
        var region = new TestRegion("clijson");
        var child = Child.Run("talk-save", region.Path);
        Assert.That(child.ExitCode, Is.Zero, child.ToString());
        return region;
    }

    /// <summary>Runs a --json command, parses its output and checks it against the documented shape.</summary>
    private static JsonDocument Json(string shape, int expectedCode, params string[] args)
    {
        var (code, output, err) = Kstate(args);
        Assert.That(code, Is.EqualTo(expectedCode), err);
        Assert.That(output, Is.Not.Empty, err);
        var doc = JsonDocument.Parse(output);
        Assert.That(Docs.Check(doc.RootElement, shape), Is.Empty, output);
        return doc;
    }

    private static JsonElement Field(JsonElement owner, string name) =>
        owner.GetProperty("fields").EnumerateArray().Single(f => f.GetProperty("name").GetString() == name);

    private static JsonElement Record(JsonDocument doc, string state) =>
        doc.RootElement.GetProperty("streams").EnumerateArray().SelectMany(s => s.GetProperty("live").EnumerateArray())
            .Single(r => r.TryGetProperty("state", out var n) && n.GetString() == state);

    [Test]
    public void The_documentation_describes_every_shape_the_checker_needs()
    {
        Assert.That(Docs.Objects, Is.SupersetOf(new[] { "Inspect", "Boot", "Field", "Record", "Stream", "Item", "Schema", "Description", "SchemaField" }));
    }

    [Test]
    public void The_checker_rejects_what_the_documentation_does_not_allow()
    {
        using var undocumented = JsonDocument.Parse("""{"phys": "0x10", "order": 1, "extra": 1}""");
        using var numberId = JsonDocument.Parse("""{"phys": 4096, "order": 1}""");
        using var missing = JsonDocument.Parse("""{"phys": "0x10"}""");
        using var inexact = JsonDocument.Parse("""{"name": "x", "type": "integer", "value": 5427774615475016773}""");
        using (Assert.EnterMultipleScope())
        {
            Assert.That(Docs.Check(undocumented.RootElement, "Folio"), Has.One.Contains("not documented"));
            Assert.That(Docs.Check(numberId.RootElement, "Folio"), Has.One.Contains("is not hex"));
            Assert.That(Docs.Check(missing.RootElement, "Folio"), Has.One.Contains("required Folio.order"));
            Assert.That(Docs.Check(inexact.RootElement, "Field"), Has.One.Contains("is not number|string"));
        }
    }

    [Test]
    public void Inspect_json_of_a_handover_matches_the_documentation_with_exact_ids_and_typed_values()
    {
        using var region = TalkRegion();
        using var doc = Json("Inspect", App.Ok, "inspect", "--json", region.Path);
        var a = Record(doc, "a_struct");
        var module = Record(doc, "kstate-test/module");
        using (Assert.EnterMultipleScope())
        {
            Assert.That(doc.RootElement.GetProperty("boot").GetProperty("kind").GetString(), Is.EqualTo("handover"));
            Assert.That(a.GetProperty("state_id").GetString(), Is.EqualTo("0x4b53544154455445"), "above 2^53: exact as a string");
            Assert.That(a.GetProperty("instance").GetString(), Is.EqualTo("0x1"));
            Assert.That(Field(a, "I").GetProperty("value").GetInt32(), Is.EqualTo(42));
            Assert.That(Field(a, "I").GetProperty("hex").GetString(), Is.EqualTo("0x2a"));
            Assert.That(Field(a, "S").GetProperty("type").GetString(), Is.EqualTo("text"));
            Assert.That(Field(a, "S").GetProperty("value").GetString(), Is.EqualTo("kstate!"));
            // A pointee above 2^53 is a decimal string, exact, with its bits in hex.
            Assert.That(Field(a, "PUlong").GetProperty("value").GetString(), Is.EqualTo(DescriptionScenarios.PUlongValue.ToString()));
            Assert.That(Field(a, "PUlong").GetProperty("hex").GetString(), Is.EqualTo("0xdeadbeefcafef00d"));
            Assert.That(Field(a, "Folio").GetProperty("folios")[0].GetProperty("order").GetInt32(), Is.EqualTo(2));
            Assert.That(Field(a, "Folio").GetProperty("folios")[0].GetProperty("phys").GetString(), Does.StartWith("0x"));
            Assert.That(Field(module, "Old").GetProperty("value").GetString(), Is.EqualTo(ulong.MaxValue.ToString()));
            Assert.That(Field(module, "Old").GetProperty("signed").GetInt64(), Is.EqualTo(-1));
            Assert.That(Field(Field(module, "[kstate-test/sub]"), "J").GetProperty("value").GetInt32(), Is.EqualTo(8));
        }
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct Rich
    {
        public Outer One;
        public Inner Two0;
        public Inner Two1;
        public int Custom;
        public Ptr<ulong> Kho;
        public long Big;
    }

    [Test]
    public unsafe void Inspect_json_of_nested_structs_struct_arrays_custom_fields_and_kho_pointers_matches_the_documentation()
    {
        var inner = KStateDescriptionBuilder<Inner>.Create("clijson/inner", 1, 1).Base((ref Inner i) => ref i.X).Base((ref Inner i) => ref i.Y).Build();
        var outer = KStateDescriptionBuilder<Outer>.Create("clijson/outer", 1, 1)
            .Base((ref Outer o) => ref o.Id).Struct((ref Outer o) => ref o.Inner, inner).Base((ref Outer o) => ref o.Tail).Build();
        var rich = KStateDescriptionBuilder<Rich>.Create("clijson/rich", 2, 1)
            .Struct((ref Rich r) => ref r.One, outer)
            .Struct((ref Rich r) => ref r.Two0, inner, count: 2)
            .Custom((ref Rich r) => ref r.Custom, (w, obj, f) => w.PutUInt32(0xC0FFEE), (ref RecordCursor c, byte* obj, KStateField f) => c.ReadUInt32())
            .KhoPointer((ref Rich r) => ref r.Kho)
            .Base((ref Rich r) => ref r.Big)
            .Build();
        using var region = new TestRegion("clijsonrich");
        using (var kho = region.Boot(1 << 20))
        {
            using var streams = new KStateStreams(kho);
            var registry = new KStateRegistry(streams);
            var value = new Rich { One = new Outer { Id = -5, Inner = new Inner { X = 1, Y = 2 }, Tail = 3 }, Two0 = new Inner { X = 4 }, Two1 = new Inner { Y = 5 }, Big = 1L << 60 };
            registry.Save(rich, &value, 0xFFFF_FFFF_FFFF_FFF0);
            kho.FinalizeHandover();
        }
        using var doc = Json("Inspect", App.Ok, "inspect", "--json", region.Path);
        var r = Record(doc, "clijson/rich");
        using (Assert.EnterMultipleScope())
        {
            Assert.That(r.GetProperty("instance").GetString(), Is.EqualTo("0xfffffffffffffff0"));
            Assert.That(r.GetProperty("version").GetInt32(), Is.EqualTo(2));
            Assert.That(Field(r, "One").GetProperty("type").GetString(), Is.EqualTo("struct"));
            Assert.That(Field(Field(r, "One"), "Id").GetProperty("signed").GetInt64(), Is.EqualTo(-5));
            Assert.That(Field(Field(Field(r, "One"), "Inner"), "Y").GetProperty("value").GetInt32(), Is.EqualTo(2));
            Assert.That(Field(r, "Two0").GetProperty("type").GetString(), Is.EqualTo("structs"));
            Assert.That(Field(Field(r, "Two0"), "[1]").GetProperty("fields")[1].GetProperty("value").GetInt32(), Is.EqualTo(5));
            Assert.That(Field(r, "Custom").GetProperty("type").GetString(), Is.EqualTo("custom"));
            Assert.That(Field(r, "Custom").GetProperty("value").GetString(), Is.EqualTo("eeffc000"));
            Assert.That(Field(r, "Kho").GetProperty("type").GetString(), Is.EqualTo("phys"));
            Assert.That(Field(r, "Kho").GetProperty("phys")[0].GetString(), Is.EqualTo("0x0"));
            Assert.That(Field(r, "Big").GetProperty("value").GetString(), Is.EqualTo((1UL << 60).ToString()), "above 2^53: a decimal string");
        }
    }

    [Test]
    public void Inspect_json_of_sessions_matches_the_documentation()
    {
        using var region = CliTests.SessionsRegion();
        using var doc = Json("Inspect", App.Ok, "inspect", "--json", region.Path);
        Assert.That(doc.RootElement.GetProperty("sessions").GetArrayLength(), Is.EqualTo(2));
    }

    [Test]
    public void Inspect_json_of_a_cold_a_consumed_and_a_damaged_region_matches_the_documentation()
    {
        using var region = TalkRegion();
        ulong mapOffset;
        using (var inspector = KhoInspector.Open(region.Path))
            mapOffset = Layout.ReadHeader(File.ReadAllBytes(region.Path), inspector.RegionSize).MapOffset + ((inspector.PreservedBlocks[0].Phys - Kho.PhysBase) >> 12);
        Flip(region.Path, mapOffset);
        using (var damaged = Json("Inspect", App.Invalid, "inspect", "--json", region.Path))
        {
            var boot = damaged.RootElement.GetProperty("boot");
            Assert.That(boot.GetProperty("kind").GetString(), Is.EqualTo("damaged"));
            Assert.That(boot.GetProperty("part").GetString(), Is.EqualTo("map"));
            Assert.That(boot.GetProperty("error").GetString(), Is.EqualTo("EBADMSG"));
            Assert.That(damaged.RootElement.GetProperty("valid").GetBoolean(), Is.False);
        }
        region.Boot(0).Dispose(); // boots cold and consumes the rejected handover
        using var consumed = Json("Inspect", App.Ok, "inspect", "--json", region.Path);
        Assert.That(consumed.RootElement.GetProperty("boot").GetProperty("kind").GetString(), Is.EqualTo("consumed"));
    }

    [Test]
    public void Inspect_json_of_a_busy_region_says_busy_and_exits_2()
    {
        using var region = new TestRegion("clijsonbusy");
        using var kho = region.Boot(1 << 20);
        using var doc = Json("Inspect", App.UsageOrIo, "inspect", "--json", region.Path);
        Assert.That(doc.RootElement.GetProperty("boot").GetProperty("kind").GetString(), Is.EqualTo("busy"));
        Assert.That(doc.RootElement.GetProperty("boot").GetProperty("error").GetString(), Is.EqualTo("EBUSY"));
    }

    [Test]
    public void Inspect_and_verify_name_the_damaged_part_and_offset()
    {
        using var region = TalkRegion();
        ulong area;
        using (var inspector = KhoInspector.Open(region.Path))
            area = inspector.Subtrees[0].Phys - Kho.PhysBase & ~(ulong)(Kho.PageSize - 1); // the root tree area holds the subtree blobs
        Flip(region.Path, area + 8);
        var inspect = Kstate("inspect", region.Path);
        var verify = Kstate("verify", region.Path);
        using (Assert.EnterMultipleScope())
        {
            Assert.That(inspect.Out, Does.Contain($"boot outcome: damaged: root tree at region offset 0x{area:x} (generation 1)"));
            Assert.That(verify.Code, Is.EqualTo(App.Invalid));
            Assert.That(verify.Err, Does.Contain($"boot outcome: damaged: root tree at region offset 0x{area:x}"));
        }
    }

    [Test]
    public void Verify_names_the_outcome_of_a_valid_region()
    {
        using var region = TalkRegion();
        var (code, output, err) = Kstate("verify", region.Path);
        Assert.That(code, Is.EqualTo(App.Ok), err);
        Assert.That(output, Does.EndWith("boot outcome: handover (generation 1)" + Environment.NewLine));
    }

    [Test]
    public void Schema_json_of_a_region_and_of_its_schema_file_match_the_documentation_and_each_other()
    {
        using var region = TalkRegion();
        string file = Path.GetTempFileName();
        try
        {
            var e = new StringWriter();
            using (var bytes = new MemoryStream())
            {
                Assert.That(App.Run(["inspect", "--schema", region.Path], new StringWriter(), e, bytes), Is.EqualTo(App.Ok), e.ToString());
                File.WriteAllBytes(file, bytes.ToArray());
            }
            using var fromRegion = Json("Schema", App.Ok, "schema", "--json", region.Path);
            using var fromFile = Json("Schema", App.Ok, "schema", "--json", file);
            var descriptions = fromRegion.RootElement.GetProperty("descriptions");
            var a = descriptions.EnumerateArray().Single(d => d.GetProperty("name").GetString() == "a_struct");
            using (Assert.EnterMultipleScope())
            {
                Assert.That(descriptions.GetRawText(), Is.EqualTo(fromFile.RootElement.GetProperty("descriptions").GetRawText()));
                Assert.That(a.GetProperty("id").GetString(), Is.EqualTo("0x4b53544154455445"));
                Assert.That(a.GetProperty("fields").EnumerateArray().Select(f => f.GetProperty("name").GetString()), Is.EqualTo(new[] { "I", "S", "PUlong", "Folio" }));
                Assert.That(a.GetProperty("fields")[3].GetProperty("kind").GetString(), Is.EqualTo("folio"));
            }
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Test]
    public void Schema_prints_descriptions_fields_and_subsections_as_text()
    {
        using var region = TalkRegion();
        var (code, output, err) = Kstate("schema", region.Path);
        Assert.That(code, Is.EqualTo(App.Ok), err);
        Assert.That(output, Does.Contain("schema of " + region.Path + ": 3 descriptions"));
        Assert.That(output, Does.Contain("description \"a_struct\" id 0x4b53544154455445: version 1 (reads 1 and later), 40 bytes"));
        Assert.That(output, Does.Contain("  S: base, offset 16, 10 bytes"));
        Assert.That(output, Does.Contain("  subsection kstate-test/sub (0x"));
    }

    [Test]
    public void Schema_of_a_file_that_is_neither_says_why_and_exits_2()
    {
        string file = Path.GetTempFileName();
        try
        {
            File.WriteAllText(file, "not a schema");
            var (code, output, err) = Kstate("schema", "--json", file);
            Assert.That(code, Is.EqualTo(App.UsageOrIo));
            Assert.That(output, Is.Empty);
            Assert.That(err, Does.Contain("neither a KState region"));
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Test]
    public void Extract_writes_a_record_payload_by_name_or_id_a_subtree_and_preserved_memory()
    {
        using var region = TalkRegion();
        string dir = Directory.CreateTempSubdirectory("kstate-extract-").FullName;
        try
        {
            string byName = Path.Combine(dir, "a.bin"), byId = Path.Combine(dir, "a-id.bin"), subtree = Path.Combine(dir, "kstate.bin"), range = Path.Combine(dir, "folio.bin");
            Assert.That(Kstate("extract", region.Path, "--record", "a_struct/1", "-o", byName).Code, Is.EqualTo(App.Ok));
            Assert.That(Kstate("extract", region.Path, "--record", "0x4b53544154455445/1", "-o", byId).Code, Is.EqualTo(App.Ok));
            Assert.That(Kstate("extract", region.Path, "--subtree", "kstate", "-o", subtree).Code, Is.EqualTo(App.Ok));
            byte[] expectedSubtree;
            using (var inspector = KhoInspector.Open(region.Path))
            {
                Assert.That(inspector.TryGetSubtree("kstate", out var blob), Is.True);
                expectedSubtree = blob.ToArray();
            }
            // a_struct's folio, as inspect names it: order 2, filled with the talk example's pattern.
            string folioPhys;
            using (var doc = JsonDocument.Parse(Kstate("inspect", "--json", region.Path).Out))
                folioPhys = Field(Record(doc, "a_struct"), "Folio").GetProperty("folios")[0].GetProperty("phys").GetString()!;
            var folio = new { Phys = Convert.ToUInt64(folioPhys[2..], 16), Size = (ulong)Kho.PageSize << 2 };
            var (code, output, err) = Kstate("extract", region.Path, "--range", $"0x{folio.Phys:x}", folio.Size.ToString(), "-o", range);
            Assert.That(code, Is.EqualTo(App.Ok), err);
            var payload = File.ReadAllBytes(byName);
            using (Assert.EnterMultipleScope())
            {
                Assert.That(output, Does.Contain($"wrote preserved range 0x{folio.Phys:x}+{folio.Size}"));
                Assert.That(BitConverter.ToInt32(payload, 0), Is.EqualTo(42), "a_struct's first field");
                Assert.That(payload, Has.Length.EqualTo(50));
                Assert.That(File.ReadAllBytes(byId), Is.EqualTo(payload));
                Assert.That(File.ReadAllBytes(subtree), Is.EqualTo(expectedSubtree));
                var bytes = File.ReadAllBytes(range);
                Assert.That(bytes, Has.Length.EqualTo((int)folio.Size));
                Assert.That(bytes.Select((b, i) => b == DescriptionScenarios.FolioPattern(i)).All(x => x), Is.True, "the folio's contents");
            }
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Test]
    public void Extract_refuses_memory_that_is_not_preserved_and_what_is_not_there_with_exit_2()
    {
        using var region = TalkRegion();
        string output = Path.Combine(Path.GetTempPath(), $"kstate-extract-{Guid.NewGuid():N}");
        try
        {
            ulong end;
            using (var inspector = KhoInspector.Open(region.Path)) end = inspector.DataRange.End;
            var notPreserved = Kstate("extract", region.Path, "--range", $"0x{end - 4096:x}", "4096", "-o", output);
            var noRecord = Kstate("extract", region.Path, "--record", "a_struct/9", "-o", output);
            var noSubtree = Kstate("extract", region.Path, "--subtree", "nope", "-o", output);
            var two = Kstate("extract", region.Path, "--subtree", "kstate", "--record", "a_struct", "-o", output);
            using (Assert.EnterMultipleScope())
            {
                Assert.That(notPreserved.Code, Is.EqualTo(App.UsageOrIo));
                Assert.That(notPreserved.Err, Does.Contain("is not preserved memory"));
                Assert.That(noRecord.Code, Is.EqualTo(App.UsageOrIo));
                Assert.That(noRecord.Err, Does.Contain("no record a_struct/9"));
                Assert.That(noSubtree.Code, Is.EqualTo(App.UsageOrIo));
                Assert.That(noSubtree.Err, Does.Contain("no subtree named 'nope'"));
                Assert.That(two.Code, Is.EqualTo(App.UsageOrIo));
                Assert.That(two.Err, Does.Contain("exactly one of"));
                Assert.That(File.Exists(output), Is.False, "nothing written");
            }
        }
        finally
        {
            File.Delete(output);
        }
    }

    private static void Flip(string path, ulong offset)
    {
        using var handle = File.OpenHandle(path, FileMode.Open, FileAccess.ReadWrite);
        var b = new byte[1];
        RandomAccess.Read(handle, b, (long)offset);
        b[0] ^= 0x40;
        RandomAccess.Write(handle, b, (long)offset);
    }
}
