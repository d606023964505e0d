namespace KState.Fuzz;

/// <summary>One fuzz target: turns an input into a region file and reads it as the tools do.</summary>
internal interface ITarget : IDisposable
{
    /// <summary>Reads one input; a KState exception is an expected outcome, anything else is a finding.</summary>
    void Run(ReadOnlySpan<byte> input);
}

/// <summary>The rule every target follows: KState exceptions are the answer to bad input; any other exception escapes.</summary>
internal static class Harness
{
    /// <summary>Runs one input; returns the KState exception's message, or null when the input was read cleanly.</summary>
    public static string? Run(ITarget target, ReadOnlySpan<byte> input)
    {
        try
        {
            target.Run(input);
            return null;
        }
        catch (KStateException e)
        {
            return e.Message;
        }
    }
}
