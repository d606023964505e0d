namespace KState.Fuzz;

/// <summary>Runs saved inputs once each (a crash found by afl-fuzz, or the corpus) and says what each did.</summary>
internal static class Replay
{
    public static int Run(ITarget target, IEnumerable<string> files)
    {
        int findings = 0;
        using (target)
            foreach (var file in files)
            {
                try
                {
                    Console.WriteLine($"{file}: {Harness.Run(target, File.ReadAllBytes(file))}");
                }
                catch (Exception e)
                {
                    findings++;
                    Console.WriteLine($"{file}: FINDING: {e}");
                }
            }
        return findings == 0 ? 0 : 1;
    }
}
