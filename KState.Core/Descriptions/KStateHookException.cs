namespace KState;

/// <summary>A description's hook (pre_save, post_load) or custom callback refused: <see cref="Code"/> is what it returned.</summary>
public sealed class KStateHookException(string message, int code) : KStateException(message)
{
    /// <summary>The hook's non-zero return value.</summary>
    public int Code { get; } = code;

    /// <inheritdoc/>
    /// <remarks>A negative errno returned by the hook is passed through; anything else is EINVAL.</remarks>
    public override int Errno => Code < 0 && Code > -4096 ? -Code : 22;
}
