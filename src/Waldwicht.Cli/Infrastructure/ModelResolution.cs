namespace Waldwicht.Cli.Infrastructure;

/// <summary>Turns the --model value into a local model folder.</summary>
internal static class ModelResolution
{
    /// <summary>
    /// Returns the folder of the model: the built-in demo model when <paramref name="model"/> is
    /// null, a local folder as is, or a Hugging Face id resolved in the cache (downloading when needed).
    /// </summary>
    public static async Task<string> ResolveAsync(string? model, CancellationToken cancellationToken)
    {
        if (string.IsNullOrWhiteSpace(model))
        {
            return await DemoModel.EnsureAsync(cancellationToken);
        }

        string expanded = model.StartsWith('~')
            ? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), model[1..].TrimStart('/', '\\'))
            : model;
        if (Directory.Exists(expanded))
        {
            return Path.GetFullPath(expanded);
        }

        return await HubDownload.ResolveAsync(model, cancellationToken);
    }
}
