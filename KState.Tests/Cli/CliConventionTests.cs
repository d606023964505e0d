using KState.Cli;
using KState.Inspection;
using KState.Tests.Support;

namespace KState.Tests.Cli;

/// <summary>
/// The tool's conventions (issue 15): no arguments is help, a file that cannot be read is exit 2 with the real
/// reason (never the "incompatible" exit 1), and the read-only commands read a region whose mode lets group or
/// others in, with a warning, while booting it is still refused.
/// </summary>
[NonParallelizable]
public class CliConventionTests
{
    private static (int Code, string Out, string Err) Kstate(params string[] args)
    {
        var o = new StringWriter();
        var e = new StringWriter();
        int code = App.Run(args, o, e);
        return (code, o.ToString(), e.ToString());
    }

    private static TestRegion TalkRegion(string tag)
    {
        var region = new TestRegion(tag);
        var child = Child.Run("talk-save", region.Path);
        Assert.That(child.ExitCode, Is.Zero, child.ToString());
        return region;
    }

    [Test]
    public void No_arguments_prints_the_help_and_exits_0()
    {
        var (code, output, err) = Kstate();
        using (Assert.EnterMultipleScope())
        {
            Assert.That(code, Is.EqualTo(App.Ok), err);
            Assert.That(output, Does.Contain("Usage:").And.Contain("inspect").And.Contain("verify").And.Contain("compat").And.Contain("demo"));
            Assert.That(output, Does.Not.Contain("generation"), "the demo did not run");
            Assert.That(err, Is.Empty);
        }
    }

    [Test]
    public void Compat_on_a_file_that_is_neither_region_nor_schema_exits_2_and_says_so()
    {
        using var file = new TestRegion("cli-six-bytes");
        using var region = TalkRegion("cli-compat-six");
        File.WriteAllText(file.Path, "abcdef");
        var (code, _, err) = Kstate("compat", file.Path, region.Path);
        Assert.That(code, Is.EqualTo(App.UsageOrIo));
        Assert.That(err, Does.Contain($"cannot read OLD {file.Path}: neither a KState region").And.Contain("nor a schema file"));
        var (codeNew, _, errNew) = Kstate("compat", region.Path, file.Path);
        Assert.That(codeNew, Is.EqualTo(App.UsageOrIo));
        Assert.That(errNew, Does.Contain($"cannot read NEW {file.Path}"));
    }

    [Test]
    public void Compat_on_a_directory_or_a_missing_file_exits_2_with_the_reason()
    {
        using var region = TalkRegion("cli-compat-dir");
        var dir = Kstate("compat", "/dev/shm", region.Path);
        Assert.That(dir.Code, Is.EqualTo(App.UsageOrIo));
        Assert.That(dir.Err, Does.Contain("cannot read OLD /dev/shm: it is a directory"));
        Assert.That(dir.Err, Does.Not.Contain("Access to the path"));
        var missing = Kstate("compat", region.Path, region.Path + "-absent");
        Assert.That(missing.Code, Is.EqualTo(App.UsageOrIo));
        Assert.That(missing.Err, Does.Contain($"cannot read NEW {region.Path}-absent: no such file"));
    }

    [Test]
    public void Compat_on_a_region_that_saved_no_schema_exits_2()
    {
        using var empty = new TestRegion("cli-compat-empty");
        using var region = TalkRegion("cli-compat-full");
        using (empty.Boot()) { }
        var (code, _, err) = Kstate("compat", empty.Path, region.Path);
        Assert.That(code, Is.EqualTo(App.UsageOrIo));
        Assert.That(err, Does.Contain("carries no schema"));
    }

    [Test]
    public void Inspect_of_a_file_that_is_not_a_region_exits_2_with_the_reason()
    {
        using var file = new TestRegion("cli-inspect-text");
        File.WriteAllText(file.Path, new string('x', 8192));
        var (code, _, err) = Kstate("inspect", file.Path);
        Assert.That(code, Is.EqualTo(App.UsageOrIo));
        Assert.That(err, Does.Contain($"cannot read {file.Path}: not a KState region"));
        var dir = Kstate("inspect", "/dev/shm");
        Assert.That(dir.Code, Is.EqualTo(App.UsageOrIo));
        Assert.That(dir.Err, Does.Contain("it is a directory"));
    }

    [Test]
    public void Read_only_commands_read_a_region_of_mode_0644_and_warn_about_it()
    {
        using var region = TalkRegion("cli-mode");
        File.SetUnixFileMode(region.Path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
        const string warning = "warning: region";
        foreach (var args in new[] { new[] { "inspect", region.Path }, ["verify", region.Path], ["compat", region.Path, region.Path] })
        {
            var (code, output, err) = Kstate(args);
            Assert.That(code, Is.EqualTo(App.Ok), $"{args[0]}: {err}");
            Assert.That(err, Does.Contain(warning).And.Contain("has mode 644"), args[0]);
            Assert.That(output, Is.Not.Empty, args[0]);
        }
        // Booting writes: there the mode is still refused.
        var e = Assert.Throws<KStateInvalidException>(() => Kho.Init(region.Path, 0).Dispose());
        Assert.That(e!.Message, Does.Contain("has mode 644"));
    }

    [Test]
    public void The_inspector_refuses_mode_0644_unless_given_somewhere_to_warn()
    {
        using var region = new TestRegion("cli-inspector-mode");
        region.Boot(1 << 20).Dispose();
        File.SetUnixFileMode(region.Path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
        var e = Assert.Throws<KStateInvalidException>(() => KhoInspector.Open(region.Path).Dispose());
        Assert.That(e!.Message, Does.Contain("group or others"));
        var warnings = new List<string>();
        using (var inspector = KhoInspector.Open(region.Path, warnings.Add))
            Assert.That(inspector.HasHandover, Is.False);
        Assert.That(warnings, Has.Count.EqualTo(1));
        Assert.That(warnings[0], Does.Contain("has mode 644"));
    }
}
