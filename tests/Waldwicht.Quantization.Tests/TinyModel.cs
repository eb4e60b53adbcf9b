using Waldwicht.Tests;

namespace Waldwicht.Quantization.Tests;

/// <summary>Copies of the committed tiny BF16 Gemma 4 checkpoint that tests may change.</summary>
internal static class TinyModel
{
    /// <summary>The committed BF16 model folder (read-only).</summary>
    public static string Folder => TestData.Path("tiny-gemma4");

    /// <summary>Copies the BF16 model's files (not its quantized subfolders) into <paramref name="destination"/>.</summary>
    public static string CopyTo(string destination)
    {
        Directory.CreateDirectory(destination);
        foreach (var file in Directory.GetFiles(Folder))
        {
            string target = Path.Combine(destination, Path.GetFileName(file));
            File.Copy(file, target);
            File.SetAttributes(target, FileAttributes.Normal);
        }

        return destination;
    }
}
