using System.Text;
using Waldwicht.Runtime.ChatClient;

namespace Waldwicht.Server.Api;

/// <summary>Collects the updates of one choice for a non-streaming response.</summary>
internal sealed class ChoiceAccumulator
{
    public StringBuilder Content { get; } = new();

    public StringBuilder Reasoning { get; } = new();

    public List<ReplyToolCall> ToolCalls { get; } = [];

    public List<TokenLogprobInfo> Logprobs { get; } = [];

    public ReplyFinished? Finished { get; set; }

    /// <summary>Applies one update of this choice.</summary>
    public void Add(ReplyUpdate update)
    {
        switch (update)
        {
            case ReplyContent content:
                Content.Append(content.Text);
                break;
            case ReplyReasoning reasoning:
                Reasoning.Append(reasoning.Text);
                break;
            case ReplyToolCall call:
                ToolCalls.Add(call);
                break;
            case ReplyLogprob logprob:
                Logprobs.Add(logprob.Token);
                break;
            case ReplyFinished finished:
                Finished = finished;
                break;
        }
    }
}
