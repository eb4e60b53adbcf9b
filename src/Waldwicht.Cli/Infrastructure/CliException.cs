namespace Waldwicht.Cli.Infrastructure;

/// <summary>A user-facing failure: the message is printed as one line and the process exits with 1.</summary>
internal sealed class CliException(string message) : Exception(message);
