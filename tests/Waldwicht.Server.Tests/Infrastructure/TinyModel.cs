using Waldwicht.Runtime;
using Waldwicht.Tests;

namespace Waldwicht.Server.Tests.Infrastructure;

/// <summary>The tiny test model, loaded once per test run and shared (LanguageModel is immutable).</summary>
internal static class TinyModel
{
    private static readonly Lazy<LanguageModel> Shared = new(() => LanguageModel.Load(TestData.Path("tiny-gemma4"), "tiny-gemma4"));

    public static LanguageModel Instance => Shared.Value;
}
