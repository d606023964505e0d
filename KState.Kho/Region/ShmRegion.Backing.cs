namespace KState.Machine.Region;

internal sealed partial class ShmRegion
{
    private KhoBacking? _backing;

    /// <summary>What backs the region (probed on first use: reading the mount table is kept off the boot path).</summary>
    /// <exception cref="ObjectDisposedException">The region was closed.</exception>
    public KhoBacking Backing
    {
        get
        {
            if (_backing is { } known) return known;
            ObjectDisposedException.ThrowIf(_fd < 0, this);
            return _backing = BackingProbe.Probe(_fd, Path);
        }
    }
}
