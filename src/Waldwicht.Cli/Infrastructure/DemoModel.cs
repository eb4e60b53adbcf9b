using Waldwicht.Quantization.Synthetic;

namespace Waldwicht.Cli.Infrastructure;

/// <summary>
/// The built-in demo model: a tiny Gemma 4 checkpoint with random weights in the real layout,
/// generated deterministically on first use and cached. It exercises the whole pipeline; its
/// output is noise.
/// </summary>
internal static class DemoModel
{
    /// <summary>Display name of the demo model.</summary>
    public const string Name = "waldwicht-demo-tiny";

    private const int Seed = 20260401;

    /// <summary>Returns the demo model folder, creating it if needed, and prints the noise warning.</summary>
    public static Task<string> EnsureAsync(CancellationToken cancellationToken)
    {
        string folder = Path.Combine(CacheRoot(), $"{Name}-seed{Seed}");
        if (!File.Exists(Path.Combine(folder, "config.json")) || !File.Exists(Path.Combine(folder, "model.safetensors")))
        {
            Directory.CreateDirectory(Path.GetDirectoryName(folder)!);
            try
            {
                SyntheticCheckpoint.Write(SyntheticPreset.Tiny, folder, new SyntheticOptions { Seed = Seed, Force = Directory.Exists(folder) }, null, cancellationToken);
            }
            catch (IOException) when (File.Exists(Path.Combine(folder, "model.safetensors")))
            {
                // Another process created it at the same time.
            }
        }

        Console.Error.WriteLine(
            "note: no --model given, using the built-in demo model (tiny, random weights): its output is noise. "
            + "Pass --model with a folder or Hugging Face id to run a real model.");
        return Task.FromResult(folder);
    }

    /// <summary>Cache folder: WALDWICHT_CACHE, else XDG_CACHE_HOME/waldwicht, else ~/.cache/waldwicht.</summary>
    public static string CacheRoot()
    {
        if (Environment.GetEnvironmentVariable("WALDWICHT_CACHE") is { Length: > 0 } explicitRoot)
        {
            return explicitRoot;
        }

        string baseFolder = Environment.GetEnvironmentVariable("XDG_CACHE_HOME") is { Length: > 0 } xdg
            ? xdg
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache");
        return Path.Combine(baseFolder, "waldwicht");
    }
}
