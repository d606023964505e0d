namespace KState.Cli;

/// <summary>A boot outcome in one line, as inspect and verify print it.</summary>
internal static class BootText
{
    public static string Describe(KhoBootStatus s) => s.Kind switch
    {
        KhoBootKind.Handover or KhoBootKind.Consumed => $"{s.KindName} (generation {s.Generation})",
        KhoBootKind.None when s.Generation != 0 => $"none (generation {s.Generation} was aborted)",
        KhoBootKind.Damaged or KhoBootKind.Incompatible =>
            $"{s.KindName}: {s.Part} at region offset {(s.Offset is { } o ? $"0x{o:x}" : "unknown")}" + (s.Generation != 0 ? $" (generation {s.Generation})" : ""),
        _ => s.KindName,
    };
}
