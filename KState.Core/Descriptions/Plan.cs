namespace KState;

/// <summary>What a step of a plan does with its field.</summary>
internal enum StepKind : byte
{
    /// <summary>Copy <see cref="Step.Length"/> bytes between the struct and the record (adjacent base fields merged).</summary>
    Copy,
    /// <summary>Skip <see cref="Step.Length"/> bytes of the record (deprecated fields).</summary>
    Skip,
    /// <summary>Any other field: handled by its kind.</summary>
    Field,
}

/// <summary>One step of a plan.</summary>
internal readonly record struct Step(StepKind Kind, int Offset, int Length, int FieldIndex);

/// <summary>
/// The compiled form of a description for one record version: the fields that version has, in record order,
/// with adjacent plain fields merged into single copies. Compiled once per (description, version) and cached.
/// </summary>
internal sealed class Plan
{
    public Plan(Step[] steps, bool pureCopy)
    {
        Steps = steps;
        PureCopy = pureCopy;
    }

    public Step[] Steps { get; }

    /// <summary>The whole record is one copy: no special fields, subsections or hooks.</summary>
    public bool PureCopy { get; }

    public static Plan Compile(KStateDescription d, int version)
    {
        var steps = new List<Step>();
        for (int i = 0; i < d.Fields.Count; i++)
        {
            var f = d.Fields[i];
            if (f.Kind == FieldKind.Deprecated)
            {
                if (version <= f.VersionId) Append(steps, new Step(StepKind.Skip, 0, f.Size * f.Count, i));
                continue;
            }
            if (f.VersionId > version) continue; // the record predates the field: it keeps its value
            if (f.Kind == FieldKind.Base && f.CountField is null) Append(steps, new Step(StepKind.Copy, f.Offset, f.Size * f.Count, i));
            else steps.Add(new Step(StepKind.Field, f.Offset, 0, i));
        }
        bool pure = steps.Count <= 1 && steps.TrueForAll(s => s.Kind == StepKind.Copy)
            && d.Subsections.Count == 0 && d.PreSave is null && d.PostLoad is null;
        return new Plan([.. steps], pure);
    }

    /// <summary>Adds a step, merging it into the previous one when both are copies of adjacent bytes, or both skips.</summary>
    private static void Append(List<Step> steps, Step s)
    {
        if (steps.Count > 0)
        {
            var last = steps[^1];
            if (last.Kind == StepKind.Copy && s.Kind == StepKind.Copy && last.Offset + last.Length == s.Offset)
            {
                steps[^1] = last with { Length = last.Length + s.Length };
                return;
            }
            if (last.Kind == StepKind.Skip && s.Kind == StepKind.Skip)
            {
                steps[^1] = last with { Length = last.Length + s.Length };
                return;
            }
        }
        steps.Add(s);
    }
}

public partial class KStateDescription
{
    private readonly Plan?[] _plans;

    /// <summary>The plan for records of <paramref name="version"/> (within [MinVersionId, VersionId]).</summary>
    internal Plan PlanFor(int version)
    {
        ref var slot = ref _plans[version - MinVersionId];
        return slot ??= Plan.Compile(this, version); // a race compiles twice, harmlessly: plans are immutable
    }

    /// <summary>Number of copy steps when saving (for tests and diagnostics: adjacent plain fields merge).</summary>
    internal int SaveCopySteps => PlanFor(VersionId).Steps.Count(s => s.Kind == StepKind.Copy);
}
