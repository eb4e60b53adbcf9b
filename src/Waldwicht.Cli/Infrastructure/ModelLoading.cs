using Waldwicht.Runtime;

namespace Waldwicht.Cli.Infrastructure;

/// <summary>Resolves --model and loads it as a <see cref="LanguageModel"/>.</summary>
internal static class ModelLoading
{
    public static async Task<LanguageModel> LoadAsync(string? model, CancellationToken cancellationToken)
    {
        string folder = await ModelResolution.ResolveAsync(model, cancellationToken);
        return Load(folder, model);
    }

    /// <summary>
    /// Loads a resolved folder. The display name is the Hugging Face id as given, the folder name for
    /// local paths, or the demo model's name when <paramref name="model"/> is empty.
    /// </summary>
    public static LanguageModel Load(string folder, string? model)
    {
        string name = string.IsNullOrWhiteSpace(model) ? DemoModel.Name
            : Directory.Exists(model) ? Path.GetFileName(Path.GetFullPath(model).TrimEnd(Path.DirectorySeparatorChar))
            : model;
        return LanguageModel.Load(folder, name);
    }
}
