using Waldwicht.Formats.Safetensors;
using Waldwicht.Model;

namespace Waldwicht.Cli.Infrastructure;

/// <summary>Runs a command body and turns expected failures into one "error:" line and exit code 1.</summary>
internal static class CommandRunner
{
    public static async Task<int> RunAsync(Func<Task<int>> body)
    {
        try
        {
            return await body();
        }
        catch (OperationCanceledException)
        {
            Console.Error.WriteLine("error: cancelled.");
            return 130;
        }
        catch (Exception ex) when (ex is CliException or ModelFormatException or SafetensorsFormatException
                                       or FileNotFoundException or DirectoryNotFoundException or ArgumentException
                                       or FormatException or InvalidOperationException or IOException or UnauthorizedAccessException
                                       or HttpRequestException)
        {
            Console.Error.WriteLine($"error: {ex.Message}");
            return 1;
        }
    }
}
