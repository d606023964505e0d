using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Running;

// ./build.sh bench [BenchmarkDotNet arguments], e.g. ./build.sh bench --filter '*Kho*'
// --smoke (ours, not BenchmarkDotNet's): every job, the classes' own included, is cut to one launch, one warm-up and
// one measured invocation, to check that the selected benchmarks run; its figures mean nothing. (--job dry adds a
// job next to a class's own and so still runs the full one.)
const string Smoke = "--smoke";
IConfig? config = args.Contains(Smoke)
    ? ManualConfig.Create(DefaultConfig.Instance).AddJob(new Job("Smoke")
        .WithLaunchCount(1).WithWarmupCount(1).WithIterationCount(1).WithInvocationCount(1).WithUnrollFactor(1)
        .AsMutator())
    : null;
BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run([.. args.Where(a => a != Smoke)], config);
