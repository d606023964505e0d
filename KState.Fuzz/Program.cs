// KState.Fuzz: coverage-guided fuzzing of the boot validator and the stream reader under AFL++ with SharpFuzz.
// ./build.sh fuzz builds this, instruments KState.Kho and KState.Core, makes the corpora and runs afl-fuzz.
using KState.Fuzz;
using SharpFuzz;

return args switch
{
    ["seed", var dir] => Seeds.Write(dir),
    ["boot", var template] => Fuzz(() => new BootTarget(template)),
    ["stream", var template] => Fuzz(() => new StreamTarget(template)),
    ["replay", "boot", var template, .. var files] => Replay.Run(new BootTarget(template), files),
    ["replay", "stream", var template, .. var files] => Replay.Run(new StreamTarget(template), files),
    ["region", "boot", var template, var input, var output] => Region(new BootTarget(template), input, output),
    ["region", "stream", var template, var input, var output] => Region(new StreamTarget(template), input, output),
    _ => Usage(),
};

// AFL++ drives this process; the target runs in a child that SharpFuzz restarts after a crash. The target is made
// inside the loop: instrumented code run before SharpFuzz maps AFL's coverage map writes through a null pointer.
static int Fuzz(Func<ITarget> make)
{
    ITarget? target = null;
    try
    {
        Fuzzer.OutOfProcess.Run(stream =>
        {
            target ??= make();
            using var buffer = new MemoryStream();
            stream.CopyTo(buffer);
            Harness.Run(target, buffer.GetBuffer().AsSpan(0, (int)buffer.Length));
        });
    }
    finally
    {
        target?.Dispose();
    }
    return 0;
}

// The region file an input becomes, private to this user as regions must be: kstate inspect and verify read it.
static int Region(ITarget target, string input, string output)
{
    using (target)
    {
        File.Delete(output);
        using var file = new FileStream(output, new FileStreamOptions
        {
            Mode = FileMode.CreateNew,
            Access = FileAccess.Write,
            UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite,
        });
        file.Write(target.Image(File.ReadAllBytes(input)));
    }
    return 0;
}

static int Usage()
{
    Console.Error.WriteLine("""
        usage: KState.Fuzz seed DIR                          make DIR/template.region and the corpora DIR/boot, DIR/stream
               KState.Fuzz boot TEMPLATE                     fuzz the boot validator on a copy of TEMPLATE (under afl-fuzz)
               KState.Fuzz stream TEMPLATE                   fuzz the stream reader on a copy of TEMPLATE (under afl-fuzz)
               KState.Fuzz replay boot|stream TEMPLATE FILE...   run inputs once and say what each did
               KState.Fuzz region boot|stream TEMPLATE INPUT OUT  write the region an input becomes (for kstate inspect)
        """);
    return 2;
}
