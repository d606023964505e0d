using System.Buffers.Binary;
using KState.Core.Schema;

namespace KState.Cli;

/// <summary><c>kstate compat OLD NEW</c>: compares two schemas, each from a region or a schema file.</summary>
internal static class Compat
{
    private const ulong RegionMagic = 0x3130_4F48_4B54_534B; // "KSTKHO01", docs/FORMAT.md

    public static int Run(string oldPath, string newPath, TextWriter stdout, TextWriter stderr)
    {
        var saver = Load(oldPath);
        var restorer = Load(newPath);
        var problems = SchemaComparison.Compare(saver, restorer);
        if (problems.Count == 0)
        {
            stdout.WriteLine($"compatible: {newPath} restores every one of the {saver.Descriptions.Count} descriptions {oldPath} saves");
            return App.Ok;
        }
        stdout.WriteLine($"incompatible: {problems.Count} problem(s)");
        foreach (var p in problems) stdout.WriteLine($"  {p}");
        return App.Invalid;
    }

    /// <summary>The schema of a region's KSTATE stream, or of a schema file.</summary>
    public static KStateSchema Load(string path)
    {
        Span<byte> magic = stackalloc byte[8];
        using (var f = File.OpenRead(path))
            if (f.Read(magic) == 8 && BinaryPrimitives.ReadUInt64LittleEndian(magic) == RegionMagic)
            {
                using var region = KhoInspector.Open(path);
                return RegionReport.Read(region).Schema ?? throw new KStateNotFoundException($"{path} carries no schema (no KSTATE objects were saved)");
            }
        return KStateSchema.FromBytes(File.ReadAllBytes(path));
    }
}
