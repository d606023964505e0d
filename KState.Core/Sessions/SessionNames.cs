using System.Text;

namespace KState.Core.Sessions;

/// <summary>The rule for session names and compatible strings: 1 to 63 UTF-8 bytes, no NUL (as LUO's names).</summary>
internal static class SessionNames
{
    public const int MaxBytes = 63;

    public static void Check(string? name, string what, int maxBytes = MaxBytes)
    {
        if (string.IsNullOrEmpty(name) || name.Contains('\0') || Encoding.UTF8.GetByteCount(name) > maxBytes)
            Throw.Invalid($"{what} '{name}' must be 1 to {maxBytes} UTF-8 bytes without NUL");
    }
}
