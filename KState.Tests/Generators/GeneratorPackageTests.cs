using System.Diagnostics;
using System.IO.Compression;
using System.Xml.Linq;

namespace KState.Tests.Generators;

/// <summary>KState.Core's package carries the generator as a C# analyzer, so installing it is enough for [KStateDescribed].</summary>
[NonParallelizable]
public class GeneratorPackageTests
{
    [Test]
    public void The_KState_Core_package_carries_the_generator_as_an_analyzer_and_not_as_a_dependency()
    {
        var root = new DirectoryInfo(AppContext.BaseDirectory);
        while (!File.Exists(Path.Combine(root!.FullName, "KState.sln"))) root = root.Parent;
        string output = Directory.CreateTempSubdirectory("kstate-pack-gen-").FullName;
        try
        {
            var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
            foreach (var a in new[] { "pack", Path.Combine(root.FullName, "KState.Core", "KState.Core.csproj"), "-c", "Release", "--no-build", "-o", output, "-nologo" })
                psi.ArgumentList.Add(a);
            using (var p = Process.Start(psi)!)
            {
                var err = p.StandardError.ReadToEndAsync();
                string stdout = p.StandardOutput.ReadToEnd();
                p.WaitForExit();
                Assert.That(p.ExitCode, Is.Zero, stdout + err.Result);
            }
            using var nupkg = ZipFile.OpenRead(Path.Combine(output, $"KState.Core.{KStateVersion.Value}.nupkg"));
            var nuspec = XDocument.Load(nupkg.GetEntry("KState.Core.nuspec")!.Open());
            var dependencies = nuspec.Descendants().Where(e => e.Name.LocalName == "dependency").Select(e => e.Attribute("id")!.Value);
            using (Assert.EnterMultipleScope())
            {
                Assert.That(nupkg.GetEntry("analyzers/dotnet/cs/KState.Generators.dll"), Is.Not.Null);
                Assert.That(dependencies, Is.EqualTo(new[] { "KState.Kho" }), "the generator is inside, not a package of its own");
            }
        }
        finally
        {
            Directory.Delete(output, recursive: true);
        }
    }
}
