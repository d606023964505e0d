using KState.Core.Records;

namespace KState.TestHost;

/// <summary>
/// Kho.Dispose racing with calls in flight on another thread. Run in a child so that a regression (the region
/// unmapped under a call: SIGSEGV) is a failed test, not a dead test run. Exit 0 when every round's other thread
/// ended with ObjectDisposedException.
/// </summary>
internal static class LeaseScenarios
{
    /// <summary>"alloc": zeroed 4 MiB folios allocated in a loop; "records": 1 MiB records written in a loop.</summary>
    public static int DisposeRace(string regionPath, string what, int rounds)
    {
        for (int round = 0; round < rounds; round++)
        {
            string path = $"{regionPath}-{round}";
            try
            {
                var kho = Kho.Init(path, 64 << 20, new KhoOptions { Poison = false });
                Exception? ended = null;
                using var running = new ManualResetEventSlim();
                var other = new Thread(() =>
                {
                    try
                    {
                        if (what == "alloc") AllocLoop(kho, running);
                        else RecordLoop(kho, running);
                    }
                    catch (Exception e)
                    {
                        ended = e;
                    }
                });
                other.Start();
                running.Wait();
                kho.Dispose();
                other.Join();
                if (ended is not ObjectDisposedException)
                {
                    Console.Error.WriteLine($"round {round}: the other thread ended with {ended?.GetType().Name ?? "nothing"}: {ended?.Message}");
                    return 1;
                }
            }
            finally
            {
                Kho.RemoveRegion(path);
            }
        }
        return 0;
    }

    private static void AllocLoop(Kho kho, ManualResetEventSlim running)
    {
        while (true)
        {
            var f = kho.AllocFolio(Kho.MaxOrder);
            running.Set();
            kho.PutFolio(f);
        }
    }

    private static void RecordLoop(Kho kho, ManualResetEventSlim running)
    {
        var payload = new byte[1 << 20];
        while (true)
        {
            var w = new RecordWriter(new KhoSegmentMemory(kho), "race");
            for (ulong i = 0; i < 8; i++)
            {
                w.WriteRecord(1, i, 1, payload);
                running.Set();
            }
            w.Release();
        }
    }
}
