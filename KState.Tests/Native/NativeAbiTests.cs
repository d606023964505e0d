using System.Runtime.InteropServices;
using KState.Core.Records;
using KState.Tests.Support;

namespace KState.Tests.Native;

/// <summary>
/// KState from C: programs compiled with gcc -Wall -Werror against kstate.h and libkstate.so (./build.sh native),
/// found through pkg-config. ./build.sh test publishes the library first and requires it.
/// </summary>
[NonParallelizable]
public class NativeAbiTests : NativeFixture
{
    private string Build(string relative) => C.Build(relative);

    private Child.Result Run(string file, params string[] args) => C.Run(file, args);

    private static string Source(string relative) => NativeToolchain.Source(relative);

    [Test]
    public void Every_function_and_error_code_of_the_contract()
    {
        string exe = Build("tests/abi_test.c");
        using var region = new TestRegion("abi");
        var r = Run(exe, region.Path);
        TestContext.Out.Write(r.Stdout);
        Assert.That(r.ExitCode, Is.Zero, r.ToString());
        Assert.That(r.Stdout, Does.Match(@"\d+ checks, 0 failed"));
    }

    [Test]
    public void The_talks_example_survives_a_live_update_across_two_processes()
    {
        string exe = Build("examples/talk.c");
        using var region = new TestRegion("ctalk");
        var save = Run(exe, "save", region.Path);
        Assert.That(save.ExitCode, Is.Zero, save.ToString());
        var restore = Run(exe, "restore", region.Path);
        Assert.That(restore.ExitCode, Is.Zero, restore.ToString());
        Assert.That(restore.Stdout, Does.Contain("restored: i=42 *p_ulong=0xdeadbeef s=kstate! folio order 1 contents ok"));
    }

    [Test]
    public void The_sessions_example_hands_two_sessions_to_the_next_process()
    {
        string exe = Build("examples/sessions.c");
        using var region = new TestRegion("csessions");
        var save = Run(exe, "save", region.Path);
        Assert.That(save.ExitCode, Is.Zero, save.ToString());
        var restore = Run(exe, "restore", region.Path);
        Assert.That(restore.ExitCode, Is.Zero, restore.ToString());
        using (Assert.EnterMultipleScope())
        {
            Assert.That(restore.Stdout, Does.Contain("restored: conn 1 fd=7 port=8080 peer=10.0.0.1 bytes=1500"));
            Assert.That(restore.Stdout, Does.Contain("restored: conn 2 fd=9 port=443 peer=10.0.0.2 bytes=90000"));
            Assert.That(restore.Stdout, Does.Contain("restored: cache entries=3 folio contents ok"));
        }
        var cold = Run(exe, "restore", region.Path); // the sessions were consumed: a cold boot has none
        Assert.That(cold.ExitCode, Is.EqualTo(1), cold.ToString());
        Assert.That(cold.Stderr, Does.Contain("kstate_session_retrieve").And.Contain("ENOENT"));
    }

    [Test]
    public void The_versioning_example_restores_older_records_and_refuses_out_of_range_ones()
    {
        string exe = Build("examples/versioning.c");
        using var region = new TestRegion("cver");
        foreach (var step in new[] { "v1", "v2", "v1", "v0" })
        {
            var r = Run(exe, step, region.Path);
            Assert.That(r.ExitCode, Is.Zero, $"{step}: {r}");
        }
    }

    [TestCase("tests/wrong_type.c")]
    [TestCase("tests/not_a_folio.c")]
    [TestCase("tests/not_a_pointer.c")]
    public void Field_macros_check_member_types_at_compile_time(string file)
    {
        var r = C.Compile(file, Path.Combine(C.Work, "must-not-exist"), "-c");
        Assert.That(r.ExitCode, Is.Not.Zero, $"{file} compiled, but its field macro names a member of the wrong type");
    }

    [Test]
    public unsafe void A_csharp_description_saves_and_restores_a_struct_laid_out_by_c()
    {
        string lib = Path.Combine(C.Work, "liblayout.so");
        var r = Run("/bin/sh", "-c", $"gcc -Wall -Werror -shared -fPIC -o '{lib}' '{Source("tests/layout.c")}'");
        Assert.That(r.ExitCode, Is.Zero, r.ToString());
        nint h = NativeLibrary.Load(lib);
        try
        {
            var size = (delegate* unmanaged<nuint>)NativeLibrary.GetExport(h, "c_obj_size");
            var offset = (delegate* unmanaged<int, nuint>)NativeLibrary.GetExport(h, "c_obj_offset");
            var create = (delegate* unmanaged<int, byte*>)NativeLibrary.GetExport(h, "c_obj_new");
            var check = (delegate* unmanaged<byte*, int, int>)NativeLibrary.GetExport(h, "c_obj_check");
            var d = KStateDescription.Create("acme-c/obj", 1, 1, (int)size(),
            [
                new KStateField { Name = "tag", Offset = (int)offset(0), Size = 1, Kind = FieldKind.Base },
                new KStateField { Name = "ratio", Offset = (int)offset(1), Size = 8, Kind = FieldKind.Base },
                new KStateField { Name = "ports", Offset = (int)offset(2), Size = 2, Count = 3, Kind = FieldKind.Base },
                new KStateField { Name = "counter", Offset = (int)offset(3), Size = 8, Kind = FieldKind.Pointer },
            ]);
            using var region = new TestRegion("clayout");
            ulong first;
            using (var kho = region.Boot())
            {
                var w = new RecordWriter(new KhoSegmentMemory(kho), "main");
                d.Save(w, create(5), 0, kho);
                first = w.Complete().FirstSegment;
                kho.FinalizeHandover();
            }
            using var next = region.Boot();
            byte* into = create(0); // zeroed fields and a NULL counter: restore allocates it
            d.Restore(RecordReader.Open(new KhoSegmentMemory(next), first, "main"), into, 0, next);
            Assert.That(check(into, 5), Is.EqualTo(1));
        }
        finally
        {
            NativeLibrary.Free(h);
        }
    }
}
