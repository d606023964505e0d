using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace KState.Tests.Hosting;

/// <summary>An ILogger provider that keeps every entry, for tests that check what was logged.</summary>
public sealed class LogSink : ILoggerProvider
{
    public sealed record Entry(string Category, LogLevel Level, int EventId, string Message, Exception? Error);

    public ConcurrentQueue<Entry> Entries { get; } = new();

    public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

    public void Dispose() { }

    public override string ToString() => string.Join('\n', Entries.Select(e => $"{e.Level} {e.Category}[{e.EventId}] {e.Message} {e.Error?.Message}"));

    private sealed class Logger(LogSink sink, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            sink.Entries.Enqueue(new Entry(category, logLevel, eventId.Id, formatter(state, exception), exception));
    }
}
