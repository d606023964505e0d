using KState.Hosting;
using KState.Samples.Cache;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Console;

// A key-value cache that keeps its entries across restarts through KState (docs/HOSTING.md). It reads commands on
// stdin, one a line (set KEY VALUE, get KEY, del KEY, count), answers on stdout, logs on stderr, and stops on
// SIGTERM or at the end of its input; its next start finds the entries again.
//   --region PATH              the region file (or --region-fd-name NAME: systemd's fd store)
//   --finalize-timeout-ms N    the finalize deadline (default 10000)
//   --fail-finalize true       a participant that fails the finalize (shows a failed handover: the next start is cold)
//   --stop-at-end-of-input false   keep running when stdin ends (under systemd, where stdin is /dev/null)
var builder = Host.CreateApplicationBuilder(args);
builder.Services.AddSystemd();
builder.Services.Configure<ConsoleLoggerOptions>(o => o.LogToStandardErrorThreshold = LogLevel.Trace); // stdout is the protocol's
builder.Services.Configure<ConsoleLifetimeOptions>(o => o.SuppressStatusMessages = true);
var config = builder.Configuration;
builder.Services.AddKState(o =>
{
    o.RegionPath = config["region"];
    o.RegionFdName = config["region-fd-name"];
    o.RegionSize = 16 << 20;
    o.FinalizeTimeout = TimeSpan.FromMilliseconds(config.GetValue("finalize-timeout-ms", 10_000));
    o.WaitForPredecessor = TimeSpan.FromSeconds(config.GetValue("wait-s", 0));
});
builder.Services.AddSingleton(new CacheOptions
{
    FailFinalize = config.GetValue("fail-finalize", false),
    StopAtEndOfInput = config.GetValue("stop-at-end-of-input", true),
});
builder.Services.AddHostedService<CacheService>();
await builder.Build().RunAsync();
