namespace KState.Fuzz;

/// <summary>The region file a target writes each input into: private to this user (0600, as regions must be) and this process.</summary>
internal sealed class ScratchRegion : IDisposable
{
    private readonly FileStream _file;

    public ScratchRegion(string target)
    {
        // build.sh gives each run its own folder, so it removes exactly what the run's fuzzed processes left behind.
        string dir = Environment.GetEnvironmentVariable("KSTATE_FUZZ_SHM") ?? "/dev/shm";
        Path = $"{dir}/kstate-fuzz-{target}-{Environment.ProcessId}";
        _file = new FileStream(Path, new FileStreamOptions
        {
            Mode = FileMode.Create,
            Access = FileAccess.ReadWrite,
            Share = FileShare.ReadWrite,
            UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite,
        });
    }

    public string Path { get; }

    /// <summary>Makes the file exactly <paramref name="bytes"/>.</summary>
    public void Write(ReadOnlySpan<byte> bytes)
    {
        _file.SetLength(bytes.Length);
        _file.Position = 0;
        _file.Write(bytes);
        _file.Flush();
    }

    public void Dispose()
    {
        _file.Dispose();
        File.Delete(Path);
    }
}
