using BenchmarkDotNet.Running;

// ./build.sh bench [BenchmarkDotNet arguments], e.g. ./build.sh bench --filter '*Kho*'
BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
