using Spectre.Console;
using Waldwicht.Formats.Hub;

namespace Waldwicht.Cli.Infrastructure;

/// <summary>Resolves Hugging Face ids through the local cache, with a progress bar for downloads.</summary>
internal static class HubDownload
{
    public static async Task<string> ResolveAsync(string model, CancellationToken cancellationToken)
    {
        var options = new ModelDownloadOptions { OnWarning = message => Console.Error.WriteLine($"warning: {message}") };
        try
        {
            if (Console.IsErrorRedirected)
            {
                return await ModelLocator.ResolveAsync(model, options, null, cancellationToken);
            }

            string folder = "";
            await AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Error) })
                .Progress()
                .AutoClear(true)
                .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new DownloadedColumn(), new TransferSpeedColumn(), new RemainingTimeColumn())
                .StartAsync(async context =>
                {
                    ProgressTask? task = null;
                    var progress = new Progress<DownloadProgress>(p =>
                    {
                        task ??= context.AddTask($"Downloading {p.RepoId}", maxValue: Math.Max(1, p.TotalSize));
                        task.MaxValue = Math.Max(1, p.TotalSize);
                        task.Value = p.TotalBytesDownloaded;
                        task.Description = $"{p.RepoId} ({p.FilesCompleted}/{p.FileCount} files)";
                    });
                    folder = await ModelLocator.ResolveAsync(model, options, progress, cancellationToken);
                    task?.StopTask();
                });
            return folder;
        }
        catch (ModelSourceException ex) when (ex.Error is ModelSourceError.NotFound or ModelSourceError.OfflineCacheMiss
            or ModelSourceError.NetworkUnavailable or ModelSourceError.Timeout or ModelSourceError.AccessDenied)
        {
            throw new CliException($"There is no local folder '{model}', so it was looked up as a Hugging Face repo id. {ex.Message}");
        }
        catch (ModelSourceException ex)
        {
            throw new CliException(ex.Message);
        }
    }
}
