namespace KState.TestHost.Shared;

/// <summary>Shapes a region's free memory for tests (shared by the test host and the tests).</summary>
public static class RegionShapes
{
    /// <summary>Leaves only single free pages in the region: every order-0 page allocated, then every other one freed,
    /// so no two free pages are adjacent. Returns the pages still allocated.</summary>
    public static List<Folio> Fragment(Kho kho)
    {
        var all = new List<Folio>();
        while (kho.TryAllocFolio(0, out var f)) all.Add(f);
        all.Sort((a, b) => a.Phys.CompareTo(b.Phys));
        var kept = new List<Folio>();
        for (int i = 0; i < all.Count; i++)
            if (i % 2 == 0) kho.PutFolio(all[i]);
            else kept.Add(all[i]);
        return kept;
    }
}
