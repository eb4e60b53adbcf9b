using System.Runtime.InteropServices;
using System.Text.RegularExpressions;
using Waldwicht.Tests;
using Waldwicht.Text.Tokenization;
using OracleTokenizer = Tokenizers.DotNet.Tokenizer;

namespace Waldwicht.Text.Tests.Tokenization;

/// <summary>
/// Tokenizer files for the tests: the committed tiny Gemma 4 tokenizer and the full Gemma vocabulary that
/// scripts/fetch-test-assets.sh puts into .cache/, plus the Hugging Face tokenizers library (through
/// Tokenizers.DotNet) as the reference implementation.
/// </summary>
internal static partial class TokenizerAssets
{
    private static readonly Lazy<GemmaTokenizer> TinyTokenizer = new(() => GemmaTokenizer.FromDirectory(TinyDirectory));
    private static readonly Lazy<byte[]?> FullGemma4Json = new(LoadFullGemma4Json);
    private static readonly Lazy<GemmaTokenizer> FullTokenizer = new(() => GemmaTokenizer.FromJson(FullGemma4Json.Value!));
    private static readonly Lazy<Oracle> TinyOracleInstance = new(() => new Oracle(File.ReadAllBytes(TinyTokenizerJson)));
    private static readonly Lazy<Oracle> FullOracleInstance = new(() => new Oracle(FullGemma4Json.Value!));

    public static string TinyDirectory => TestData.Path("tiny-gemma4");

    public static string TinyTokenizerJson => TestData.Path("tiny-gemma4", "tokenizer.json");

    public static string CacheDirectory => Path.GetFullPath(TestData.Path("..", "..", ".cache"));

    public static string Gemma3TokenizerJson => Path.Combine(CacheDirectory, "gemma3-tokenizer", "tokenizer.json");

    public static string Gemma4TokenizerJson => Path.Combine(CacheDirectory, "gemma4-tokenizer", "tokenizer.json");

    public static GemmaTokenizer Tiny => TinyTokenizer.Value;

    /// <summary>The full Gemma 4 tokenizer; only call from tests marked with NeedsFullVocabulary.</summary>
    public static GemmaTokenizer Full => FullTokenizer.Value;

    public static Oracle TinyOracle => TinyOracleInstance.Value;

    public static Oracle FullOracle => FullOracleInstance.Value;

    /// <summary>Null when the full vocabulary is available, otherwise the reason a test that needs it is skipped.</summary>
    public static string? FullVocabularyMissing =>
        File.Exists(Gemma4TokenizerJson) || File.Exists(Gemma3TokenizerJson)
            ? null
            : $"The full Gemma vocabulary is not in {CacheDirectory}; run scripts/fetch-test-assets.sh to download it.";

    /// <summary>Null when the reference library can run here, otherwise the reason a test that needs it is skipped.</summary>
    public static string? OracleMissing =>
        RuntimeInformation.IsOSPlatform(OSPlatform.Linux) && RuntimeInformation.ProcessArchitecture == Architecture.X64
            ? null
            : "The Hugging Face tokenizers reference (Tokenizers.DotNet) ships a native library for linux-x64 only.";

    /// <summary>The Gemma 4 file when the fetch script built it, else the Gemma 3 file converted in memory.</summary>
    private static byte[]? LoadFullGemma4Json()
    {
        if (File.Exists(Gemma4TokenizerJson))
        {
            return File.ReadAllBytes(Gemma4TokenizerJson);
        }

        return File.Exists(Gemma3TokenizerJson) ? Gemma4Vocabulary.FromGemma3(File.ReadAllBytes(Gemma3TokenizerJson)) : null;
    }

    [GeneratedRegex("\"special\"\\s*:\\s*true")]
    private static partial Regex SpecialTrue();

    /// <summary>
    /// The Hugging Face tokenizers library (Rust, 0.22) loaded with the same tokenizer.json. Tokenizers.DotNet always
    /// encodes with special tokens and decodes without them, so a second copy of the file with every added token
    /// marked non-special provides decoding that keeps the special tokens (the flag changes nothing else).
    /// </summary>
    internal sealed class Oracle
    {
        private readonly OracleTokenizer withSpecials;
        private readonly OracleTokenizer withoutSpecials;

        public Oracle(byte[] tokenizerJson)
        {
            var folder = Path.Combine(Path.GetTempPath(), "waldwicht-tokenizer-oracle-" + Guid.NewGuid().ToString("N"));
            Directory.CreateDirectory(folder);
            try
            {
                var path = Path.Combine(folder, "tokenizer.json");
                var noSpecialPath = Path.Combine(folder, "tokenizer-no-special.json");
                File.WriteAllBytes(path, tokenizerJson);
                File.WriteAllText(noSpecialPath, SpecialTrue().Replace(System.Text.Encoding.UTF8.GetString(tokenizerJson), "\"special\": false"));
                withSpecials = new OracleTokenizer(path);
                withoutSpecials = new OracleTokenizer(noSpecialPath);
            }
            finally
            {
                // The library reads the whole file while it loads, so the copies are not needed afterwards.
                Directory.Delete(folder, recursive: true);
            }
        }

        /// <summary>Encodes with the post-processor (Gemma: &lt;bos&gt; first).</summary>
        public int[] EncodeWithSpecialTokens(string text) => withSpecials.Encode(text).Select(id => (int)id).ToArray();

        public string Decode(int[] ids, bool skipSpecialTokens)
        {
            var unsignedIds = ids.Select(id => (uint)id).ToArray();
            return skipSpecialTokens ? withSpecials.Decode(unsignedIds) : withoutSpecials.Decode(unsignedIds);
        }
    }
}

/// <summary>
/// A fact that is skipped, with the reason in the test report, when the full vocabulary or the reference library
/// it needs is not available.
/// </summary>
[AttributeUsage(AttributeTargets.Method)]
internal sealed class TokenizerFactAttribute : FactAttribute
{
    public bool NeedsFullVocabulary { get; set; }

    public bool NeedsOracle { get; set; }

    public override string? Skip
    {
        get => base.Skip ?? (NeedsFullVocabulary ? TokenizerAssets.FullVocabularyMissing : null) ?? (NeedsOracle ? TokenizerAssets.OracleMissing : null);
        set => base.Skip = value;
    }
}
