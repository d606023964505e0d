using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Microsoft.Win32.SafeHandles;

namespace KState.Hosting;

/// <summary>The generation behind <see cref="IKStateHost"/>: boots the region (<see cref="Boot"/>, at the host's
/// start) and finalizes or gives up the handover (<see cref="FinalizeAsync"/>, at its stop), then lets go of the
/// region so that the successor can boot.</summary>
internal sealed class KStateHost(IOptions<KStateHostOptions> options, ILogger<KStateHost> logger) : IKStateHost, IDisposable
{
    private readonly KStateHostOptions _options = options.Value;
    private readonly Lock _lock = new();
    private Kho? _kho;
    private KStateStreams? _streams;
    private KStateRegistry? _registry;
    private KStateSessions? _sessions;
    private SafeFileHandle? _memfd; // a memfd region this generation created: kept open for as long as it runs
    private volatile KStateHandoverState _handover;

    public bool IsBooted => _kho is not null;

    public Kho Kho => _kho ?? throw NotBooted();

    public KhoBootStatus BootStatus => Kho.BootStatus;

    public bool IsKhoBoot => Kho.IsKhoBoot;

    public KStateStreams Streams => _streams ?? throw NotBooted();

    public KStateRegistry Registry => _registry ?? throw NotBooted();

    public KStateSessions Sessions => _sessions ?? throw NotBooted();

    public ulong LiveUpdateCount => Sessions.LiveUpdateCount;

    public bool HandOverOnStop { get; set; } = true;

    public KStateHandoverState Handover => _handover;

    private static InvalidOperationException NotBooted() =>
        new("the KState region is not booted yet: AddKState boots it in IHostedLifecycleService.StartingAsync, before the services' StartAsync");

    /// <summary>Boots the region and attaches the streams, sessions and registry. A boot that fails is logged and
    /// thrown: the host does not start.</summary>
    public void Boot()
    {
        lock (_lock)
        {
            if (_kho is not null) return;
            long started = Stopwatch.GetTimestamp();
            Kho kho;
            try
            {
                kho = Open();
            }
            catch (Exception e)
            {
                Log.BootFailed(logger, Source, e);
                _memfd?.Dispose();
                _memfd = null;
                throw;
            }
            try
            {
                _streams = new KStateStreams(kho);
                _sessions = new KStateSessions(_streams);
                if (_options.Version is { } version) _sessions.Version = version;
                _registry = new KStateRegistry(_streams);
            }
            catch
            {
                kho.Dispose();
                _memfd?.Dispose(); // a memfd this boot created goes with it
                _memfd = null;
                throw;
            }
            _kho = kho;
            var status = kho.BootStatus;
            Log.Booted(logger, kho.RegionPath, status.KindName, status.Generation, _sessions.LiveUpdateCount, Stopwatch.GetElapsedTime(started).TotalMilliseconds, status.Reason);
            if (status.Kind is KhoBootKind.Damaged or KhoBootKind.Incompatible) Log.HandoverDamaged(logger, kho.RegionPath, status.Reason);
            if (_streams.IncomingProblem is { } problem) Log.StreamsDamaged(logger, kho.RegionPath, problem);
            else if (_sessions.IncomingProblem is { } sessions) Log.StreamsDamaged(logger, kho.RegionPath, sessions);
        }
    }

    private string Source => _options.RegionPath ?? (_options.RegionFd is { } fd ? $"fd {fd}" : $"fd store '{_options.RegionFdName}'");

    private Kho Open()
    {
        int sources = (_options.RegionPath is null ? 0 : 1) + (_options.RegionFd is null ? 0 : 1) + (_options.RegionFdName is null ? 0 : 1);
        if (sources != 1)
            throw new KStateInvalidException($"AddKState: set exactly one of RegionPath, RegionFd and RegionFdName ({sources} are set)");
        var wait = _options.WaitForPredecessor;
        if (wait < TimeSpan.Zero && wait != Timeout.InfiniteTimeSpan)
            throw new KStateInvalidException($"AddKState: WaitForPredecessor {wait} is negative");
        if (_options.FinalizeTimeout < TimeSpan.Zero && _options.FinalizeTimeout != Timeout.InfiniteTimeSpan)
            throw new KStateInvalidException($"AddKState: FinalizeTimeout {_options.FinalizeTimeout} is negative");
        if (_options.RegionPath is { } path)
        {
            ulong size = File.Exists(path) ? 0 : _options.RegionSize; // an existing region is adopted with its own size
            return wait == TimeSpan.Zero ? Kho.Init(path, size, _options.Kho) : Kho.InitWait(path, size, wait, _options.Kho);
        }
        if (_options.RegionFd is { } fd) return Kho.Init(fd, IsEmpty(fd) ? _options.RegionSize : 0, _options.Kho);
        string name = _options.RegionFdName!;
        if (SystemdFds.TryFind(name, out int stored))
        {
            Log.FdFromStore(logger, name, stored);
            return Kho.Init(stored, IsEmpty(stored) ? _options.RegionSize : 0, _options.Kho);
        }
        _memfd = Kho.CreateMemfd(name);
        var kho = Kho.Init(_memfd, _options.RegionSize, _options.Kho);
        if (_options.StoreRegionFd)
        {
            try
            {
                if (SystemdFds.Store(_memfd, name)) Log.FdStored(logger, name);
                else Log.FdNotStored(logger, name);
            }
            catch (Exception e) when (e is KStateException or IOException)
            {
                Log.FdStoreFailed(logger, name, e);
            }
        }
        return kho;
    }

    /// <summary>True when the file is empty (a new memfd): formatted then, adopted as it is otherwise.</summary>
    private static bool IsEmpty(int fd) =>
        Mono.Unix.Native.Syscall.fstat(fd, out var st) == 0 ? st.st_size == 0 : throw new KStateInvalidException($"fd {fd} is not an open file descriptor");

    /// <summary>At the host's stop, after every service stopped: finalizes within the deadline, or leaves a cold
    /// start (a failed finalize commits nothing; a late one is withdrawn), then lets go of the region.</summary>
    public async Task FinalizeAsync(CancellationToken cancellationToken)
    {
        var kho = _kho;
        if (kho is null) return;
        try
        {
            _handover = await HandOver(kho, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            Dispose(); // letting go of the region is what a successor waiting in InitWait boots on
        }
    }

    private async Task<KStateHandoverState> HandOver(Kho kho, CancellationToken cancellationToken)
    {
        if (!HandOverOnStop)
        {
            Log.HandoverSkipped(logger, kho.RegionPath);
            return KStateHandoverState.Skipped;
        }
        var timeout = _options.FinalizeTimeout;
        long started = Stopwatch.GetTimestamp();
        var finalize = Task.Factory.StartNew(kho.FinalizeHandover, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        bool late = false;
        try
        {
            await finalize.WaitAsync(timeout, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is TimeoutException or OperationCanceledException)
        {
            late = true;
        }
        catch (Exception e)
        {
            Log.FinalizeFailed(logger, kho.RegionPath, e);
            return KStateHandoverState.Failed;
        }
        var took = Stopwatch.GetElapsedTime(started);
        if (!late && (timeout == Timeout.InfiniteTimeSpan || took <= timeout))
        {
            Log.HandedOver(logger, kho.RegionPath, took.TotalMilliseconds);
            return KStateHandoverState.Committed;
        }
        Log.FinalizeLate(logger, kho.RegionPath, timeout.TotalMilliseconds);
        try
        {
            await finalize.ConfigureAwait(false); // it cannot be stopped halfway: wait for it, then withdraw what it did
        }
        catch (Exception e)
        {
            Log.FinalizeFailed(logger, kho.RegionPath, e);
            return KStateHandoverState.Failed;
        }
        try
        {
            kho.AbortHandover();
            Log.HandoverWithdrawn(logger, kho.RegionPath, Stopwatch.GetElapsedTime(started).TotalMilliseconds);
        }
        catch (Exception e) when (e is KStateException or ObjectDisposedException)
        {
            Log.WithdrawFailed(logger, kho.RegionPath, e);
        }
        return KStateHandoverState.TimedOut;
    }

    /// <summary>Lets go of the region (without a finalize, the next boot is cold).</summary>
    public void Dispose()
    {
        lock (_lock)
        {
            _streams?.Dispose();
            _kho?.Dispose();
            _memfd?.Dispose();
        }
    }
}
