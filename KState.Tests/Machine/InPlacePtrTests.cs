using System.Runtime.InteropServices;
using KState;
using KState.TestHost.Shared;
using KState.Tests.Support;

namespace KState.Tests.Machine;

/// <summary>KhoPtr&lt;T&gt;, the KHOSER pointer: stored as phys inside preserved memory, loaded in the next generation
/// wherever the region is mapped then.</summary>
public unsafe class InPlacePtrTests
{
    [StructLayout(LayoutKind.Sequential)]
    private struct Node
    {
        public long Value;
        public KhoPtr<Node> Next;
    }

    [Test]
    public void A_linked_list_in_preserved_memory_is_walked_in_the_next_generation()
    {
        using var r = new TestRegion("ptr-list");
        ulong head;
        using (var kho = r.Boot(4 << 20))
        {
            var folio = kho.AllocPreserve(4096);
            var nodes = (Node*)kho.DangerousFolioAddress(folio);
            var area = kho.Vmalloc(3 * 4096);
            var far = (Node*)(area.Address + 2 * 4096 + 64); // the list goes on in a vmalloc area
            for (int i = 0; i < 4; i++)
            {
                nodes[i].Value = 100 + i;
                nodes[i].Next = KhoPtr<Node>.Store(kho, i < 3 ? &nodes[i + 1] : far);
            }
            far->Value = 104;
            far->Next = KhoPtr<Node>.Store(kho, null);
            Assert.That(nodes[3].Next.Phys, Is.EqualTo(area.Frames[2] + 64), "3 pages: order-0 frames");
            kho.PreserveVmalloc(area);
            head = folio.Phys;
            kho.FinalizeHandover();
        }
        using (var kho = r.Boot(0))
        {
            Assert.That(kho.TryRestoreFolio(head, out _), Is.True);
            var values = new List<long>();
            for (var p = new KhoPtr<Node>(head); !p.IsNull; p = p.Ref(kho).Next) values.Add(p.Ref(kho).Value);
            Assert.That(values, Is.EqualTo(new long[] { 100, 101, 102, 103, 104 }));
            var second = new KhoPtr<Node>(head).Load(kho)->Next.Load(kho);
            Assert.That(second->Value, Is.EqualTo(101));
            Assert.That(kho.DangerousVirtToPhys(second), Is.EqualTo(head + (ulong)sizeof(Node)));
        }
    }

    [Test]
    public void Pointers_outside_the_region_are_refused_on_store_and_load()
    {
        using var r = new TestRegion("ptr-bad");
        using var kho = r.Boot(1 << 20);
        var local = (long*)NativeMemory.Alloc(8);
        try
        {
            Assert.Throws<KStateInvalidException>(() => KhoPtr<long>.Store(kho, local), "process memory");
        }
        finally
        {
            NativeMemory.Free(local);
        }
        Assert.That(KhoPtr<long>.Store(kho, null).IsNull, Is.True);
        Assert.That(new KhoPtr<long>(0).Load(kho) == null, Is.True);
        Assert.Throws<KStateInvalidException>(() => new KhoPtr<long>(0).Ref(kho));
        Assert.Throws<KStateInvalidException>(() => new KhoPtr<long>(Kho.PhysBase + kho.RegionSize - 4).Load(kho), "the target runs past the region");
        Assert.Throws<KStateInvalidException>(() => new KhoPtr<long>(Kho.PhysBase + kho.RegionSize).Ref(kho));
        Assert.Throws<KStateInvalidException>(() => new KhoPtr<long>(42).Load(kho), "below the region");
    }

    [Test]
    public void A_target_straddling_two_frames_of_an_area_is_refused()
    {
        using var r = new TestRegion("ptr-straddle");
        using var kho = r.Boot(4 << 20);
        RegionShapes.Fragment(kho);
        var area = kho.Vmalloc(2 * 4096);
        Assert.That(area.Order, Is.Zero);
        Assert.Throws<KStateInvalidException>(() => KhoPtr<long>.Store(kho, (long*)(area.Address + 4092)));
        Assert.That(KhoPtr<long>.Store(kho, (long*)(area.Address + 4088)).Phys, Is.EqualTo(area.Frames[0] + 4088));
        Assert.That(KhoPtr<long>.Store(kho, (long*)(area.Address + 4096)).Phys, Is.EqualTo(area.Frames[1]));
    }

    [Test]
    public void A_pointer_is_eight_bytes()
    {
        Assert.That(sizeof(KhoPtr<Node>), Is.EqualTo(8));
        Assert.That(sizeof(KhoVmalloc), Is.EqualTo(16));
        Assert.That(Marshal.OffsetOf<KhoVmalloc>(nameof(KhoVmalloc.Flags)), Is.EqualTo((nint)12));
    }
}
