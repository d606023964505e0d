using System.IO.Hashing;
using KState.Inspection;
using KState.Machine.Handover;
using KState.Tests.Support;

namespace KState.Tests.Native;

/// <summary>
/// <c>kho_boot_status</c> (issue 15 item 4): tests/boot_status.c boots a region in each state and prints what the
/// library says; the kinds, generations, parts and offsets must be what C# says of the same region.
/// </summary>
[NonParallelizable]
public class NativeBootStatusTests : NativeFixture
{
    private string _exe = null!;

    [OneTimeSetUp]
    public void Build()
    {
        _exe = C.Build("tests/boot_status.c");
    }

    private string Boot(TestRegion region, bool finalize = false)
    {
        var r = finalize ? C.Run(_exe, region.Path, "finalize") : C.Run(_exe, region.Path);
        Assert.That(r.ExitCode, Is.Zero, r.ToString());
        return r.Stdout;
    }

    [Test]
    public void C_sees_a_first_start_a_handover_and_a_consumed_one()
    {
        using var region = new TestRegion("cbootstatus");
        Assert.That(Boot(region, finalize: true), Does.StartWith("kind=0 error=0 generation=0 offset=0 part= is_kho_boot=0\nreason=cold boot: no handover\n"));
        Assert.That(Boot(region), Does.StartWith("kind=1 error=0 generation=1 offset=0 part= is_kho_boot=1\nreason=kho boot: generation 1, "));
        Assert.That(Boot(region), Does.StartWith("kind=3 error=0 generation=1 offset=0 part= is_kho_boot=0\nreason=cold boot: newest handover (generation 1) was consumed"));
    }

    [Test]
    public void C_sees_damage_with_the_part_and_offset_csharp_reports()
    {
        using var region = new TestRegion("cbootdamage");
        Boot(region, finalize: true);
        // One byte of the map, the byte of the first preserved block: the map checksum catches it.
        ulong firstBlock;
        using (var inspector = KhoInspector.Open(region.Path)) firstBlock = (inspector.PreservedBlocks[0].Phys - Kho.PhysBase) >> 12;
        var bytes = File.ReadAllBytes(region.Path);
        ulong at = KState.Machine.Region.Layout.ReadHeader(bytes, (ulong)bytes.Length).MapOffset + firstBlock;
        using (var f = File.OpenHandle(region.Path, FileMode.Open, FileAccess.Write))
            RandomAccess.Write(f, new[] { (byte)(bytes[at] ^ 0x40) }, (long)at);
        KhoBootStatus expected;
        using (var inspector = KhoInspector.Open(region.Path)) expected = inspector.BootStatus;
        Assert.That(expected.Kind, Is.EqualTo(KhoBootKind.Damaged));
        Assert.That(Boot(region), Does.StartWith($"kind=4 error=-74 generation=1 offset={expected.Offset} part=map is_kho_boot=0\nreason=cold boot: handover of generation 1 rejected: "));
    }

    [Test]
    public void C_sees_a_handover_of_a_future_format_as_incompatible()
    {
        using var region = new TestRegion("cbootfuture");
        Boot(region, finalize: true);
        // "kho-v1" becomes "kho-v2" behind a valid checksum: only the root tree's own check can tell.
        var bytes = File.ReadAllBytes(region.Path);
        var slots = CommitSlot.ReadBoth(bytes.AsSpan(0, Kho.PageSize), out int newest);
        var slot = slots[newest].Slot!.Value;
        int area = (int)(slot.AreaPhys - Kho.PhysBase);
        long value = FdtReader.Parse(bytes.AsSpan(area, (int)slot.FdtSize)).FindProperty("compatible")!.ValueOffset;
        bytes[area + value + 5] = (byte)'2';
        (slot with { AreaChecksum = XxHash3.HashToUInt64(bytes.AsSpan(area, (int)slot.AreaBytes)) }).Write(bytes.AsSpan(CommitSlot.OffsetOf(newest), CommitSlot.Size));
        File.WriteAllBytes(region.Path, bytes);
        Assert.That(Boot(region), Does.StartWith($"kind=5 error=-74 generation=1 offset={area + value} part=root tree is_kho_boot=0\nreason=cold boot: handover of generation 1 rejected: root tree: compatible is \"kho-v2\""));
    }
}
