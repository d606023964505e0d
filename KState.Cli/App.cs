using System.CommandLine;

namespace KState.Cli;

/// <summary>The commands and their exit codes: 0 success, 1 invalid or incompatible, 2 usage or I/O error (a file
/// that cannot be read, or is not what the command reads). No arguments prints the help.</summary>
public static class App
{
    public const int Ok = 0, Invalid = 1, UsageOrIo = 2;

    /// <summary>Runs the tool with its output going to the given writers (tests call this in-process).</summary>
    /// <param name="args">The command line.</param>
    /// <param name="stdout">Text output.</param>
    /// <param name="stderr">Messages and errors.</param>
    /// <param name="binaryStdout">Where <c>inspect --fdt</c> and <c>--schema</c> write their raw bytes; null makes those a usage error.</param>
    public static int Run(string[] args, TextWriter stdout, TextWriter stderr, Stream? binaryStdout = null)
    {
        var root = BuildCommands(stdout, stderr, binaryStdout);
        var parse = root.Parse(args.Length == 0 ? ["--help"] : args);
        if (parse.Errors.Count > 0)
        {
            foreach (var e in parse.Errors) stderr.WriteLine($"kstate: {e.Message}");
            stderr.WriteLine("kstate: see kstate --help");
            return UsageOrIo;
        }
        try
        {
            return parse.Invoke(new InvocationConfiguration { Output = stdout, Error = stderr, EnableDefaultExceptionHandler = false });
        }
        catch (Exception e)
        {
            stderr.WriteLine($"kstate: {e.Message}");
            return e is KStateCorruptException or KStateVersionException ? Invalid : UsageOrIo;
        }
    }

    private static RootCommand BuildCommands(TextWriter stdout, TextWriter stderr, Stream? binaryStdout)
    {
        var root = new RootCommand("KState: hand a process's in-memory state to its next version across a restart, as KHO and KSTATE do for the kernel.");

        var demoRegion = new Option<string?>("--region") { Description = "Region file to use (default: a fresh one under /dev/shm, removed afterwards)" };
        var stateSize = new Option<long>("--state-size") { Description = "Bytes of cache values to build and hand over", DefaultValueFactory = _ => 64L << 20 };
        var discard = new Option<bool>("--discard-handover") { Description = "Let --region replace a region that holds a committed handover nobody has booted yet (it is lost)" };
        var json = new Option<bool>("--json") { Description = "Print one JSON object instead of text" };
        var sequential = new Option<bool>("--sequential") { Description = "Start the next generation only after this one has torn down, instead of before the handover (a successor waiting for the region)" };
        var noBaselines = new Option<bool>("--no-baselines") { Description = "Skip carrying the same state by MemoryPack and by memcpy (the comparison)" };
        var copy = new Option<bool>("--copy") { Description = "Hand the index over by copy through the session's records, instead of in place (for comparison)" };
        var integrity = new Option<string>("--integrity") { Description = "How the index handed over in place is checked at restore: checksum (its bytes hashed) or trusted (only its metadata)", DefaultValueFactory = _ => "checksum" };
        integrity.AcceptOnlyFromAmong("checksum", "trusted");
        var demoHandOn = new Option<bool>("--hand-on") { Description = "The successor hands the state over again after serving, leaving a committed handover in --region (for `kstate inspect` or a further generation)" };
        var demo = new Command("demo", "Run the live-update demo: a key-value cache hands its state to a new process of itself") { demoRegion, discard, stateSize, sequential, noBaselines, copy, integrity, demoHandOn, json };
        demo.SetAction(r => Demo.Run(r.GetValue(demoRegion), r.GetValue(discard), r.GetValue(stateSize), r.GetValue(sequential), !r.GetValue(noBaselines),
            new Demo.Handover(r.GetValue(copy), Demo.Handover.ParseIntegrity(r.GetValue(integrity)), r.GetValue(demoHandOn)), r.GetValue(json), stdout, stderr));
        root.Subcommands.Add(demo);

        var nextRegion = new Argument<string>("region");
        var nextWait = new Option<bool>("--wait") { Description = "Say \"ready\", then wait for the region's handover (Kho.InitWait)" };
        var nextCopy = new Option<bool>("--copy") { Description = "The index comes by copy" };
        var nextIntegrity = new Option<string>("--integrity") { Description = "The index's integrity (as the demo's)", DefaultValueFactory = _ => "checksum" };
        var handOn = new Option<bool>("--hand-on") { Description = "After serving, hand the state over again (for a further demo-next)" };
        var next = new Command("demo-next", "The demo's second generation (started by demo)") { nextRegion, nextWait, nextCopy, nextIntegrity, handOn };
        next.Hidden = true;
        next.SetAction(r => Demo.NextGeneration(r.GetValue(nextRegion)!, r.GetValue(nextWait),
            new Demo.Handover(r.GetValue(nextCopy), Demo.Handover.ParseIntegrity(r.GetValue(nextIntegrity)), r.GetValue(handOn)), stdout, stderr));
        root.Subcommands.Add(next);

        var region = new Argument<string>("region") { Description = "Region file, e.g. /dev/shm/myservice" };
        var inspectJson = new Option<bool>("--json") { Description = "Print one JSON object" };
        var fdt = new Option<bool>("--fdt") { Description = "Write the raw root FDT to standard output (dtc -I dtb reads it)" };
        var schema = new Option<bool>("--schema") { Description = "Write the schema the KSTATE stream carries to standard output (a schema file for compat)" };
        var inspect = new Command("inspect", "Show the commit slots, root tree, subtrees, preserved memory, scratch, KSTATE records and sessions of a region") { region, inspectJson, fdt, schema };
        inspect.SetAction(r => Inspect.Run(r.GetValue(region)!, r.GetValue(inspectJson), r.GetValue(fdt), r.GetValue(schema), stdout, stderr, binaryStdout));
        root.Subcommands.Add(inspect);

        var verifyRegion = new Argument<string>("region") { Description = "Region file" };
        var verify = new Command("verify", "Check everything in a region: exit 0 valid, 1 invalid (reason and offset on standard error), 2 usage or I/O error") { verifyRegion };
        verify.SetAction(r => Verify.Run(r.GetValue(verifyRegion)!, stdout, stderr));
        root.Subcommands.Add(verify);

        var oldArg = new Argument<string>("old") { Description = "Region or schema file of the version running now" };
        var newArg = new Argument<string>("new") { Description = "Region or schema file of the next version" };
        var compat = new Command("compat", "Can NEW restore what OLD saves? Lists every incompatibility: exit 0 compatible, 1 not") { oldArg, newArg };
        compat.SetAction(r => Compat.Run(r.GetValue(oldArg)!, r.GetValue(newArg)!, stdout, stderr));
        root.Subcommands.Add(compat);

        var schemaSource = new Argument<string>("source") { Description = "Region or schema file (as inspect --schema writes)" };
        var schemaJson = new Option<bool>("--json") { Description = "Print one JSON object (docs/JSON.md)" };
        var schemaCommand = new Command("schema", "Show the descriptions a region's KSTATE stream or a schema file holds: fields, kinds, sizes, versions") { schemaSource, schemaJson };
        schemaCommand.SetAction(r => SchemaCommand.Run(r.GetValue(schemaSource)!, r.GetValue(schemaJson), stdout, stderr));
        root.Subcommands.Add(schemaCommand);

        var extractRegion = new Argument<string>("region") { Description = "Region file" };
        var record = new Option<string?>("--record") { Description = "A record's payload: STATE[/INSTANCE], the state as an id (0x... or decimal) or name, the instance id 0 by default" };
        var subtree = new Option<string?>("--subtree") { Description = "A subtree's blob, by name" };
        var range = new Option<string[]>("--range") { Description = "Preserved memory: PHYS SIZE (0x... or decimal)", Arity = new ArgumentArity(2, 2), AllowMultipleArgumentsPerToken = true };
        var output = new Option<string>("--output", "-o") { Description = "File to write", Required = true };
        var extract = new Command("extract", "Write a record's payload, a subtree or a range of preserved memory to a file (reads only)") { extractRegion, record, subtree, range, output };
        extract.SetAction(r => Extract.Run(r.GetValue(extractRegion)!, r.GetValue(record), r.GetValue(subtree), r.GetValue(range), r.GetValue(output)!, stdout, stderr));
        root.Subcommands.Add(extract);
        return root;
    }
}
