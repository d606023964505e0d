// kstate: the project's command-line tool. For now it runs the live-update demo of the KHO emulator; inspect,
// verify and compat come with the stream format (issue 6).
using KState;
using KState.Cli;

try
{
    return args switch
    {
        [] or ["demo", ..] => Demo.Run(args.Length > 1 ? args[1..] : []),
        ["demo-next", var region, var expected] => Demo.NextGeneration(region, int.Parse(expected)),
        ["--help" or "-h" or "help"] => Usage(0),
        _ => Usage(2),
    };
}
catch (KStateException e)
{
    Console.Error.WriteLine($"kstate: {e.Message}");
    return 1;
}

static int Usage(int code)
{
    (code == 0 ? Console.Out : Console.Error).WriteLine("usage: kstate demo [--region PATH] [--folios N]");
    return code;
}
