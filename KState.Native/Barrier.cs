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
    // Shared: every outermost call. Exclusive: kho_init/kho_exit. Nested calls (from callbacks) are covered by their outer call.
    // s_state counts the calls in flight; WriterBit is set while kho_init/kho_exit waits or runs, so new calls wait then.
    private const int WriterBit = 1 << 30;
    private static int s_state;
    private static readonly Lock Writers = new();
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

    /// <summary>As <see cref="Run(Action)"/>, with the call's argument passed through (a static lambda allocates nothing).</summary>
    public static int Run<TArg>(TArg arg, Action<TArg> action)
    {
        bool reading = false;
        try
        {
            reading = Enter();
            action(arg);
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

    /// <summary>As <see cref="Get{T}(Func{T}, T)"/>, with the call's argument passed through (a static lambda allocates nothing).</summary>
    public static T Get<TArg, T>(TArg arg, Func<TArg, T> call, T failed = default) where T : unmanaged
    {
        bool reading = false;
        int err = 0;
        T result = failed;
        try
        {
            reading = Enter();
            result = call(arg);
        }
        catch (Exception e)
        {
            err = NativeState.Fail(e);
        }
        finally
        {
            Leave(reading);
        }
        if (err != 0) Marshal.SetLastSystemError(err);
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
            EnterExclusive();
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
                ExitExclusive();
            }
        }
    }

    private static bool Enter()
    {
        if (t_depth > 0)
        {
            t_depth++;
            return false;
        }
        EnterShared();
        t_depth = 1;
        return true;
    }

    private static void Leave(bool reading)
    {
        if (reading)
        {
            t_depth = 0;
            Interlocked.Decrement(ref s_state);
        }
        else if (t_depth > 0)
        {
            t_depth--;
        }
    }

    // kho_init/kho_exit are rare: a call that meets one spins, then sleeps, so the common path is one compare-exchange.
    private static void EnterShared()
    {
        var spin = new SpinWait();
        while (true)
        {
            int state = Volatile.Read(ref s_state);
            if ((state & WriterBit) == 0 && Interlocked.CompareExchange(ref s_state, state + 1, state) == state) return;
            spin.SpinOnce(sleep1Threshold: 20);
        }
    }

    private static void EnterExclusive()
    {
        Writers.Enter();
        Interlocked.Or(ref s_state, WriterBit);
        var spin = new SpinWait();
        while (Volatile.Read(ref s_state) != WriterBit) spin.SpinOnce(sleep1Threshold: 20);
    }

    private static void ExitExclusive()
    {
        Interlocked.And(ref s_state, ~WriterBit);
        Writers.Exit();
    }
}

/// <summary>The one errno with no KState exception: an internal error.</summary>
internal static class Errno
{
    public const int EIO = 5;
}
