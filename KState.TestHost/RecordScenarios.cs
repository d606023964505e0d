namespace KState.TestHost;

/// <summary>A generation that saves KSTATE records into KHO and hands them over.</summary>
internal static class RecordScenarios
{
    public static int Save(string region, int count)
    {
        using var kho = Kho.Init(region, 32 << 20, new KhoOptions { Poison = true });
        using var streams = new KStateStreams(kho);
        var main = streams.Set.Create("main");
        ulong id = main.Name2Id("acme-nic/queue");
        for (ulong i = 0; i < (ulong)count; i++)
        {
            main.BeginRecord(id, i, 1);
            main.PutUInt64(i * i);
            main.PutString($"queue {i}");
            main.EndRecord();
        }
        streams.Set.Create("session-1").WriteRecord(7, 7, 1, new byte[100_000]);
        var dropped = streams.Set.Create("dropped");
        dropped.WriteRecord(1, 1, 1, new byte[10]);
        streams.Set.DropOutgoing("dropped");
        kho.FinalizeHandover();
        return 0;
    }
}

/// <summary>A generation that saves records with the public lower-level API (registry SaveRecord) and hands them over.</summary>
internal static class RawRecordScenarios
{
    public static int Save(string region)
    {
        using var kho = Kho.Init(region, 32 << 20, new KhoOptions { Poison = true });
        using var streams = new KStateStreams(kho);
        var registry = new KStateRegistry(streams);
        for (ulong i = 0; i < 100; i++)
            registry.SaveRecord("acme-db/page", i, 3, w =>
            {
                w.PutUInt64(i * 7);
                w.PutString($"page {i}");
            });
        var table = new byte[1 << 20];
        for (int i = 0; i < table.Length; i++) table[i] = (byte)(i * 31 + 7);
        registry.SaveRecord(42, 1, 1, w => w.PutBlob(table)); // out of line: one data segment
        kho.FinalizeHandover();
        return 0;
    }
}
