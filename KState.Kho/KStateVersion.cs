using System.Reflection;

namespace KState;

/// <summary>The version of KState in this process: the packages' version, the one <c>kstate_version()</c> gives C.</summary>
public static class KStateVersion
{
    /// <summary>"MAJOR.MINOR.PATCH" (with a pre-release suffix if the package has one), without build metadata.</summary>
    public static string Value { get; } = Read();

    private static string Read()
    {
        // The SDK writes Directory.Build.props' Version here, with "+commit" appended when it knows the commit.
        var informational = typeof(KStateVersion).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion;
        if (informational is not null) return informational.Split('+')[0];
        return typeof(KStateVersion).Assembly.GetName().Version?.ToString(3) ?? "0.0.0";
    }
}
