namespace KState.Fuzz;

/// <summary>One fuzz target: turns an input into a region file and reads it as the tools do.</summary>
internal interface ITarget : IDisposable
{
    /// <summary>Reads one input and says what the region held; a KState exception is an expected outcome, anything else is a finding.</summary>
    string Run(ReadOnlySpan<byte> input);

    /// <summary>The region bytes an input becomes (to keep a finding as a region file for kstate inspect).</summary>
    ReadOnlySpan<byte> Image(ReadOnlySpan<byte> input);
}

/// <summary>The rule every target follows: KState exceptions are the answer to bad input; any other exception escapes.</summary>
internal static class Harness
{
    /// <summary>Runs one input; returns what was read, or the KState exception's message when the input was rejected.</summary>
    public static string Run(ITarget target, ReadOnlySpan<byte> input)
    {
        try
        {
            return "read: " + target.Run(input);
        }
        catch (KStateException e)
        {
            return "rejected: " + e.Message;
        }
    }
}
