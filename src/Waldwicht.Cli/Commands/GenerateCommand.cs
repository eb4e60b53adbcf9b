using System.CommandLine;
using System.Text.Json;
using Waldwicht.Cli.Infrastructure;
using Waldwicht.Runtime;
using Waldwicht.Runtime.Generation;
using Waldwicht.Runtime.Sampling;
using Waldwicht.Text.Chat;

namespace Waldwicht.Cli.Commands;

/// <summary>`waldwicht generate`: one prompt in, streamed text and statistics out.</summary>
internal static class GenerateCommand
{
    public static Command Create()
    {
        var model = CommonOptions.Model();
        var prompt = new Option<string?>("--prompt", "-p") { Description = "User message, rendered with the model's chat template." };
        var promptTokens = new Option<string?>("--prompt-tokens")
        {
            Description = "Comma-separated token ids fed to the model as they are (no template, no BOS added).",
        };
        var system = new Option<string?>("--system") { Description = "System message placed before the prompt." };
        var raw = new Option<bool>("--raw") { Description = "Feed --prompt as plain text without the chat template (a BOS token is added)." };
        var thinking = new Option<bool>("--thinking") { Description = "Turn on the model's thinking mode; its reasoning is shown dimmed on stderr." };
        var maxTokens = new Option<int>("--max-tokens", "-n")
        {
            Description = "Most tokens to generate.",
            DefaultValueFactory = _ => 256,
        };
        var ignoreEos = new Option<bool>("--ignore-eos") { Description = "Keep generating through end-of-turn and end-of-sequence tokens." };
        var json = new Option<bool>("--json")
        {
            Description = "Print one JSON object (prompt_token_ids, token_ids, text, finish_reason, stats) instead of streamed text.",
        };
        var sampling = new SamplingArguments();
        var threads = CommonOptions.Threads();
        var activations = CommonOptions.Activations();

        var command = new Command("generate", "Generate a reply to one prompt and print it with timing statistics. Greedy unless --temperature is set.")
        {
            model, prompt, promptTokens, system, raw, thinking, maxTokens, ignoreEos, json, threads, activations,
        };
        sampling.AddTo(command);
        command.SetAction((parse, cancellationToken) => CommandRunner.RunAsync(async () =>
        {
            KernelSettings.Apply(parse.GetValue(threads));
            KernelSettings.ApplyActivations(parse.GetValue(activations));
            string? promptText = parse.GetValue(prompt);
            string? tokenText = parse.GetValue(promptTokens);
            if ((promptText == null) == (tokenText == null))
            {
                throw new CliException("Give exactly one of --prompt TEXT or --prompt-tokens IDS.");
            }

            int limit = parse.GetValue(maxTokens);
            if (limit <= 0)
            {
                throw new CliException($"--max-tokens must be positive; got {limit}.");
            }

            var samplingOptions = sampling.Read(parse, new SamplingOptions());
            bool asJson = parse.GetValue(json);
            using var language = await ModelLoading.LoadAsync(parse.GetValue(model), cancellationToken);

            int[] ids;
            bool chatMode = false;
            if (tokenText != null)
            {
                ids = TokenListParser.Parse(tokenText, "--prompt-tokens", language.Model.Config.VocabSize);
            }
            else if (parse.GetValue(raw))
            {
                ids = language.EncodePrompt(promptText!);
            }
            else
            {
                var messages = new List<ChatMessage>();
                if (parse.GetValue(system) is string systemText)
                {
                    messages.Add(ChatMessage.System(systemText));
                }

                messages.Add(ChatMessage.User(promptText!));
                ids = language.EncodeChat(messages, null, language.DefaultRenderOptions(parse.GetValue(thinking)));
                chatMode = true;
            }

            var options = new GenerationOptions
            {
                MaxTokens = limit,
                Sampling = samplingOptions,
                StopTokenIds = language.GenerationConfig.StopTokenIds,
                IgnoreStopTokens = parse.GetValue(ignoreEos),
            };
            var generator = new Generator(language.Model.CreateSession());
            var reply = StreamingRun.Run(language, generator, ids, options, chatMode, echo: !asJson, cancellationToken);

            if (asJson)
            {
                WriteJson(ids, reply);
            }
            else
            {
                StatsPrinter.Print(reply.Result.Stats, Console.Error);
            }

            return 0;
        }));
        return command;
    }

    private static void WriteJson(int[] prompt, StreamedReply reply)
    {
        var stats = reply.Result.Stats;
        var document = new Dictionary<string, object?>
        {
            ["prompt_token_ids"] = prompt,
            ["token_ids"] = reply.Result.TokenIds,
            ["text"] = reply.Text,
            ["finish_reason"] = StatsPrinter.FinishReasonName(reply.Result.FinishReason),
        };
        if (reply.Split is { } split)
        {
            document["content"] = split.Content;
            document["reasoning"] = split.Reasoning;
            document["tool_calls"] = split.ToolCalls
                .Select(c => new Dictionary<string, object?> { ["name"] = c.Name, ["arguments"] = c.ArgumentsJson, ["raw"] = c.RawText })
                .ToList();
        }

        document["stats"] = new Dictionary<string, object>
        {
            ["prompt_tokens"] = stats.PromptTokens,
            ["generated_tokens"] = stats.GeneratedTokens,
            ["prompt_tokens_per_second"] = Math.Round(stats.PromptTokensPerSecond, 3),
            ["generation_tokens_per_second"] = Math.Round(stats.GenerationTokensPerSecond, 3),
            ["time_to_first_token_seconds"] = Math.Round(stats.TimeToFirstTokenSeconds, 6),
            ["peak_memory_bytes"] = stats.PeakResidentBytes,
        };
        Console.Out.WriteLine(JsonSerializer.Serialize(document, new JsonSerializerOptions { WriteIndented = true }));
    }
}
