using KState.Core.Sessions;

namespace KState;

/// <summary>
/// Data shared by many items (LUO's file-lifecycle-bound data, "FLB"): preserved when the first item bound to it
/// is preserved, unpreserved with the last one, saved once at finalize; after boot retrieved once, on demand, and
/// finished when the last item bound to it finishes. Items are bound through <see cref="ItemHandler.SharedData"/>.
/// </summary>
public abstract class SharedDataHandler
{
    /// <summary>Shared data saved under <paramref name="compatible"/>.</summary>
    /// <exception cref="KStateInvalidException">The string is empty or longer than 63 UTF-8 bytes.</exception>
    protected SharedDataHandler(string compatible)
    {
        SessionNames.Check(compatible, "compatible string");
        Compatible = compatible;
    }

    /// <summary>The name the data is saved under, with its format version.</summary>
    public string Compatible { get; }

    /// <summary>The first bound item is being preserved: create the data (preserving its memory) and return it.</summary>
    public abstract object Preserve(Kho kho);

    /// <summary>The last bound item left: undo <see cref="Preserve"/>.</summary>
    public abstract void Unpreserve(Kho kho, object data);

    /// <summary>At finalize: write the data's state (the record is open).</summary>
    public abstract void Freeze(Kho kho, object data, RecordWriter state);

    /// <summary>After boot, on first use: rebuild the data from its record.</summary>
    public abstract object Retrieve(Kho kho, RecordCursor state, uint version);

    /// <summary>The last item bound to the retrieved data finished.</summary>
    public virtual void Finish(Kho kho, object data) { }

    /// <summary>The version written in its records and handed to <c>Retrieve</c> (1 unless the handler says otherwise).</summary>
    public virtual uint Version => 1;

    /// <inheritdoc/>
    public override string ToString() => Compatible;
}
