global using NUnit.Framework;

// Tests share /dev/shm and spawn processes; run fixtures in parallel, tests inside a fixture in order.
[assembly: Parallelizable(ParallelScope.Fixtures)]
[assembly: LevelOfParallelism(2)]
