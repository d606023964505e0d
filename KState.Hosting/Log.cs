using Microsoft.Extensions.Logging;

namespace KState.Hosting;

/// <summary>What KState.Hosting logs (docs/METRICS.md, "Log messages"), source-generated.</summary>
internal static partial class Log
{
    [LoggerMessage(1, LogLevel.Information, "KState booted {Region}: {Kind}, generation {Generation}, {LiveUpdates} live updates, in {DurationMs:F3} ms ({Reason})")]
    public static partial void Booted(ILogger logger, string region, string kind, ulong generation, ulong liveUpdates, double durationMs, string reason);

    [LoggerMessage(2, LogLevel.Critical, "KState could not boot the region ({Source})")]
    public static partial void BootFailed(ILogger logger, string source, Exception error);

    [LoggerMessage(3, LogLevel.Warning, "KState found a damaged handover in {Region} and started cold: {Reason}")]
    public static partial void HandoverDamaged(ILogger logger, string region, string reason);

    [LoggerMessage(4, LogLevel.Warning, "KState cannot read the incoming state in {Region}: every restore will fail")]
    public static partial void StreamsDamaged(ILogger logger, string region, Exception error);

    [LoggerMessage(5, LogLevel.Information, "KState handed over {Region}: finalized in {DurationMs:F3} ms")]
    public static partial void HandedOver(ILogger logger, string region, double durationMs);

    [LoggerMessage(6, LogLevel.Error, "KState finalize of {Region} failed; nothing was handed over, the next start is cold")]
    public static partial void FinalizeFailed(ILogger logger, string region, Exception error);

    [LoggerMessage(7, LogLevel.Error, "KState finalize of {Region} did not end within {TimeoutMs} ms; the handover will be withdrawn, the next start is cold")]
    public static partial void FinalizeLate(ILogger logger, string region, double timeoutMs);

    [LoggerMessage(8, LogLevel.Warning, "KState withdrew the late handover of {Region} ({DurationMs:F3} ms after the finalize began)")]
    public static partial void HandoverWithdrawn(ILogger logger, string region, double durationMs);

    [LoggerMessage(9, LogLevel.Critical, "KState could not withdraw the late handover of {Region}; the next start may boot on it")]
    public static partial void WithdrawFailed(ILogger logger, string region, Exception error);

    [LoggerMessage(10, LogLevel.Information, "KState hands nothing over from {Region} (HandOverOnStop is false); the next start is cold")]
    public static partial void HandoverSkipped(ILogger logger, string region);

    [LoggerMessage(11, LogLevel.Information, "KState region '{Name}' came from systemd's fd store (fd {Fd})")]
    public static partial void FdFromStore(ILogger logger, string name, int fd);

    [LoggerMessage(12, LogLevel.Information, "KState gave the new region '{Name}' to systemd's fd store")]
    public static partial void FdStored(ILogger logger, string name);

    [LoggerMessage(13, LogLevel.Warning, "KState region '{Name}' is a new memfd, but there is no NOTIFY_SOCKET to store it in: it lives only as long as this process")]
    public static partial void FdNotStored(ILogger logger, string name);

    [LoggerMessage(14, LogLevel.Warning, "KState could not give the region '{Name}' to systemd's fd store: it lives only as long as this process")]
    public static partial void FdStoreFailed(ILogger logger, string name, Exception error);
}
