using System.CommandLine;
using Waldwicht.Cli.Infrastructure;
using Waldwicht.Runtime.Generation;
using Waldwicht.Runtime.Sampling;
using Waldwicht.Text.Chat;

namespace Waldwicht.Cli.Commands;

/// <summary>`waldwicht chat`: an interactive multi-turn conversation in the terminal.</summary>
internal static class ChatCommand
{
    private const string Help =
        "Commands: /reset clears the conversation, /system TEXT sets the system message, /thinking on|off, /stats, /exit (or Ctrl+D).";

    public static Command Create()
    {
        var model = CommonOptions.Model();
        var system = new Option<string?>("--system") { Description = "System message for the conversation." };
        var thinking = new Option<bool>("--thinking") { Description = "Start with thinking mode on." };
        var maxTokens = new Option<int>("--max-tokens", "-n")
        {
            Description = "Most tokens per reply.",
            DefaultValueFactory = _ => 1024,
        };
        var sampling = new SamplingArguments();
        var threads = CommonOptions.Threads();
        var activations = CommonOptions.Activations();

        var command = new Command("chat", "Chat with a model in the terminal. Samples with the model's recommended settings unless overridden.")
        {
            model, system, thinking, maxTokens, threads, activations,
        };
        sampling.AddTo(command);
        command.SetAction((parse, cancellationToken) => CommandRunner.RunAsync(async () =>
        {
            KernelSettings.Apply(parse.GetValue(threads));
            KernelSettings.ApplyActivations(parse.GetValue(activations));
            int limit = parse.GetValue(maxTokens);
            if (limit <= 0)
            {
                throw new CliException($"--max-tokens must be positive; got {limit}.");
            }

            using var language = await ModelLoading.LoadAsync(parse.GetValue(model), cancellationToken);
            var recommended = language.GenerationConfig;
            var defaults = new SamplingOptions
            {
                Temperature = recommended.Temperature ?? 1f,
                TopK = recommended.TopK ?? 64,
                TopP = recommended.TopP ?? 0.95f,
            };
            var options = new GenerationOptions
            {
                MaxTokens = limit,
                Sampling = sampling.Read(parse, defaults),
                StopTokenIds = recommended.StopTokenIds,
            };

            string? systemText = parse.GetValue(system);
            bool thinkingOn = parse.GetValue(thinking);
            var history = new List<ChatMessage>();
            var generator = new Generator(language.Model.CreateSession());
            GenerationStats? lastStats = null;
            Console.Error.WriteLine($"Chatting with {language.Name}. {Help}");

            while (!cancellationToken.IsCancellationRequested)
            {
                Console.Error.Write("> ");
                string? line = Console.ReadLine();
                if (line == null)
                {
                    break;
                }

                line = line.Trim();
                if (line.Length == 0)
                {
                    continue;
                }

                if (line.StartsWith('/'))
                {
                    if (!HandleCommand(line, history, ref systemText, ref thinkingOn, lastStats))
                    {
                        break;
                    }

                    continue;
                }

                history.Add(ChatMessage.User(line));
                var messages = systemText != null ? [ChatMessage.System(systemText), .. history] : history;
                var prompt = language.EncodeChat(messages, null, language.DefaultRenderOptions(thinkingOn));
                var reply = StreamingRun.Run(language, generator, prompt, options, chatMode: true, echo: true, cancellationToken);
                history.Add(ChatMessage.Assistant(reply.Split?.Content ?? reply.Text));
                lastStats = reply.Result.Stats;
                if (reply.Result.FinishReason == FinishReason.Length)
                {
                    Console.Error.WriteLine($"(reply cut off at {limit} tokens)");
                }
            }

            return 0;
        }));
        return command;
    }

    /// <summary>Handles a slash command; returns false to end the session.</summary>
    private static bool HandleCommand(string line, List<ChatMessage> history, ref string? systemText, ref bool thinking, GenerationStats? stats)
    {
        string name = line.Split(' ', 2)[0];
        string argument = line.Length > name.Length ? line[name.Length..].Trim() : "";
        switch (name)
        {
            case "/exit" or "/quit":
                return false;
            case "/reset":
                history.Clear();
                Console.Error.WriteLine("Conversation cleared.");
                break;
            case "/system":
                systemText = argument.Length > 0 ? argument : null;
                Console.Error.WriteLine(systemText == null ? "System message removed." : "System message set.");
                break;
            case "/thinking":
                thinking = argument is "on" or "true" or "1";
                Console.Error.WriteLine($"Thinking {(thinking ? "on" : "off")}.");
                break;
            case "/stats":
                if (stats != null)
                {
                    StatsPrinter.Print(stats, Console.Error);
                }

                break;
            default:
                Console.Error.WriteLine($"Unknown command {name}. {Help}");
                break;
        }

        return true;
    }
}
