using Waldwicht.Model.Gemma4;
using Waldwicht.Tests;

namespace Waldwicht.Model.Tests;

public sealed class AllocationTests
{
    [Theory]
    [InlineData("")]
    [InlineData("winzling-export")]
    [InlineData("uniform-q3-g32")]
    public void DecodeStepAllocatesNothing(string variant)
    {
        using var model = Gemma4Model.Load(TestData.Path("tiny-gemma4", variant));
        var session = model.CreateSession();
        var logits = new float[model.Config.VocabSize];
        session.Forward([2, 171, 433, 19], logits);

        // Warm-up: JIT, worker threads and the full-attention cache's first growth.
        for (int i = 0; i < 8; i++)
        {
            session.Forward([100 + i], logits);
        }

        long before = GC.GetTotalAllocatedBytes(precise: true);
        for (int i = 0; i < 16; i++)
        {
            session.Forward([200 + i], logits);
        }

        long allocated = GC.GetTotalAllocatedBytes(precise: true) - before;
        Assert.Equal(0, allocated);
    }
}
