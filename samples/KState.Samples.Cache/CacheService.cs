using System.Runtime.InteropServices;
using KState;
using KState.Hosting;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace KState.Samples.Cache;

/// <summary>
/// The cache: restores its entries in <see cref="StartAsync"/> (the region is booted by then), serves stdin until it
/// ends or the host stops, and saves its entries in <see cref="StopAsync"/> (the handover is finalized after it).
/// </summary>
internal sealed unsafe partial class CacheService(IKStateHost kstate, IHostApplicationLifetime lifetime, CacheOptions options,
    ILogger<CacheService> logger) : IHostedService
{
    private readonly Lock _lock = new();
    private Dictionary<string, string> _entries = new(StringComparer.Ordinal);
    private bool _stopped;

    public Task StartAsync(CancellationToken cancellationToken)
    {
        if (kstate.IsKhoBoot) _entries = Restore();
        if (options.FailFinalize) kstate.Kho.AddParticipant(new FailingParticipant());
        Console.Out.WriteLine($"BOOT {kstate.BootStatus.KindName} entries={_entries.Count} live-updates={kstate.LiveUpdateCount}");
        Console.Out.Flush();
        // Stdin is read on its own thread: a read blocked on a terminal must not hold up the host's stop.
        new Thread(Serve) { IsBackground = true, Name = "cache stdin" }.Start();
        return Task.CompletedTask;
    }

    private Dictionary<string, string> Restore()
    {
        var image = new CacheImage();
        try
        {
            kstate.Registry.Restore(CacheImage.Description, &image, 0);
        }
        catch (KStateNotFoundException)
        {
            return new(StringComparer.Ordinal); // the previous generation held nothing
        }
        try
        {
            return CacheImage.Unpack(new ReadOnlySpan<byte>(image.Data.Value, (int)image.Bytes), image.Count);
        }
        finally
        {
            NativeMemory.Free(image.Data.Value); // restore allocated it (NativeAllocator)
        }
    }

    private void Serve()
    {
        while (Console.In.ReadLine() is { } line)
        {
            string reply = Execute(line);
            Console.Out.WriteLine(reply);
            Console.Out.Flush();
        }
        if (options.StopAtEndOfInput) lifetime.StopApplication(); // state is saved and handed over
    }

    private string Execute(string line)
    {
        var words = line.Split(' ', 3, StringSplitOptions.RemoveEmptyEntries);
        lock (_lock)
        {
            if (_stopped) return "ERR stopping";
            return words switch
            {
                ["set", var key, var value] => Set(key, value),
                ["get", var key] => _entries.TryGetValue(key, out var value) ? $"VALUE {value}" : "NOTFOUND",
                ["del", var key] => _entries.Remove(key) ? "OK" : "NOTFOUND",
                ["count"] => $"COUNT {_entries.Count}",
                _ => "ERR usage: set KEY VALUE | get KEY | del KEY | count",
            };
        }
    }

    private string Set(string key, string value)
    {
        _entries[key] = value;
        return "OK";
    }

    public Task StopAsync(CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            _stopped = true; // no change after this save
            if (_entries.Count == 0) return Task.CompletedTask;
            byte[] data = CacheImage.Pack(_entries);
            fixed (byte* d = data)
            {
                var image = new CacheImage { Count = (ulong)_entries.Count, Bytes = (ulong)data.Length, Data = new Ptr<byte>(d) };
                kstate.Registry.Save(CacheImage.Description, &image, 0); // copied into the handover's stream now
            }
            LogSaved(logger, _entries.Count, data.Length);
        }
        return Task.CompletedTask;
    }

    [LoggerMessage(1, LogLevel.Information, "cache saved {Entries} entries ({Bytes} bytes) for the next generation")]
    private static partial void LogSaved(ILogger logger, int entries, int bytes);

    /// <summary>Fails every finalize (--fail-finalize): what a subsystem that cannot save its state does.</summary>
    private sealed class FailingParticipant : IKhoParticipant
    {
        public void OnFinalize(Kho kho) => throw new KStateInvalidException("the sample was told to fail the finalize (--fail-finalize)");

        public void OnAbort(Kho kho) { }
    }
}
