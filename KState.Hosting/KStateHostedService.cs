using Microsoft.Extensions.Hosting;

namespace KState.Hosting;

/// <summary>Runs the region's lifecycle in the host's: boot in <see cref="StartingAsync"/> (before any service's
/// StartAsync), finalize in <see cref="StoppedAsync"/> (after every service's StopAsync).</summary>
internal sealed class KStateHostedService(KStateHost host) : IHostedLifecycleService
{
    public Task StartingAsync(CancellationToken cancellationToken)
    {
        host.Boot();
        return Task.CompletedTask;
    }

    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppedAsync(CancellationToken cancellationToken) => host.FinalizeAsync(cancellationToken);
}
