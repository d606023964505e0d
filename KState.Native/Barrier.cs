using System.Runtime.InteropServices;

namespace KState.Native;

/// <summary>
/// The one way into the library from C: every export's body is a single call of <see cref="Run"/>, <see cref="Get{T}"/>
/// or <see cref="Lifetime"/>. It turns every exception into a negative errno (no C# exception crosses the boundary),
/// and it is the reader side of a gate whose writer side is kho_init/kho_exit, so the region is never unmapped under a
/// call in flight. A thread-local depth tells a call made from inside another call (a C callback) from an outermost one.
/// </summary>
internal static class Barrier
{
    // Readers: every outermost call. Writer: kho_init/kho_exit. Nested calls (from callbacks) are covered by their outer call.
    private static readonly ReaderWriterLockSlim Gate = new(LockRecursionPolicy.NoRecursion);
    [ThreadStatic] private static int t_depth;

    /// <summary>Runs a call returning 0 or a negative errno.</summary>
    public static int Run(Action action)
    {
        bool reading = false;
        try
        {
            reading = Enter();
            action();
            return 0;
        }
        catch (Exception e)
        {
            return -NativeState.Fail(e);
        }
        finally
        {
            Leave(reading);
        }
    }

    /// <summary>Runs a call returning a value (a pointer as nint, a phys, a flag); on an exception returns
    /// <paramref name="failed"/>, sets errno and kstate_last_error().</summary>
    public static T Get<T>(Func<T> call, T failed = default) where T : unmanaged
    {
        bool reading = false;
        int err = 0;
        T result = failed;
        try
        {
            reading = Enter();
            result = call();
        }
        catch (Exception e)
        {
            err = NativeState.Fail(e);
        }
        finally
        {
            Leave(reading);
        }
        if (err != 0) Marshal.SetLastSystemError(err); // last, so that leaving the gate cannot overwrite it
        return result;
    }

    /// <summary>
    /// kho_init and kho_exit: waits until no call is in flight on any thread, then runs alone. From inside a call on
    /// this thread (a callback) it is refused with EBUSY: that call still uses the region.
    /// </summary>
    public static int Lifetime(string function, Action action)
    {
        if (t_depth > 0)
            return -NativeState.Fail(new KStateBusyException($"{function}: called from inside another KState call (a callback); the region is in use"));
        bool writing = false;
        try
        {
            Gate.EnterWriteLock();
            writing = true;
            t_depth++;
            action();
            return 0;
        }
        catch (Exception e)
        {
            return -NativeState.Fail(e);
        }
        finally
        {
            if (writing)
            {
                t_depth--;
                Gate.ExitWriteLock();
            }
        }
    }

    /// <summary>True when this thread is inside a call (so the caller is a callback).</summary>
    public static bool InsideCall => t_depth > 0;

    private static bool Enter()
    {
        if (t_depth > 0)
        {
            t_depth++;
            return false;
        }
        Gate.EnterReadLock();
        t_depth = 1;
        return true;
    }

    private static void Leave(bool reading)
    {
        if (reading)
        {
            t_depth = 0;
            Gate.ExitReadLock();
        }
        else if (t_depth > 0)
        {
            t_depth--;
        }
    }
}

/// <summary>The one errno with no KState exception: an internal error.</summary>
internal static class Errno
{
    public const int EIO = 5;
}
