using System.Text;
using System.Text.Json.Nodes;

namespace Waldwicht.Text.Chat;

/// <summary>
/// Renders a conversation into a Gemma 4 prompt exactly as the model's Jinja chat template does (transformers
/// settings: trim_blocks, lstrip_blocks), for each known template revision.
/// </summary>
/// <remarks>
/// <para>The result starts with <c>&lt;bos&gt;</c>; encode it without adding special tokens, or the prompt gets a
/// second BOS. Rendering does not change its inputs.</para>
/// <para>Where a template fails or writes Python internals, the renderer writes something usable instead: an
/// empty conversation renders (V1 and V2 fail on it), a V1 system message given as parts or as null renders
/// its text (V1 writes Python's repr or "None"), and a V2 tool message with neither a matching call id nor a
/// name is named "unknown" (V2 fails).</para>
/// </remarks>
public static partial class Gemma4ChatTemplate
{
    /// <summary>Renders the prompt for a conversation.</summary>
    /// <param name="messages">The conversation; an empty list renders only the system turn (if any) and the generation prompt.</param>
    /// <param name="tools">Functions the model may call, declared in the system turn; null or empty for none.</param>
    /// <param name="options">Generation prompt, thinking and template revision; null for the defaults.</param>
    /// <exception cref="ArgumentException">A tool schema has a "properties" that is not an object, or a "required" or
    /// items "type" that is not a list.</exception>
    public static string Render(
        IReadOnlyList<ChatMessage> messages,
        IReadOnlyList<ToolDefinition>? tools = null,
        ChatRenderOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(messages);
        for (var i = 0; i < messages.Count; i++)
        {
            if (messages[i] is null)
            {
                throw new ArgumentException($"Message {i} is null; remove it from the conversation.", nameof(messages));
            }
        }

        tools ??= [];
        for (var i = 0; i < tools.Count; i++)
        {
            if (tools[i] is null)
            {
                throw new ArgumentException($"Tool {i} is null; remove it from the tool list.", nameof(tools));
            }
        }

        options ??= new ChatRenderOptions();
        var writer = new PromptWriter(Gemma4TemplateRules.For(options.Variant), options);
        return writer.Render(messages, tools);
    }

    /// <summary>What the previous rendered item was; it decides how a turn ends and whether the generation prompt follows.</summary>
    private enum LastItem
    {
        None,
        Think,
        ToolDeclarations,
        ToolCall,
        ToolResponse,
        Image,
        Audio,
        Video,
    }

    private sealed class PromptWriter(Gemma4TemplateRules rules, ChatRenderOptions options)
    {
        private readonly StringBuilder output = new();
        private LastItem last = LastItem.None;

        public string Render(IReadOnlyList<ChatMessage> messages, IReadOnlyList<ToolDefinition> tools)
        {
            output.Append(Gemma4ControlTokens.BeginningOfSequence);
            var firstIsSystem = messages.Count > 0
                && messages[0].Role is ChatMessage.SystemRole or ChatMessage.DeveloperRole;
            if (options.EnableThinking || tools.Count > 0 || firstIsSystem)
            {
                WriteSystemTurn(firstIsSystem ? messages[0] : null, tools);
            }

            var turns = firstIsSystem ? messages.Skip(1).ToArray() : messages.ToArray();
            var lastUser = Array.FindLastIndex(turns, m => m.Role == ChatMessage.UserRole);
            for (var i = 0; i < turns.Length; i++)
            {
                if (rules.FoldToolMessages && turns[i].Role == ChatMessage.ToolRole)
                {
                    continue;
                }

                WriteMessage(turns, i, lastUser);
            }

            if (options.AddGenerationPrompt)
            {
                WriteGenerationPrompt();
            }

            return output.ToString();
        }

        private void WriteSystemTurn(ChatMessage? system, IReadOnlyList<ToolDefinition> tools)
        {
            output.Append(Gemma4ControlTokens.TurnStart).Append("system\n");
            if (options.EnableThinking)
            {
                output.Append(rules.ThinkText);
                last = LastItem.Think;
            }

            if (system?.Content is { } content)
            {
                if (content.IsText)
                {
                    output.Append(PythonValues.Strip(content.Text!));
                }
                else if (rules.SystemPartsWithSpaces)
                {
                    foreach (var part in content.Parts!)
                    {
                        output.Append(PythonValues.Strip(part.Text ?? "")).Append(' ');
                    }
                }
                else
                {
                    // NOTE: V1 writes Python's repr of the part list here. The trimmed text parts are written instead.
                    foreach (var part in content.Parts!.Where(p => p.IsText))
                    {
                        output.Append(PythonValues.Strip(part.Text!));
                    }
                }
            }

            foreach (var tool in tools)
            {
                output.Append(Gemma4ControlTokens.ToolStart);
                Gemma4ToolDeclarations.Append(output, tool, rules);
                output.Append(Gemma4ControlTokens.ToolEnd);
                last = LastItem.ToolDeclarations;
            }

            output.Append(Gemma4ControlTokens.TurnEnd).Append('\n');
        }

        private void WriteMessage(ChatMessage[] turns, int index, int lastUser)
        {
            var message = turns[index];
            last = LastItem.None;
            var role = message.Role == ChatMessage.AssistantRole ? "model" : message.Role;
            var isModel = role == "model";

            // V2 and V3 continue the model turn when the previous non-tool message was an assistant message.
            var continuesTurn = rules.FoldToolMessages && isModel
                && PreviousNonToolRole(turns, index) == ChatMessage.AssistantRole;
            if (!continuesTurn)
            {
                output.Append(Gemma4ControlTokens.TurnStart).Append(role).Append('\n');
            }

            if (ReplaysReasoning(message, index, lastUser))
            {
                output.Append(Gemma4ControlTokens.ChannelStart).Append(Gemma4ControlTokens.ThoughtChannelName).Append('\n')
                    .Append(message.Reasoning).Append('\n').Append(Gemma4ControlTokens.ChannelEnd);
            }

            foreach (var call in message.ToolCalls)
            {
                WriteToolCall(call);
                last = LastItem.ToolCall;
            }

            var wroteResponses = false;
            if (message.ToolResponses.Count > 0)
            {
                foreach (var response in message.ToolResponses)
                {
                    var name = response.Name is null || (rules.EmptyNameIsUnknown && response.Name.Length == 0)
                        ? "unknown"
                        : response.Name;
                    WriteToolResponse(name, response.Response);
                    wroteResponses = true;
                    last = LastItem.ToolResponse;
                }
            }
            else if (rules.FoldToolMessages && message.ToolCalls.Count > 0)
            {
                for (var k = index + 1; k < turns.Length && turns[k].Role == ChatMessage.ToolRole; k++)
                {
                    WriteFoldedToolMessage(message, turns[k]);
                    wroteResponses = true;
                    last = LastItem.ToolResponse;
                }
            }

            var contentStart = output.Length;
            WriteContent(message.Content, isModel);
            WriteTurnEnd(turns, index, isModel, wroteResponses, contentStart);
        }

        private void WriteTurnEnd(ChatMessage[] turns, int index, bool isModel, bool wroteResponses, int contentStart)
        {
            var message = turns[index];
            if (!rules.FoldToolMessages)
            {
                // V1: a message with tool responses and no content leaves the turn open for the model.
                var hasContent = message.Content is { IsEmpty: false };
                if (!(message.ToolResponses.Count > 0 && !hasContent))
                {
                    output.Append(Gemma4ControlTokens.TurnEnd).Append('\n');
                }

                return;
            }

            var wroteContent = PythonValues.Strip(output.ToString(contentStart, output.Length - contentStart)).Length > 0;
            var next = NextNonToolMessage(turns, index);
            var continuesIntoNext = rules.BalancedTurns
                && isModel
                && next?.Role == ChatMessage.AssistantRole
                && (message.ToolCalls.Count == 0 || wroteResponses);
            var leaveOpen = wroteResponses && !wroteContent && (!rules.BalancedTurns || next is null);
            if (last == LastItem.ToolCall && !wroteResponses)
            {
                // Calls without results end the way the model ends them before it stops.
                output.Append(Gemma4ControlTokens.ToolResponseStart);
            }
            else if (!continuesIntoNext && !leaveOpen)
            {
                output.Append(Gemma4ControlTokens.TurnEnd).Append('\n');
            }
        }

        private void WriteGenerationPrompt()
        {
            var afterCallsOrResults = last == LastItem.ToolResponse
                || (rules.FoldToolMessages && last == LastItem.ToolCall);
            if (!afterCallsOrResults)
            {
                output.Append(Gemma4ControlTokens.TurnStart).Append("model\n");
            }
            else if (rules.OpenThoughtAfterToolResponse && last == LastItem.ToolResponse && options.EnableThinking)
            {
                output.Append(Gemma4ControlTokens.ChannelStart).Append(Gemma4ControlTokens.ThoughtChannelName).Append('\n');
            }
        }

        private bool ReplaysReasoning(ChatMessage message, int index, int lastUser)
        {
            if (string.IsNullOrEmpty(message.Reasoning))
            {
                return false;
            }

            var hasCalls = message.ToolCalls.Count > 0;
            return rules.Reasoning switch
            {
                ReasoningReplay.AfterLastUserWithToolCalls => index > lastUser && hasCalls,
                ReasoningReplay.AfterLastUser => index > lastUser || (options.PreserveThinking && hasCalls),
                _ => false,
            };
        }

        private void WriteToolCall(ChatToolCall call)
        {
            output.Append(Gemma4ControlTokens.ToolCallStart).Append("call:").Append(call.Name).Append('{');
            if (call.Arguments is { } arguments)
            {
                Gemma4ValueSyntax.AppendMembers(output, arguments, rules.NullText);
            }
            else if (call.ArgumentsText is { } text)
            {
                var trimmed = PythonValues.Strip(text);
                if (rules.UnwrapArgumentText && trimmed.Length >= 2 && trimmed[0] == '{' && trimmed[^1] == '}')
                {
                    output.Append(trimmed, 1, trimmed.Length - 2);
                }
                else
                {
                    output.Append(text);
                }
            }

            output.Append('}').Append(Gemma4ControlTokens.ToolCallEnd);
        }

        /// <summary>Writes an OpenAI tool message as a tool response inside the model turn of its call (V2, V3).</summary>
        private void WriteFoldedToolMessage(ChatMessage assistant, ChatMessage tool)
        {
            // The name of the call with the matching id wins, and the last one if several match. A call without
            // id matches a tool message without tool_call_id. Otherwise the tool message's own name is used.
            var name = string.IsNullOrEmpty(tool.Name) && (rules.EmptyNameIsUnknown || tool.Name is null) ? "unknown" : tool.Name!;
            foreach (var call in assistant.ToolCalls)
            {
                if (call.Id == tool.ToolCallId)
                {
                    name = call.Name;
                }
            }

            var content = tool.Content;
            if (content is null)
            {
                WriteToolResponse(name, null);
            }
            else if (content.IsText)
            {
                WriteToolResponse(name, JsonValue.Create(content.Text));
            }
            else
            {
                var text = string.Concat(content.Parts!.Where(p => p.IsText).Select(p => p.Text));
                WriteToolResponse(name, JsonValue.Create(text));
                foreach (var part in content.Parts!)
                {
                    if (MediaPlaceholder(part.Type, padded: false) is { } placeholder)
                    {
                        output.Append(placeholder.Text);
                    }
                }
            }
        }

        private void WriteToolResponse(string name, JsonNode? response)
        {
            output.Append(Gemma4ControlTokens.ToolResponseStart).Append("response:").Append(name).Append('{');
            if (response is JsonObject members)
            {
                Gemma4ValueSyntax.AppendMembers(output, members, rules.NullText);
            }
            else
            {
                output.Append("value:");
                Gemma4ValueSyntax.Append(output, response, quoteKeys: false, rules.NullText);
            }

            output.Append('}').Append(Gemma4ControlTokens.ToolResponseEnd);
        }

        private void WriteContent(ChatContent? content, bool isModel)
        {
            if (content is null)
            {
                return;
            }

            if (content.IsText)
            {
                output.Append(isModel ? StripThinking(content.Text!) : PythonValues.Strip(content.Text!));
                return;
            }

            foreach (var part in content.Parts!)
            {
                if (part.IsText)
                {
                    output.Append(isModel ? StripThinking(part.Text!) : PythonValues.Strip(part.Text!));
                }
                else if (MediaPlaceholder(part.Type, rules.PaddedMediaPlaceholders) is { } placeholder)
                {
                    output.Append(placeholder.Text);
                    if (rules.MediaPartsCountAsLastItem)
                    {
                        last = placeholder.Kind;
                    }
                }
            }
        }

        private (string Text, LastItem Kind)? MediaPlaceholder(string type, bool padded)
        {
            var aliases = rules.MediaTypeAliases;
            if (type == ChatContentPart.ImageType || (aliases && type == ChatContentPart.ImageUrlType))
            {
                return (padded ? $"\n\n{Gemma4ControlTokens.ImagePlaceholder}\n\n" : Gemma4ControlTokens.ImagePlaceholder, LastItem.Image);
            }

            if (type == ChatContentPart.AudioType || (aliases && type == ChatContentPart.InputAudioType))
            {
                return (Gemma4ControlTokens.AudioPlaceholder, LastItem.Audio);
            }

            if (type == ChatContentPart.VideoType)
            {
                return (padded ? $"\n\n{Gemma4ControlTokens.VideoPlaceholder}\n\n" : Gemma4ControlTokens.VideoPlaceholder, LastItem.Video);
            }

            return null;
        }

        private static string? PreviousNonToolRole(ChatMessage[] turns, int index)
        {
            for (var j = index - 1; j >= 0; j--)
            {
                if (turns[j].Role != ChatMessage.ToolRole)
                {
                    return turns[j].Role;
                }
            }

            return null;
        }

        private static ChatMessage? NextNonToolMessage(ChatMessage[] turns, int index)
        {
            for (var j = index + 1; j < turns.Length; j++)
            {
                if (turns[j].Role != ChatMessage.ToolRole)
                {
                    return turns[j];
                }
            }

            return null;
        }
    }

    /// <summary>
    /// Removes every thought channel from an earlier assistant reply and trims the rest, as the templates'
    /// <c>strip_thinking</c> macro does: text after an unclosed <c>&lt;|channel&gt;</c> is dropped as well.
    /// </summary>
    internal static string StripThinking(string text)
    {
        var builder = new StringBuilder(text.Length);
        foreach (var part in text.Split(Gemma4ControlTokens.ChannelEnd))
        {
            var open = part.IndexOf(Gemma4ControlTokens.ChannelStart, StringComparison.Ordinal);
            builder.Append(open >= 0 ? part.AsSpan(0, open) : part);
        }

        return PythonValues.Strip(builder.ToString());
    }
}
