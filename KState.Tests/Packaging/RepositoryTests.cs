using System.Diagnostics;
using System.IO.Compression;
using System.Text.RegularExpressions;
using System.Xml.Linq;

namespace KState.Tests.Packaging;

/// <summary>What a clone and a package carry (issue 15): docs that link only inside the repository, a licence, and
/// NuGet packages with their own README, the licence, tags and a symbols package.</summary>
[NonParallelizable]
public partial class RepositoryTests
{
    private static string Root()
    {
        var root = new DirectoryInfo(AppContext.BaseDirectory);
        while (!File.Exists(Path.Combine(root!.FullName, "KState.sln"))) root = root.Parent;
        return root.FullName;
    }

    private static IEnumerable<string> Documents() =>
        [Path.Combine(Root(), "README.md"), .. Directory.GetFiles(Path.Combine(Root(), "docs"), "*.md")];

    [Test]
    public void Every_link_in_the_docs_names_a_file_of_the_repository()
    {
        string root = Root();
        var broken = new List<string>();
        int links = 0;
        foreach (var doc in Documents())
            foreach (Match m in Link().Matches(File.ReadAllText(doc)))
            {
                string target = m.Groups[1].Value.Split('#')[0];
                if (target.Length == 0 || target.StartsWith("http", StringComparison.Ordinal)) continue;
                links++;
                string full = Path.GetFullPath(Path.Combine(Path.GetDirectoryName(doc)!, target));
                if (!full.StartsWith(root + Path.DirectorySeparatorChar, StringComparison.Ordinal) || !(File.Exists(full) || Directory.Exists(full)))
                    broken.Add($"{Path.GetRelativePath(root, doc)}: {m.Value}");
            }
        Assert.That(links, Is.GreaterThan(0), "the README links its documents");
        Assert.That(broken, Is.Empty);
        Assert.That(Documents().Where(d => File.ReadAllText(d).Contains("../shared", StringComparison.Ordinal)), Is.Empty,
            "no document points outside the repository");
    }

    [Test]
    public void The_licence_is_mit_by_the_kstate_engineers()
    {
        string licence = File.ReadAllText(Path.Combine(Root(), "LICENSE"));
        Assert.That(licence, Does.StartWith("MIT License").And.Contain("KState engineers"));
    }

    [TestCase("KState.Kho")]
    [TestCase("KState.Core")]
    public void The_package_carries_its_readme_licence_tags_and_symbols(string project)
    {
        string output = Directory.CreateTempSubdirectory("kstate-pack-").FullName;
        try
        {
            var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
            foreach (var a in new[] { "pack", Path.Combine(Root(), project, project + ".csproj"), "-c", "Release", "--no-build", "-o", output, "-nologo" })
                psi.ArgumentList.Add(a);
            using (var p = Process.Start(psi)!)
            {
                var err = p.StandardError.ReadToEndAsync();
                string stdout = p.StandardOutput.ReadToEnd();
                p.WaitForExit();
                Assert.That(p.ExitCode, Is.Zero, stdout + err.Result);
            }
            string version = KStateVersion.Value;
            Assert.That(File.Exists(Path.Combine(output, $"{project}.{version}.snupkg")), Is.True, "a symbols package");
            using var nupkg = ZipFile.OpenRead(Path.Combine(output, $"{project}.{version}.nupkg"));
            var nuspec = XDocument.Load(nupkg.GetEntry($"{project}.nuspec")!.Open());
            XNamespace ns = nuspec.Root!.Name.Namespace;
            var metadata = nuspec.Root.Element(ns + "metadata")!;
            string readme = metadata.Element(ns + "readme")!.Value;
            using var reader = new StreamReader(nupkg.GetEntry(readme)!.Open());
            string text = reader.ReadToEnd();
            using (Assert.EnterMultipleScope())
            {
                Assert.That(readme, Is.EqualTo("PACKAGE.md"));
                Assert.That(text, Does.Contain("dotnet add package KState.Core").And.Contain("Kho.Init"), "written for someone who installs it");
                Assert.That(nupkg.GetEntry("LICENSE"), Is.Not.Null);
                Assert.That(metadata.Element(ns + "license")!.Value, Is.EqualTo("MIT"));
                Assert.That(metadata.Element(ns + "tags")!.Value, Does.Contain("live-update").And.Contain("kho"));
                Assert.That(metadata.Element(ns + "version")!.Value, Is.EqualTo(version));
            }
        }
        finally
        {
            Directory.Delete(output, recursive: true);
        }
    }

    [GeneratedRegex(@"\[[^\]]*\]\(([^)\s]+)\)")]
    private static partial Regex Link();
}
