using System.Diagnostics;
using KState.Tests.Native;

namespace KState.Tests.Reliability;

/// <summary>Every input afl-fuzz ever saved as a finding (KState.Fuzz/findings/TARGET/RUN/) is replayed on the current
/// build through the same harness: each must now end in a KState error or a clean read, never another exception.</summary>
public class FuzzFindingTests
{
    public static IEnumerable<string> Runs() =>
        Directory.Exists(Findings) ? Directory.GetDirectories(Findings).SelectMany(Directory.GetDirectories).Order() : [];

    private static string Findings => Path.Combine(NativeToolchain.Root(), "KState.Fuzz", "findings");

    [TestCaseSource(nameof(Runs))]
    public void A_saved_finding_is_fixed(string run)
    {
        string target = Path.GetFileName(Path.GetDirectoryName(run))!;
        string fuzz = Path.Combine(NativeToolchain.Root(), "KState.Fuzz", "bin", "Release", "net10.0", "KState.Fuzz.dll");
        if (!File.Exists(fuzz)) Assert.Ignore($"{fuzz} is not built: the findings were not replayed");
        // The template is a region: git checks it out 0644, which a region may not be.
        string work = Directory.CreateTempSubdirectory("kstate-finding-").FullName;
        try
        {
            string template = Path.Combine(work, "template.region");
            File.Copy(Path.Combine(run, "template.region"), template);
            File.SetUnixFileMode(template, UnixFileMode.UserRead | UnixFileMode.UserWrite);
            var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
            foreach (var a in (string[])[fuzz, "replay", target, template, .. Directory.GetFiles(run, "id*").Order()])
                psi.ArgumentList.Add(a);
            using var p = Process.Start(psi)!;
            var stdout = p.StandardOutput.ReadToEndAsync();
            var stderr = p.StandardError.ReadToEndAsync();
            if (!p.WaitForExit(TimeSpan.FromSeconds(60)))
            {
                p.Kill(entireProcessTree: true);
                Assert.Fail($"the replay of {run} hung (a finding that is a hang is not fixed)");
            }
            Assert.That(p.ExitCode, Is.Zero, $"{stdout.Result}\n{stderr.Result}");
        }
        finally
        {
            Directory.Delete(work, recursive: true);
        }
    }
}
