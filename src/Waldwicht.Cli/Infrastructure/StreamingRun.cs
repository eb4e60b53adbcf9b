using System.Text;
using Waldwicht.Runtime;
using Waldwicht.Runtime.Generation;
using Waldwicht.Text.Chat;

namespace Waldwicht.Cli.Infrastructure;

/// <summary>Outcome of a streamed generation: the raw text and its split into content, reasoning and tool calls.</summary>
internal sealed record StreamedReply(GenerationResult Result, string Text, ChatOutput? Split);

/// <summary>
/// Runs a generation and prints it as it arrives. In chat mode the output goes through the Gemma 4
/// splitter: reasoning is written dimmed to stderr, content to stdout and tool calls as JSON lines.
/// </summary>
internal static class StreamingRun
{
    public static StreamedReply Run(
        LanguageModel model,
        Generator generator,
        int[] prompt,
        GenerationOptions options,
        bool chatMode,
        bool echo,
        CancellationToken cancellationToken)
    {
        var stream = new TokenTextStream(model.Tokenizer);
        var splitter = chatMode ? new Gemma4OutputSplitter() : null;
        var text = new StringBuilder();
        var events = new List<ChatOutputEvent>();
        bool color = echo && !Console.IsErrorRedirected;

        void Show(IReadOnlyList<ChatOutputEvent> produced)
        {
            events.AddRange(produced);
            if (!echo)
            {
                return;
            }

            foreach (var item in produced)
            {
                switch (item)
                {
                    case ContentDelta content:
                        Console.Out.Write(content.Text);
                        break;
                    case ReasoningDelta reasoning:
                        Console.Error.Write(color ? $"\u001b[2m{reasoning.Text}\u001b[0m" : reasoning.Text);
                        break;
                    case ToolCallCompleted call:
                        Console.Out.WriteLine();
                        Console.Out.WriteLine(call.Result.Name != null
                            ? $"[tool call] {call.Result.Name} {call.Result.ArgumentsJson}"
                            : $"[unparsed tool call] {call.Result.RawText}");
                        break;
                }
            }

            Console.Out.Flush();
        }

        void Accept(TextPiece piece)
        {
            text.Append(piece.Text);
            if (splitter != null)
            {
                Show(splitter.AppendToken(piece.Text, piece.IsSpecial));
            }
            else if (echo)
            {
                Console.Out.Write(piece.Text);
                Console.Out.Flush();
            }
        }

        var result = generator.Generate(prompt, options, token =>
        {
            foreach (var piece in stream.Add(token.Id))
            {
                Accept(piece);
            }

            return true;
        }, cancellationToken);

        string tail = stream.Flush();
        if (tail.Length > 0)
        {
            Accept(new TextPiece(tail, false));
        }

        ChatOutput? split = null;
        if (splitter != null)
        {
            Show(splitter.Finish());
            split = ChatOutput.FromEvents(events, splitter.Stop);
        }

        if (echo)
        {
            Console.Out.WriteLine();
        }

        return new StreamedReply(result, text.ToString(), split);
    }
}
