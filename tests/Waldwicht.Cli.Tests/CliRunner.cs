using System.Diagnostics;

namespace Waldwicht.Cli.Tests;

/// <summary>Result of one CLI run.</summary>
internal sealed record CliResult(int ExitCode, string StandardOutput, string StandardError);

/// <summary>Runs the waldwicht CLI (built next to the tests) as a child process.</summary>
internal static class CliRunner
{
    public static CliResult Run(IReadOnlyDictionary<string, string>? environment, params string[] arguments) =>
        RunWithInput(environment, null, arguments);

    /// <summary>Runs the CLI with <paramref name="input"/> written to its standard input, which is then closed.</summary>
    public static CliResult RunWithInput(IReadOnlyDictionary<string, string>? environment, string? input, params string[] arguments)
    {
        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "waldwicht.dll"));
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        foreach (var (key, value) in environment ?? new Dictionary<string, string>())
        {
            start.Environment[key] = value;
        }

        using var process = Process.Start(start)!;
        if (input != null)
        {
            process.StandardInput.Write(input);
        }

        process.StandardInput.Close();
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(TimeSpan.FromMinutes(3)))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"waldwicht {string.Join(' ', arguments)} did not finish within 3 minutes.");
        }

        return new CliResult(process.ExitCode, output.Result, error.Result);
    }

    public static CliResult Run(params string[] arguments) => Run(null, arguments);
}
