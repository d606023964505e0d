namespace KState;

/// <summary>The names KState reports under (docs/METRICS.md): the <see cref="System.Diagnostics.Metrics.Meter"/> of
/// boots, finalizes, aborts, restores and preserved memory, and the <see cref="System.Diagnostics.Tracing.EventSource"/>
/// of boot, finalize, abort and damage events. Every process that uses KState reports them; nothing is measured
/// beyond a timestamp unless a listener is attached.</summary>
public static class KStateDiagnostics
{
    /// <summary>The meter's name ("KState"): <c>dotnet-counters monitor --counters KState</c>, or OpenTelemetry's
    /// <c>AddMeter("KState")</c>.</summary>
    public const string MeterName = "KState";

    /// <summary>The event source's name ("KState"): <c>dotnet-trace collect --providers KState</c>.</summary>
    public const string EventSourceName = "KState";
}
