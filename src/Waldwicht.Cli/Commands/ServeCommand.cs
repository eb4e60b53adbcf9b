using System.CommandLine;
using Microsoft.Extensions.Options;
using Waldwicht.Cli.Infrastructure;
using Waldwicht.Runtime;
using Waldwicht.Server;

namespace Waldwicht.Cli.Commands;

/// <summary>`waldwicht serve`: the OpenAI-compatible HTTP server for one model.</summary>
internal static class ServeCommand
{
    /// <summary>Environment variable read for the API key when --api-key is not given (keeps the key out of process listings).</summary>
    public const string ApiKeyVariable = "WALDWICHT_API_KEY";

    internal static Command Create()
    {
        var model = CommonOptions.Model();
        var host = new Option<string>("--host")
        {
            Description = "Address to listen on: an IP address or localhost. Anything but loopback exposes the server to the network.",
            DefaultValueFactory = _ => ServerOptions.DefaultHost,
        };
        var port = new Option<int>("--port")
        {
            Description = "TCP port (0 picks a free port).",
            DefaultValueFactory = _ => ServerOptions.DefaultPort,
        };
        var apiKey = new Option<string?>("--api-key")
        {
            Description = $"Require 'Authorization: Bearer KEY' on every endpoint but /health (default: ${ApiKeyVariable}, else no key).",
        };
        var thinking = new Option<string>("--thinking")
        {
            Description = "Thinking mode for requests that do not choose one (chat_template_kwargs.enable_thinking or reasoning_effort): off or on.",
            DefaultValueFactory = _ => "off",
        };
        thinking.AcceptOnlyFromAmong("off", "on");
        var maxQueue = new Option<int>("--max-queue")
        {
            Description = "Most requests waiting for a free sequence; more are answered with 429.",
            DefaultValueFactory = _ => 64,
        };
        var context = new Option<int>("--context")
        {
            Description = "Most tokens per sequence, prompt plus reply (0 = the model's max_position_embeddings).",
            DefaultValueFactory = _ => 0,
        };
        var parallel = new Option<int>("--parallel")
        {
            Description = "Sequences generated at once, each with its own KV cache; the weights are shared.",
            DefaultValueFactory = _ => 1,
        };
        var promptCache = new Option<int>("--prompt-cache")
        {
            Description = "Recent sequences kept for prompt-prefix reuse (0 = off).",
            DefaultValueFactory = _ => 8,
        };
        var promptCacheMb = new Option<int>("--prompt-cache-mb")
        {
            Description = "Most MiB of keys and values kept in the prompt cache.",
            DefaultValueFactory = _ => 2048,
        };
        var threads = CommonOptions.Threads();
        var activations = CommonOptions.Activations();

        var command = new Command("serve", "Serve a model over an OpenAI-compatible HTTP API (chat completions, completions, models, metrics).")
        {
            model, host, port, apiKey, thinking, maxQueue, context, parallel, promptCache, promptCacheMb, threads, activations,
        };

        command.SetAction((ParseResult parse, CancellationToken cancellationToken) => CommandRunner.RunAsync(async () =>
        {
            KernelSettings.Apply(parse.GetValue(threads));
            KernelSettings.ApplyActivations(parse.GetValue(activations));
            string? modelName = parse.GetValue(model);
            string folder = await ModelResolution.ResolveAsync(modelName, cancellationToken);
            using var language = ModelLoading.Load(folder, modelName);

            var options = new ServerOptions
            {
                Host = parse.GetValue(host)!,
                Port = parse.GetValue(port),
                ApiKey = parse.GetValue(apiKey) ?? Environment.GetEnvironmentVariable(ApiKeyVariable),
                ModelId = language.Name,
                ModelAliases = string.IsNullOrWhiteSpace(modelName)
                    ? [Path.GetFileName(folder.TrimEnd(Path.DirectorySeparatorChar))]
                    : [Path.GetFileName(folder.TrimEnd(Path.DirectorySeparatorChar)), modelName],
                ThinkingByDefault = parse.GetValue(thinking) == "on",
                MaxQueue = parse.GetValue(maxQueue),
                ContextLength = parse.GetValue(context),
                Parallel = parse.GetValue(parallel),
                PromptCacheEntries = parse.GetValue(promptCache),
                PromptCacheBytes = (long)parse.GetValue(promptCacheMb) << 20,
            };

            await using var server = WaldwichtServer.Create(language, options);
            try
            {
                await server.RunAsync(cancellationToken);
            }
            catch (OptionsValidationException ex)
            {
                throw new CliException(string.Join(" ", ex.Failures));
            }
            catch (IOException ex) when (ex.InnerException is System.Net.Sockets.SocketException || ex.Message.Contains("address", StringComparison.OrdinalIgnoreCase))
            {
                throw new CliException($"Cannot listen on {options.Host}:{options.Port}: {ex.Message} Choose another --port or stop the other server.");
            }

            return 0;
        }));
        return command;
    }
}
