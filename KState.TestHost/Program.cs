// The child side of live-update tests: each scenario is one generation, run as a real process that shares
// nothing with the test but the region. Exit 0 = every check passed; anything else prints why on stderr.
using KState.TestHost;

try
{
    return args.Length == 0 ? Usage() : args[0] switch
    {
        "kho-gen" => KhoScenarios.Generation(args[1], int.Parse(args[2]), int.Parse(args[3])),
        "kho-hold" => KhoScenarios.Hold(args[1]),
        "kho-crash-in-boot" => KhoScenarios.CrashInBoot(args[1]),
        "inplace-gen" => InPlaceScenarios.Generation(args[1], int.Parse(args[2])), "inplace-damaged" => InPlaceScenarios.Damaged(args[1]),
        "kho-predecessor" => WaitScenarios.Predecessor(args[1]),
        "records-save" => RecordScenarios.Save(args[1], int.Parse(args[2])),
        "records-raw-save" => RawRecordScenarios.Save(args[1]),
        "talk-save" => DescriptionScenarios.SaveTalk(args[1]),
        "inplace-kstate-gen" => InPlaceKStateScenarios.Generation(args[1], int.Parse(args[2]), int.Parse(args[3])),
        "sessions-save" => SessionScenarios.Save(args[1]),
        "sessions-rollback" => SessionScenarios.Rollback(args[1], args[2]),
        "sessions-chain-1" => SessionScenarios.Chain1(args[1]),
        "sessions-chain-2" => SessionScenarios.Chain2(args[1]),
        "sessions-crash" => SessionCrashScenario.Run(args[1], int.Parse(args[2])),
        "soak" => SoakScenario.Run(args[1], int.Parse(args[2]), int.Parse(args[3])),
        "dispose-race" => LeaseScenarios.DisposeRace(args[1], args[2], int.Parse(args[3])),
        "fd-send" => FdScenarios.Send(args[1], args[2]), "fd-receive" => FdScenarios.Receive(args[1]), "fd-store" => FdScenarios.Store(args[1], args[2]), "fd-listen" => FdScenarios.Listen(args[1]),
        _ => Usage(),
    };
}
catch (Exception e)
{
    Console.Error.WriteLine($"testhost: {e.GetType().Name}: {e.Message}");
    return 3;
}

static int Usage()
{
    Console.Error.WriteLine("usage: KState.TestHost SCENARIO ARGS...");
    return 2;
}
