using Waldwicht.Model.Gemma4;
using Waldwicht.Numerics.Threading;
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
        // A single-participant pool keeps all work on this thread, whose allocations are measured.
        using var pool = new WorkerPool(1);
        var session = model.CreateSession(pool: pool);
        var logits = new float[model.Config.VocabSize];
        session.Forward([2, 171, 433, 19], logits);

        // Warm-up: JIT tiering, worker threads and their scratch buffers.
        for (int i = 0; i < 100; i++)
        {
            session.Forward([100 + i], logits);
        }

        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 16; i++)
        {
            session.Forward([200 + i], logits);
        }

        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }
}
