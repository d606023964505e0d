using KState;

namespace KState.Tests.Support;

/// <summary>A unique region path under /dev/shm, removed when disposed (even when the test failed).</summary>
public sealed class TestRegion : IDisposable
{
    public TestRegion(string tag = "t") => Path = $"/dev/shm/kstate-test-{tag}-{Environment.ProcessId}-{Guid.NewGuid():N}";

    public string Path { get; }

    /// <summary>Boots a generation on the region with poisoning on (the test default).</summary>
    public Kho Boot(ulong size = 8 << 20, bool poison = true) => Kho.Init(Path, size, new KhoOptions { Poison = poison });

    public void Dispose() => Kho.RemoveRegion(Path);

    public override string ToString() => Path;
}
