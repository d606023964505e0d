using KState.Core.Records;

namespace KState;

// Saving a described item held in a KStateBox<T> (Session.SaveState<T>).
public sealed partial class KStateSessions
{
    /// <summary>At finalize: saves a boxed item from its address, holding it (and its Kho's mapping) meanwhile.</summary>
    private unsafe void SaveBoxed(KStateDescription d, IKStateBox box, RecordWriter writer, OutgoingItem item)
    {
        byte* obj = box.Acquire($"session '{item.Session.Name}': item {item.Token} ('{d.Name}')");
        try
        {
            d.Save(writer, obj, item.Token, Kho, _preservedFolios);
        }
        finally
        {
            box.Release();
        }
    }
}
