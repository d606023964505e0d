using System.Buffers.Binary;
using KState;
using KState.TestHost.Shared;
using KState.Tests.Support;

namespace KState.Tests.Machine;

/// <summary>vmalloc areas (kho_vmalloc, kho_preserve_vmalloc, kho_restore_vmalloc and their kin) in one process booted
/// several times: mapping, translation, preservation, restore once, and the area's lifetime.</summary>
public unsafe class InPlaceVmallocTests
{
    private static void Fill(Span<byte> span, int seed)
    {
        for (int i = 0; i < span.Length; i++) span[i] = (byte)(i * 31 + seed + (i >> 12));
    }

    private static bool Holds(ReadOnlySpan<byte> span, int seed)
    {
        for (int i = 0; i < span.Length; i++)
            if (span[i] != (byte)(i * 31 + seed + (i >> 12))) return false;
        return true;
    }

    [Test]
    public void An_area_is_zeroed_and_its_bytes_are_its_frames_bytes()
    {
        using var r = new TestRegion("vm-map");
        using var kho = r.Boot(4 << 20);
        var area = kho.Vmalloc(5 * 4096 + 1); // 6 pages: order-1 frames
        using (Assert.EnterMultipleScope())
        {
            Assert.That(area.Pages, Is.EqualTo(6));
            Assert.That(area.Order, Is.EqualTo(1));
            Assert.That(area.Size, Is.EqualTo(6 * 4096));
            Assert.That(area.Frames.Length, Is.EqualTo(3));
            Assert.That(area.Span.ContainsAnyExcept((byte)0), Is.False);
        }
        Fill(area.Span, 3);
        for (int i = 0; i < area.Frames.Length; i++)
            Assert.That(kho.PhysSpan(area.Frames[i], 8192).SequenceEqual(area.Span.Slice(i * 8192, 8192)), Is.True, $"frame {i}");
        byte* p = (byte*)area.Address;
        using (Assert.EnterMultipleScope())
        {
            Assert.That(kho.DangerousVirtToPhys(p), Is.EqualTo(area.Frames[0]));
            Assert.That(kho.DangerousVirtToPhys(p + 8192 + 100), Is.EqualTo(area.Frames[1] + 100));
            Assert.That(kho.DangerousVirtToPhys(p + area.Size - 1), Is.EqualTo(area.Frames[2] + 8191));
            Assert.That(kho.DangerousVirtToPhys(p + area.Size), Is.Zero, "one past the end");
            Assert.That(kho.TryFindVmalloc(area.Address + 5000, out var found) ? found : null, Is.SameAs(area));
            Assert.That(kho.TryFindVmalloc(area.Address + (nint)area.Size, out _), Is.False);
            Assert.That(kho.TryFindVmalloc(area.Address - 1, out _), Is.False);
            Assert.That(area.Slice(4096, 10).Length, Is.EqualTo(10));
        }
        Assert.Throws<KStateInvalidException>(() => area.Slice(area.Size - 4, 5));
        Assert.Throws<KStateInvalidException>(() => kho.Vmalloc(0));
    }

    [Test]
    public void Vfree_gives_the_frames_back_and_the_area_is_gone()
    {
        using var r = new TestRegion("vm-free");
        using var kho = r.Boot(4 << 20);
        ulong free = kho.FreePages;
        var area = kho.Vmalloc(7 * 4096);
        Assert.That(kho.FreePages, Is.EqualTo(free - 7));
        var keep = kho.Vmalloc(4096);
        kho.Vfree(area);
        Assert.That(kho.FreePages, Is.EqualTo(free - 1));
        Assert.Throws<ObjectDisposedException>(() => _ = area.Span);
        Assert.Throws<KStateInvalidException>(() => kho.Vfree(area), "twice");
        Assert.Throws<KStateInvalidException>(() => kho.PreserveVmalloc(area), "freed");
        Assert.That(kho.TryFindVmalloc(area.Address, out _), Is.False);
        Assert.That(keep.Span.Length, Is.EqualTo(4096));
    }

    [Test]
    public void Vfree_of_an_area_whose_frame_was_freed_alone_frees_nothing_twice()
    {
        using var r = new TestRegion("vm-putframe");
        using var kho = r.Boot(4 << 20);
        var area = kho.Vmalloc(4 * 4096);
        Assert.That(kho.TryFindFolio(area.Frames[0], out var frame), Is.True);
        kho.PutFolio(frame);
        ulong free = kho.FreePages;
        Assert.Throws<KStateInvalidException>(() => kho.Vfree(area));
        Assert.That(kho.FreePages, Is.EqualTo(free), "nothing freed, the frame not twice");
        Assert.Throws<KStateInvalidException>(() => kho.PreserveVmalloc(area));
    }

    [Test]
    public void An_area_larger_than_any_free_contiguous_run_is_made_of_single_pages()
    {
        using var r = new TestRegion("vm-frag");
        using var kho = r.Boot(4 << 20);
        RegionShapes.Fragment(kho);
        Assert.That(kho.TryAllocFolio(1, out _), Is.False, "no two free pages are adjacent");
        var area = kho.Vmalloc(64 * 4096);
        Assert.That(area.Order, Is.Zero);
        Assert.That(area.Frames.Length, Is.EqualTo(64));
        for (int i = 1; i < 64; i++) Assert.That(area.Frames[i], Is.Not.EqualTo(area.Frames[i - 1] + 4096));
        Fill(area.Span, 9);
        for (int i = 0; i < 64; i++) Assert.That(kho.PhysSpan(area.Frames[i], 4096).SequenceEqual(area.Span.Slice(i * 4096, 4096)), Is.True);
    }

    [Test]
    public void Threads_allocating_translating_and_freeing_areas_at_once_leave_every_page_free()
    {
        using var r = new TestRegion("vm-threads");
        using var kho = r.Boot(16 << 20);
        ulong free = kho.FreePages;
        var failures = new System.Collections.Concurrent.ConcurrentQueue<string>();
        Parallel.For(0, 4, t =>
        {
            var rng = new Random(t);
            var mine = new List<VmallocArea>();
            for (int i = 0; i < 200; i++)
            {
                if (mine.Count < 6)
                {
                    var a = kho.Vmalloc((ulong)rng.Next(1, 40) * 4096);
                    a.Span.Fill((byte)t);
                    mine.Add(a);
                }
                var area = mine[rng.Next(mine.Count)];
                nint at = area.Address + rng.Next((int)area.Size);
                if (!kho.TryFindVmalloc(at, out var found) || found != area) failures.Enqueue($"thread {t}: lookup of 0x{at:x}");
                ulong phys = kho.DangerousVirtToPhys((void*)at);
                if (kho.PhysSpan(phys, 1)[0] != (byte)t) failures.Enqueue($"thread {t}: 0x{at:x} -> 0x{phys:x} holds another thread's byte");
                if (rng.Next(3) == 0)
                {
                    kho.Vfree(area);
                    mine.Remove(area);
                }
            }
            foreach (var a in mine) kho.Vfree(a);
        });
        Assert.That(failures, Is.Empty);
        Assert.That(kho.FreePages, Is.EqualTo(free));
    }

    [Test]
    public void Vmalloc_beyond_the_free_pages_is_out_of_memory_and_takes_nothing()
    {
        using var r = new TestRegion("vm-oom");
        using var kho = r.Boot(1 << 20);
        ulong free = kho.FreePages;
        Assert.Throws<KStateOutOfMemoryException>(() => kho.Vmalloc((free + 1) * 4096));
        Assert.That(kho.FreePages, Is.EqualTo(free));
    }

    [Test]
    public void A_preserved_area_comes_back_with_the_same_frames_for_generations_and_only_once()
    {
        using var r = new TestRegion("vm-gens");
        KhoVmalloc record;
        ulong[] frames;
        using (var kho = r.Boot(16 << 20))
        {
            RegionShapes.Fragment(kho);
            var area = kho.Vmalloc(1021 * 4096); // 1021 single pages: three chunk pages
            Fill(area.Span, 1);
            frames = area.Frames.ToArray();
            record = kho.PreserveVmalloc(area);
            Assert.That(record.TotalPages, Is.EqualTo(1021));
            Assert.That(record.Order, Is.Zero);
            Assert.That(record.Flags, Is.EqualTo(KhoVmalloc.FlagVmalloc));
            Assert.Throws<KStateExistsException>(() => kho.PreserveVmalloc(area), "twice");
            Assert.Throws<KStateBusyException>(() => kho.Vfree(area), "preserved");
            kho.FinalizeHandover();
        }
        for (int gen = 2; gen <= 4; gen++)
        {
            using var kho = r.Boot(0);
            var area = kho.RestoreVmalloc(record);
            Assert.That(area.Frames.ToArray(), Is.EqualTo(frames), $"generation {gen}: the same frames");
            Assert.That(Holds(area.Span, gen - 1), Is.True, $"generation {gen}: the contents");
            Assert.Throws<KStateNotFoundException>(() => kho.RestoreVmalloc(record), "restored twice");
            Assert.That(kho.ListUnrestored(), Is.Empty, "the chunk pages were taken back, the frames claimed");
            Fill(area.Span, gen);
            record = kho.PreserveVmalloc(area);
            kho.FinalizeHandover();
        }
    }

    [Test]
    public void Unpreserve_withdraws_the_area_and_frees_its_chunk_list()
    {
        using var r = new TestRegion("vm-unp");
        using var kho = r.Boot(4 << 20);
        var area = kho.Vmalloc(16 * 4096);
        ulong free = kho.FreePages;
        var record = kho.PreserveVmalloc(area);
        Assert.That(kho.FreePages, Is.EqualTo(free - 1), "one chunk page");
        Assert.Throws<KStateCorruptException>(() => kho.UnpreserveVmalloc(record with { TotalPages = 8 }));
        kho.UnpreserveVmalloc(record);
        Assert.That(kho.FreePages, Is.EqualTo(free));
        Assert.Throws<KStateNotFoundException>(() => kho.UnpreserveVmalloc(record), "twice");
        kho.Vfree(area);
        kho.FinalizeHandover();
    }

    [Test]
    public void Preserving_after_finalize_is_busy_and_restore_on_a_cold_boot_finds_nothing()
    {
        using var r = new TestRegion("vm-fin");
        using var kho = r.Boot(4 << 20);
        var area = kho.Vmalloc(4096);
        Assert.Throws<KStateNotFoundException>(() => kho.RestoreVmalloc(new KhoVmalloc { First = area.Frames[0], TotalPages = 1, Flags = 1 }));
        kho.FinalizeHandover();
        Assert.Throws<KStateBusyException>(() => kho.PreserveVmalloc(area));
    }

    [Test]
    public void An_area_of_another_kho_is_refused()
    {
        using var r1 = new TestRegion("vm-other1");
        using var r2 = new TestRegion("vm-other2");
        using var a = r1.Boot(1 << 20);
        using var b = r2.Boot(1 << 20);
        var area = a.Vmalloc(4096);
        Assert.Throws<KStateInvalidException>(() => b.Vfree(area));
        Assert.Throws<KStateInvalidException>(() => b.PreserveVmalloc(area));
        Assert.That(b.DangerousVirtToPhys((void*)area.Address), Is.Zero);
    }

    [Test]
    public void After_dispose_an_area_throws_and_is_unmapped_once_the_last_call_in_flight_ends()
    {
        using var r = new TestRegion("vm-dispose");
        var kho = r.Boot(4 << 20);
        var area = kho.Vmalloc(3 * 4096);
        area.Span.Fill(0x77);
        kho.Memory.AddRef(); // a call in flight on another thread
        kho.Dispose();
        Assert.Throws<ObjectDisposedException>(() => _ = area.Span);
        Assert.Throws<ObjectDisposedException>(() => area.Slice(0, 1));
        Assert.Throws<ObjectDisposedException>(() => kho.Vfree(area));
        Assert.Throws<ObjectDisposedException>(() => kho.TryFindVmalloc(area.Address, out _));
        Assert.Throws<ObjectDisposedException>(() => kho.Vmalloc(4096));
        Assert.That(IsMapped(area.Address), Is.True, "still mapped while the call is in flight");
        Assert.That(((byte*)area.Address)[4096], Is.EqualTo(0x77));
        kho.Memory.Release();
        Assert.That(IsMapped(area.Address), Is.False, "unmapped with the region");
    }

    /// <summary>True when /proc/self/maps has a mapping containing the address.</summary>
    private static bool IsMapped(nint address)
    {
        foreach (var line in File.ReadLines("/proc/self/maps"))
        {
            var range = line[..line.IndexOf(' ')].Split('-');
            ulong lo = Convert.ToUInt64(range[0], 16), hi = Convert.ToUInt64(range[1], 16);
            if ((ulong)address >= lo && (ulong)address < hi) return true;
        }
        return false;
    }

    [Test]
    public void The_record_and_a_chunk_page_are_the_bytes_docs_FORMAT_md_gives()
    {
        using var r = new TestRegion("vm-golden");
        using var kho = r.Boot(4 << 20);
        RegionShapes.Fragment(kho);
        var area = kho.Vmalloc(3 * 4096);
        var record = kho.PreserveVmalloc(area);
        var recordBytes = new byte[16];
        System.Runtime.InteropServices.MemoryMarshal.Write(recordBytes, in record);
        var expectedRecord = new byte[16];
        BinaryPrimitives.WriteUInt64LittleEndian(expectedRecord, record.First);
        Convert.FromHexString("03000000" + "0100" + "0000").CopyTo(expectedRecord, 8); // 3 pages, flags 1, order 0
        Assert.That(recordBytes, Is.EqualTo(expectedRecord));

        var chunk = kho.PhysSpan(record.First, 4096).ToArray();
        var expected = new byte[4096];
        Convert.FromHexString("4B564D43" + "03000000" + "0000000000000000").CopyTo(expected, 0); // "KVMC", 3 entries, no next
        for (int i = 0; i < 3; i++) BinaryPrimitives.WriteUInt64LittleEndian(expected.AsSpan(16 + 8 * i), area.Frames[i]);
        Assert.That(chunk, Is.EqualTo(expected));
    }

    [Test]
    public void Damaged_chunk_lists_are_refused_cleanly_and_claim_nothing()
    {
        using var r = new TestRegion("vm-damage");
        KhoVmalloc good;
        using (var kho = r.Boot(16 << 20))
        {
            RegionShapes.Fragment(kho);
            var area = kho.Vmalloc(1021 * 4096);
            Fill(area.Span, 5);
            good = kho.PreserveVmalloc(area);
            kho.FinalizeHandover();
        }
        using (var kho = r.Boot(0))
        {
            ulong c0 = good.First;
            ulong c1 = BinaryPrimitives.ReadUInt64LittleEndian(kho.PhysSpan(c0 + 8, 8));
            ulong c2 = BinaryPrimitives.ReadUInt64LittleEndian(kho.PhysSpan(c1 + 8, 8));
            ulong frame0 = BinaryPrimitives.ReadUInt64LittleEndian(kho.PhysSpan(c0 + 16, 8));
            ulong frame1 = BinaryPrimitives.ReadUInt64LittleEndian(kho.PhysSpan(c0 + 24, 8));
            Assert.That(c2, Is.Not.Zero);
            Assert.That(kho.TryAllocFolio(0, out var stray), Is.True);

            void Damaged(string what, ulong phys, ulong value, int bytes = 8, Type? expected = null)
            {
                var span = kho.PhysSpan(phys, bytes);
                byte[] saved = span.ToArray();
                if (bytes == 8) BinaryPrimitives.WriteUInt64LittleEndian(span, value);
                else BinaryPrimitives.WriteUInt32LittleEndian(span, (uint)value);
                try
                {
                    var e = Assert.Catch<KStateException>(() => kho.RestoreVmalloc(good), what);
                    Assert.That(e, Is.TypeOf(expected ?? typeof(KStateCorruptException)), $"{what}: {e?.Message}");
                }
                finally
                {
                    saved.CopyTo(span);
                }
            }

            Damaged("next chunk unaligned", c0 + 8, c1 + 1);
            Damaged("next chunk outside the region", c0 + 8, Kho.PhysBase + kho.RegionSize);
            Damaged("next chunk in the metadata", c0 + 8, Kho.PhysBase);
            Damaged("next chunk is a frame", c0 + 8, frame0);
            Damaged("next chunk is a page never preserved", c0 + 8, stray.Phys);
            Damaged("a loop", c1 + 8, c0);
            Damaged("a loop on itself", c2 + 8, c2);
            Damaged("count 0", c1 + 4, 0, 4);
            Damaged("count above a chunk's room", c1 + 4, 511, 4);
            Damaged("count short of the total", c1 + 4, 509, 4);
            Damaged("count beyond the total", c2 + 4, 2, 4);
            Damaged("last chunk goes on", c2 + 8, stray.Phys);
            Damaged("magic", c1, 0, 4);
            Damaged("frame never preserved", c0 + 16, stray.Phys);
            Damaged("frame listed twice", c0 + 24, frame0);
            Damaged("frame is a chunk page", c0 + 24, c1);
            Damaged("frame unaligned", c0 + 16, frame0 + 8);
            Damaged("frame outside the region", c0 + 16, ulong.MaxValue & ~4095UL);
            Assert.That(frame1, Is.Not.Zero);

            void Refused(string what, KhoVmalloc record, Type expected)
            {
                var e = Assert.Catch<KStateException>(() => kho.RestoreVmalloc(record), what);
                Assert.That(e, Is.TypeOf(expected), $"{what}: {e?.Message}");
            }

            Refused("order too big", good with { Order = 11 }, typeof(KStateCorruptException));
            Refused("order 65535", good with { Order = ushort.MaxValue }, typeof(KStateCorruptException));
            Refused("frames of another order", good with { Order = 1, TotalPages = 1022 }, typeof(KStateCorruptException));
            Refused("total pages short", good with { TotalPages = 1020 }, typeof(KStateCorruptException));
            Refused("total pages long", good with { TotalPages = 1022 }, typeof(KStateCorruptException));
            Refused("total pages 0", good with { TotalPages = 0 }, typeof(KStateCorruptException));
            Refused("total pages beyond the region", good with { TotalPages = uint.MaxValue }, typeof(KStateCorruptException));
            Refused("unknown flags", good with { Flags = 3 }, typeof(KStateCorruptException));
            Refused("no flags", good with { Flags = 0 }, typeof(KStateCorruptException));
            Refused("first chunk 0", good with { First = 0 }, typeof(KStateCorruptException));
            Refused("first chunk unaligned", good with { First = c0 + 8 }, typeof(KStateCorruptException));
            Refused("first chunk is the second", good with { First = c1 }, typeof(KStateCorruptException));
            Refused("first chunk never preserved", good with { First = stray.Phys }, typeof(KStateNotFoundException));

            var area = kho.RestoreVmalloc(good); // nothing was claimed by the refusals
            Assert.That(Holds(area.Span, 5), Is.True);
            Assert.That(kho.ListUnrestored(), Is.Empty);
        }
    }
}
