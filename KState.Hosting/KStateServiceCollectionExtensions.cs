using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;

namespace KState.Hosting;

/// <summary>Adds KState to a Generic Host (docs/HOSTING.md).</summary>
public static class KStateServiceCollectionExtensions
{
    /// <summary>
    /// Boots a KState region when the host starts, before any service's <c>StartAsync</c>, and finalizes the
    /// handover when the host stops (SIGTERM under systemd), after every service's <c>StopAsync</c>, within
    /// <see cref="KStateHostOptions.FinalizeTimeout"/>. Services get the generation as <see cref="IKStateHost"/>.
    /// </summary>
    /// <param name="services">The host's services.</param>
    /// <param name="configure">Sets the region and the limits.</param>
    /// <returns><paramref name="services"/>.</returns>
    public static IServiceCollection AddKState(this IServiceCollection services, Action<KStateHostOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configure);
        services.AddOptions<KStateHostOptions>().Configure(configure);
        services.TryAddSingleton<KStateHost>();
        services.TryAddSingleton<IKStateHost>(sp => sp.GetRequiredService<KStateHost>());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IHostedService, KStateHostedService>());
        return services;
    }
}
