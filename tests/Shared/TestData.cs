namespace Waldwicht.Tests;

/// <summary>Locates the committed test data folder (tests/data) from any test output directory.</summary>
internal static class TestData
{
    private static readonly Lazy<string> Root = new(FindRoot);

    /// <summary>Absolute path of a file or folder below tests/data.</summary>
    public static string Path(params string[] parts) =>
        System.IO.Path.Combine([Root.Value, .. parts]);

    /// <summary>The fixture model folders: the BF16 model and every quantized variant.</summary>
    public static IEnumerable<string> TinyModelFolders =>
        ["", "uniform-q3-g32", "uniform-q4-g64", "winzling-like", "winzling-like-release-layout", "winzling-export"];

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir != null; dir = dir.Parent)
        {
            var candidate = System.IO.Path.Combine(dir.FullName, "tests", "data");
            if (Directory.Exists(System.IO.Path.Combine(candidate, "tiny-gemma4")))
            {
                return candidate;
            }
        }

        throw new DirectoryNotFoundException(
            $"tests/data not found above {AppContext.BaseDirectory}; run the tests from a checkout of the repository.");
    }
}
