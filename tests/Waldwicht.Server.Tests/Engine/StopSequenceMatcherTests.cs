using Waldwicht.Runtime.ChatClient;

namespace Waldwicht.Server.Tests.Engine;

public sealed class StopSequenceMatcherTests
{
    public static TheoryData<string[], string[], string, bool> Cases => new()
    {
        // pieces, stops, released text, matched
        { ["Hel", "lo wo", "rld"], ["o w"], "Hell", true },
        { ["ab", "c"], ["abc"], "", true },
        { ["x", "a", "b", "y"], ["ab"], "x", true },
        { ["aa", "ab"], ["aab"], "a", true },
        { ["plain text"], ["zz"], "plain text", false },
        { ["trailing a"], ["ab"], "trailing a", false },
        { ["one", "two"], ["wo", "one"], "", true },
        { ["ü", "ber"], ["übe"], "", true },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void ReleasesTextBeforeMatch(string[] pieces, string[] stops, string expected, bool matched)
    {
        var matcher = new StopSequenceMatcher(stops);
        var released = new System.Text.StringBuilder();

        foreach (var piece in pieces)
        {
            string part = matcher.Append(piece);
            Assert.DoesNotContain(stops, stop => (released + part).Contains(stop, StringComparison.Ordinal));
            released.Append(part);
        }

        released.Append(matcher.Flush());
        Assert.Equal(expected, released.ToString());
        Assert.Equal(matched, matcher.Matched);
    }

    [Fact]
    public void HoldsBackPossibleStart()
    {
        var matcher = new StopSequenceMatcher(["END"]);

        Assert.Equal("abc ", matcher.Append("abc E"));
        Assert.Equal("", matcher.Append("N"));
        Assert.Equal("ENx", matcher.Append("x"));
    }

    [Fact]
    public void EmptyStopIsRejected() =>
        Assert.Throws<ArgumentException>(() => new StopSequenceMatcher([""]));
}
