using System.Runtime.CompilerServices;

namespace KState;

/// <summary>
/// A description of the unmanaged struct <typeparamref name="T"/>: what <see cref="KStateDescriptionBuilder{T}.Build"/>
/// returns and what <c>[KStateDescribed]</c> generates. It is a <see cref="KStateDescription"/> (everything that takes
/// one takes it) whose size is <typeparamref name="T"/>'s, so the typed overloads that take it with a <c>ref T</c> or a
/// <see cref="KStateBox{T}"/> (<see cref="KStateRegistry.Save{T}(KStateDescription{T}, ref T, ulong)"/>,
/// <see cref="RetrievedSession.Restore{T}(KStateDescription{T}, ref T, ulong)"/>, ...) need no <c>unsafe</c> code.
/// </summary>
/// <typeparam name="T">The described struct.</typeparam>
public sealed class KStateDescription<T> : KStateDescription where T : unmanaged
{
    internal KStateDescription(string name, ulong id, int versionId, int minVersionId, KStateField[] fields,
        KStateDescription[] subsections, NeededHook? needed, PreSaveHook? preSave, PostLoadHook? postLoad)
        : base(name, id, versionId, minVersionId, Unsafe.SizeOf<T>(), fields, subsections, needed, preSave, postLoad)
    {
    }
}

public partial class KStateDescription
{
    /// <summary>Validates and compiles a description of <typeparamref name="T"/> (the builder's fields: no end marker).</summary>
    /// <exception cref="KStateInvalidException">Anything is wrong; the message names the description and the member.</exception>
    internal static KStateDescription<T> CreateTyped<T>(string name, ulong id, int versionId, int minVersionId,
        IEnumerable<KStateField> fields, IEnumerable<KStateDescription> subsections,
        NeededHook? needed, PreSaveHook? preSave, PostLoadHook? postLoad) where T : unmanaged
    {
        var d = new KStateDescription<T>(name, id, versionId, minVersionId, [.. fields], [.. subsections], needed, preSave, postLoad);
        ((KStateDescription)d).Validate();
        return d;
    }
}
