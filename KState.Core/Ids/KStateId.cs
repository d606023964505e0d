using System.IO.Hashing;
using System.Text;

namespace KState.Core.Ids;

/// <summary>
/// 64-bit ids for states and names. A name carries a vendor prefix, as in "acme-nic/rx-ring"; its id is the
/// XXH3-64 of its UTF-8 bytes (docs/FORMAT.md, "Ids"), the same on every machine and in every generation. Id 0 is
/// reserved (it names stream-level records), so a name that hashes to 0 gets 1.
/// </summary>
internal static class KStateId
{
    /// <summary>The id of a name.</summary>
    /// <exception cref="KStateInvalidException">The name is empty or longer than 255 UTF-8 bytes.</exception>
    public static ulong FromName(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        int n = Encoding.UTF8.GetByteCount(name);
        if (n == 0 || n > NameTable.MaxNameBytes) Throw.Invalid($"name '{name}' must be 1 to {NameTable.MaxNameBytes} UTF-8 bytes");
        Span<byte> utf8 = n <= 256 ? stackalloc byte[n] : new byte[n];
        Encoding.UTF8.GetBytes(name, utf8);
        ulong id = XxHash3.HashToUInt64(utf8);
        return id == 0 ? 1 : id;
    }

    /// <summary>The id of "<paramref name="vendor"/>/<paramref name="name"/>": a vendor prefix such as "acme-nic" and a name under it.</summary>
    /// <exception cref="KStateInvalidException">The vendor prefix is not lower-case letters, digits and dashes, or the name is empty.</exception>
    public static ulong FromName(string vendor, string name)
    {
        if (string.IsNullOrEmpty(vendor) || !vendor.All(c => char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c) || c == '-'))
            Throw.Invalid($"vendor prefix '{vendor}' must be lower-case letters, digits and dashes, like \"acme-nic\"");
        if (string.IsNullOrEmpty(name)) Throw.Invalid("name under a vendor prefix must not be empty");
        return FromName(vendor + "/" + name);
    }
}
