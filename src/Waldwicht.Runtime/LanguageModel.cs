using Waldwicht.Model;
using Waldwicht.Model.Gemma4;
using Waldwicht.Text.Chat;
using Waldwicht.Text.Tokenization;

namespace Waldwicht.Runtime;

/// <summary>
/// A model ready for text generation: the decoder, its tokenizer, the chat template revision
/// of the folder and the generation settings. Immutable and shareable; create one
/// <see cref="Generation.Generator"/> per concurrent sequence.
/// </summary>
public sealed class LanguageModel : IDisposable
{
    private LanguageModel(string name, Gemma4Model model, GemmaTokenizer tokenizer, ChatTemplateVariant template, GenerationConfig generation)
    {
        Name = name;
        Model = model;
        Tokenizer = tokenizer;
        TemplateVariant = template;
        GenerationConfig = generation;
    }

    /// <summary>Display name: the Hugging Face id or the folder name.</summary>
    public string Name { get; }

    public Gemma4Model Model { get; }

    public GemmaTokenizer Tokenizer { get; }

    /// <summary>Chat template revision detected from the folder (V1 when it ships no template).</summary>
    public ChatTemplateVariant TemplateVariant { get; }

    public GenerationConfig GenerationConfig { get; }

    /// <summary>Loads a model folder: weights, tokenizer.json, chat template and generation_config.json.</summary>
    /// <exception cref="ModelFormatException">Something in the folder is missing or malformed.</exception>
    public static LanguageModel Load(string directory, string? name = null)
    {
        var model = Gemma4Model.Load(directory);
        try
        {
            GemmaTokenizer tokenizer;
            try
            {
                tokenizer = GemmaTokenizer.FromDirectory(model.Directory);
            }
            catch (Exception ex) when (ex is FileNotFoundException or FormatException or InvalidDataException or System.Text.Json.JsonException)
            {
                throw new ModelFormatException($"Cannot load the tokenizer of {model.Directory}: {ex.Message}", ex);
            }

            if (tokenizer.VocabularySize > model.Config.VocabSize)
            {
                throw new ModelFormatException(
                    $"The tokenizer has {tokenizer.VocabularySize} tokens but the model's vocabulary has {model.Config.VocabSize}; they do not belong together.");
            }

            var variant = Gemma4ChatTemplate.DetectVariantFromModelFolder(model.Directory);
            var generation = GenerationConfig.Load(model.Directory, model.Config);
            return new LanguageModel(name ?? Path.GetFileName(model.Directory.TrimEnd(Path.DirectorySeparatorChar)), model, tokenizer, variant, generation);
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    /// <summary>Renders a conversation with the folder's template revision (unless the options name another).</summary>
    public string RenderChat(IReadOnlyList<ChatMessage> messages, IReadOnlyList<ToolDefinition>? tools, ChatRenderOptions options) =>
        Gemma4ChatTemplate.Render(messages, tools ?? [], options);

    /// <summary>Renders and tokenizes a conversation; the rendered text carries its own BOS.</summary>
    public int[] EncodeChat(IReadOnlyList<ChatMessage> messages, IReadOnlyList<ToolDefinition>? tools, ChatRenderOptions options) =>
        Tokenizer.Encode(RenderChat(messages, tools, options), addSpecialTokens: false);

    /// <summary>Tokenizes a raw completion prompt and makes sure it starts with exactly one BOS token.</summary>
    public int[] EncodePrompt(string text)
    {
        var ids = Tokenizer.Encode(text, addSpecialTokens: false);
        if (ids.Length > 0 && ids[0] == Tokenizer.BosId)
        {
            return ids;
        }

        var withBos = new int[ids.Length + 1];
        withBos[0] = Tokenizer.BosId;
        ids.CopyTo(withBos, 1);
        return withBos;
    }

    /// <summary>Options for a new chat render with this model's template revision.</summary>
    public ChatRenderOptions DefaultRenderOptions(bool enableThinking = false) =>
        new() { AddGenerationPrompt = true, EnableThinking = enableThinking, Variant = TemplateVariant };

    public void Dispose() => Model.Dispose();
}
