using System.Diagnostics;
using Mono.Unix.Native;

namespace KState.Tests.Hosting;

/// <summary>One run of the hosting sample (KState.Samples.Cache, built beside the tests) as a real process: its
/// BOOT line, a command and its reply at a time, then a stop by the end of its input, SIGTERM or SIGKILL.</summary>
public sealed class CacheProcess : IDisposable
{
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(120);
    private readonly Process _process;
    private readonly Task<string> _stderr;

    private CacheProcess(string region, string[] args)
    {
        var psi = new ProcessStartInfo("dotnet")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "KState.Samples.Cache.dll"));
        psi.ArgumentList.Add("--region");
        psi.ArgumentList.Add(region);
        foreach (var a in args) psi.ArgumentList.Add(a);
        _process = Process.Start(psi) ?? throw new InvalidOperationException("could not start the sample");
        _stderr = _process.StandardError.ReadToEndAsync();
        Boot = ReadLine();
    }

    /// <summary>Starts the sample on <paramref name="region"/> and waits for its BOOT line.</summary>
    public static CacheProcess Start(string region, params string[] args) => new(region, args);

    /// <summary>The first line: "BOOT KIND entries=N live-updates=N".</summary>
    public string Boot { get; }

    public string Send(string command)
    {
        _process.StandardInput.WriteLine(command);
        _process.StandardInput.Flush();
        return ReadLine();
    }

    private string ReadLine()
    {
        var line = _process.StandardOutput.ReadLineAsync();
        if (!line.Wait(Limit)) throw new TimeoutException("the sample did not answer");
        return line.Result ?? throw new InvalidOperationException($"the sample ended its output; stderr:\n{Stderr()}");
    }

    /// <summary>Closes its input (the sample stops itself) and waits for it; returns what it logged.</summary>
    public (int ExitCode, string Log) StopByEndOfInput()
    {
        _process.StandardInput.Close();
        return Wait();
    }

    /// <summary>Sends SIGTERM (systemd's stop) and waits; returns what it logged.</summary>
    public (int ExitCode, string Log) StopBySigterm()
    {
        if (Syscall.kill(_process.Id, Signum.SIGTERM) != 0) throw new InvalidOperationException($"kill: {Stdlib.GetLastError()}");
        return Wait();
    }

    /// <summary>SIGKILL: a crash, with no finalize.</summary>
    public void Crash()
    {
        _process.Kill();
        _process.WaitForExit();
    }

    private (int, string) Wait()
    {
        if (!_process.WaitForExit(Limit)) throw new TimeoutException("the sample did not stop");
        return (_process.ExitCode, Stderr());
    }

    private string Stderr() => _stderr.Wait(Limit) ? _stderr.Result : "(stderr not closed)";

    public void Dispose()
    {
        if (!_process.HasExited) _process.Kill(entireProcessTree: true);
        _process.Dispose();
    }
}
