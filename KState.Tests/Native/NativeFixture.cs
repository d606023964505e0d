namespace KState.Tests.Native;

/// <summary>A test class that builds and runs C programs against libkstate.so: the toolchain is found once per class
/// (failing, or skipping with the reason, when there is none) and its build directory removed after.</summary>
public abstract class NativeFixture
{
    /// <summary>The compiler and the library the C programs are built against.</summary>
    private protected NativeToolchain C { get; private set; } = null!;

    [OneTimeSetUp]
    public void FindToolchain() => C = NativeToolchain.Find();

    [OneTimeTearDown]
    public void RemoveBuilds() => C?.Dispose();
}
