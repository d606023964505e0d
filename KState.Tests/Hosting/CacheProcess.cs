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

    private CacheProcess(ProcessStartInfo psi)
    {
        psi.RedirectStandardInput = psi.RedirectStandardOutput = psi.RedirectStandardError = true;
        psi.UseShellExecute = false;
        _process = Process.Start(psi) ?? throw new InvalidOperationException("could not start the sample");
        _stderr = _process.StandardError.ReadToEndAsync();
        Boot = ReadLine();
    }

    private static string Sample => Path.Combine(AppContext.BaseDirectory, "KState.Samples.Cache.dll");

    /// <summary>Starts the sample on <paramref name="region"/> and waits for its BOOT line.</summary>
    public static CacheProcess Start(string region, params string[] args)
    {
        var psi = new ProcessStartInfo("dotnet");
        psi.ArgumentList.Add(Sample);
        psi.ArgumentList.Add("--region");
        psi.ArgumentList.Add(region);
        foreach (var a in args) psi.ArgumentList.Add(a);
        return new(psi);
    }

    /// <summary>Starts the sample with its region in systemd's fd store under <paramref name="fdName"/>, as systemd
    /// would: <c>NOTIFY_SOCKET</c> set, and when <paramref name="storedFd"/> (an fd of this process) is given, that
    /// file at fd 3 with <c>LISTEN_FDS=1</c>, <c>LISTEN_FDNAMES</c> and <c>LISTEN_PID</c> set to the sample's own pid
    /// (by a shell that opens it and then execs the sample, keeping its pid).</summary>
    public static CacheProcess StartFromFdStore(string fdName, string notifySocket, int? storedFd)
    {
        var psi = new ProcessStartInfo("/bin/sh");
        psi.ArgumentList.Add("-c");
        psi.ArgumentList.Add(storedFd is { } fd
            ? $"exec 3<>/proc/{Environment.ProcessId}/fd/{fd}; LISTEN_PID=$$ LISTEN_FDS=1 LISTEN_FDNAMES=\"$0\"; export LISTEN_PID LISTEN_FDS LISTEN_FDNAMES; exec dotnet \"$1\" --region-fd-name \"$0\""
            : "exec dotnet \"$1\" --region-fd-name \"$0\"");
        psi.ArgumentList.Add(fdName);
        psi.ArgumentList.Add(Sample);
        foreach (var name in new[] { "LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES" }) psi.Environment.Remove(name);
        psi.Environment["NOTIFY_SOCKET"] = notifySocket;
        return new(psi);
    }

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
