using System.Diagnostics.CodeAnalysis;

namespace KState;

/// <summary>
/// The errors KState reports, with their Linux errno values: every <see cref="KStateException"/> carries one, and the
/// C ABI returns it negated.
/// </summary>
public enum KStateErrno
{
    /// <summary>No handover, no such record, subtree or session.</summary>
    ENOENT = 2,

    /// <summary>Out of memory in the region.</summary>
    ENOMEM = 12,

    /// <summary>The region is held by another process, or the handover is finalized.</summary>
    EBUSY = 16,

    /// <summary>A duplicate name, registration or preservation.</summary>
    EEXIST = 17,

    /// <summary>A bad argument or an invalid description.</summary>
    EINVAL = 22,

    /// <summary>No space: the backing file system cannot hold the region, or a stream cannot grow.</summary>
    ENOSPC = 28,

    /// <summary>A record's version is outside the reader's range.</summary>
    EPROTO = 71,

    /// <summary>The region, handover or stream is corrupt.</summary>
    EBADMSG = 74,

    /// <summary>A wait for the region ran out of time (<c>kho_init_wait</c>).</summary>
    ETIMEDOUT = 110,
}

/// <summary>
/// Base of every error KState reports. <see cref="Errno"/> is the positive errno the C ABI returns negated;
/// <see cref="Error"/> names it.
/// </summary>
public abstract class KStateException : Exception
{
    /// <summary>Creates the exception.</summary>
    protected KStateException(string message, Exception? inner = null) : base(message, inner) { }

    /// <summary>The errno value (positive) that the C ABI returns, negated, for this error. A hook's own code
    /// (<c>KStateHookException</c>) may be any errno, so this is an int.</summary>
    public abstract int Errno { get; }

    /// <summary><see cref="Errno"/> as the enum (a hook's own code may be a value the enum does not name).</summary>
    public KStateErrno Error => (KStateErrno)Errno;
}

/// <summary>No handover, no such record, subtree or session (ENOENT).</summary>
public sealed class KStateNotFoundException(string message) : KStateException(message)
{
    /// <inheritdoc/>
    public override int Errno => (int)KStateErrno.ENOENT;
}

/// <summary>The region, handover or stream is corrupt (EBADMSG). <see cref="Offset"/> names where, when known.</summary>
public sealed class KStateCorruptException(string message, long offset = -1) : KStateException(offset >= 0 ? $"{message} (at offset {offset})" : message)
{
    /// <summary>Byte offset of the damage inside the structure being read, or -1 when unknown.</summary>
    public long Offset { get; } = offset;

    /// <inheritdoc/>
    public override int Errno => (int)KStateErrno.EBADMSG;
}

/// <summary>A record's version is outside the reader's [min_version_id, version_id] (EPROTO).</summary>
public sealed class KStateVersionException(string message) : KStateException(message)
{
    /// <inheritdoc/>
    public override int Errno => (int)KStateErrno.EPROTO;
}

/// <summary>A bad argument or an invalid description (EINVAL).</summary>
public sealed class KStateInvalidException(string message) : KStateException(message)
{
    /// <inheritdoc/>
    public override int Errno => (int)KStateErrno.EINVAL;
}

/// <summary>Out of memory in the region (ENOMEM).</summary>
public sealed class KStateOutOfMemoryException(string message) : KStateException(message)
{
    /// <inheritdoc/>
    public override int Errno => (int)KStateErrno.ENOMEM;
}

/// <summary>No space: the backing file system cannot hold the region, or a stream cannot grow (ENOSPC).</summary>
public sealed class KStateNoSpaceException(string message) : KStateException(message)
{
    /// <inheritdoc/>
    public override int Errno => (int)KStateErrno.ENOSPC;
}

/// <summary>The region is held by another process, or the handover is finalized (EBUSY).</summary>
public sealed class KStateBusyException(string message) : KStateException(message)
{
    /// <inheritdoc/>
    public override int Errno => (int)KStateErrno.EBUSY;
}

/// <summary>A duplicate name, registration or preservation (EEXIST).</summary>
public sealed class KStateExistsException(string message) : KStateException(message)
{
    /// <inheritdoc/>
    public override int Errno => (int)KStateErrno.EEXIST;
}

/// <summary>A wait for the region ran out of time while another process still had it booted (ETIMEDOUT).</summary>
public sealed class KStateTimeoutException(string message) : KStateException(message)
{
    /// <inheritdoc/>
    public override int Errno => (int)KStateErrno.ETIMEDOUT;
}

/// <summary>Throw helpers, kept out of line so hot methods stay small and inlineable.</summary>
internal static class Throw
{
    [DoesNotReturn] public static void Invalid(string message) => throw new KStateInvalidException(message);
    [DoesNotReturn] public static void Corrupt(string message, long offset = -1) => throw new KStateCorruptException(message, offset);
    [DoesNotReturn] public static void NotFound(string message) => throw new KStateNotFoundException(message);
    [DoesNotReturn] public static void Busy(string message) => throw new KStateBusyException(message);
    [DoesNotReturn] public static void Exists(string message) => throw new KStateExistsException(message);
    [DoesNotReturn] public static void OutOfMemory(string message) => throw new KStateOutOfMemoryException(message);
    [DoesNotReturn] public static void NoSpace(string message) => throw new KStateNoSpaceException(message);
    [DoesNotReturn] public static void Version(string message) => throw new KStateVersionException(message);
    [DoesNotReturn] public static void Timeout(string message) => throw new KStateTimeoutException(message);

    /// <summary>A folio order outside 0..MaxOrder (the message is built here, out of the hot caller).</summary>
    [DoesNotReturn] public static void BadOrder(int order) =>
        throw new KStateInvalidException($"folio order {order} is outside 0..{Machine.Region.Layout.MaxOrder}");

    /// <summary>A read past the end of a record's payload.</summary>
    [DoesNotReturn] public static void ShortPayload(int needed, int left, long offset) =>
        throw new KStateCorruptException($"record payload too short: needed {needed} bytes, {left} left", offset);

    /// <summary>A folio handle with an unaligned phys or an order above MaxOrder.</summary>
    [DoesNotReturn] public static void BadFolio(ulong phys, int order) =>
        throw new KStateInvalidException($"folio 0x{phys:x} order {order}: phys must be page aligned and the order 0..{Machine.Region.Layout.MaxOrder}");

    /// <summary>A phys range outside the region (the message is built here, out of the hot caller).</summary>
    [DoesNotReturn] public static void OutsideRegion(ulong phys, long length) =>
        throw new KStateInvalidException(length < 0 ? $"phys 0x{phys:x} is outside the region" : $"phys range 0x{phys:x}+{length} is outside the region");
}
