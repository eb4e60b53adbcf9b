using Waldwicht.Runtime;

namespace Waldwicht.Cli.Infrastructure;

/// <summary>Resolves --model and loads it as a <see cref="LanguageModel"/>.</summary>
internal static class ModelLoading
{
    public static async Task<LanguageModel> LoadAsync(string? model, CancellationToken cancellationToken)
    {
        string folder = await ModelResolution.ResolveAsync(model, cancellationToken);
        string name = string.IsNullOrWhiteSpace(model) ? DemoModel.Name
            : Directory.Exists(model) ? Path.GetFileName(Path.GetFullPath(model).TrimEnd(Path.DirectorySeparatorChar))
            : model;
        return LanguageModel.Load(folder, name);
    }
}
