using KState.Inspection;

namespace KState.Cli;

/// <summary>
/// Clears the way for a command that creates a region at a path it was given, without ever destroying a file it did
/// not create: only an absent path, or a KState region that no process has booted and whose handover (if any) the
/// user agreed to discard, may be replaced.
/// </summary>
internal static class RegionGuard
{
    /// <summary>Removes what is at <paramref name="path"/> when that loses nothing; otherwise returns why not (nothing changed).</summary>
    public static string? TryClear(string path, bool discardHandover)
    {
        var file = new FileInfo(path);
        if (file.LinkTarget is not null) return $"{path} is a symbolic link; refusing to replace it";
        if (!file.Exists) return Directory.Exists(path) ? $"{path} is a directory; refusing to replace it" : null;
        // FIFOs, devices and sockets report size 0 and are never opened here (a FIFO would block the open).
        if (file.Length == 0) return $"{path} is empty or not a regular file, so not a KState region; refusing to replace it";

        KhoInspector region;
        try
        {
            region = KhoInspector.Open(path);
        }
        catch (KStateNotFoundException)
        {
            return null; // removed meanwhile: absent
        }
        catch (KStateBusyException)
        {
            return $"{path} is a KState region booted by a running process; refusing to replace it";
        }
        catch (KStateException e)
        {
            return $"{path} is not a KState region this user may replace ({e.Message}); refusing to replace it";
        }
        using (region)
        {
            if (!discardHandover)
            {
                if (region.HasHandover)
                    return $"{path} holds a committed handover (generation {region.Generation}) that its next generation has not booted; pass --discard-handover to replace it";
                if (region.Problem is not null)
                    return $"{path} holds a handover or commit slot that does not validate ({region.Problem.Message}); pass --discard-handover to replace it";
            }
            // Unlinked under the inspector's shared lock, so no generation can boot it between the check and here.
            Kho.RemoveRegion(path);
        }
        return null;
    }
}
