using System.Text.Json;

namespace Waldwicht.Runtime.ChatClient.Constraints;

/// <summary>
/// Compiles a JSON schema (draft 2020-12 / OpenAI structured-output subset) into <see cref="JsonSchemaNode"/>s.
/// </summary>
/// <remarks>
/// Supported: <c>type</c> (a name or a list), <c>properties</c>, <c>required</c>, <c>additionalProperties</c>
/// (a schema, used for objects without <c>properties</c>), <c>items</c>, <c>minItems</c>, <c>maxItems</c>,
/// <c>enum</c>, <c>const</c>, <c>nullable</c>, <c>anyOf</c>/<c>oneOf</c> whose branches have different types,
/// and local <c>$ref</c> (<c>#</c>, <c>#/$defs/…</c>, <c>#/definitions/…</c>). An object with
/// <c>properties</c> accepts only the listed keys, in any order, each at most once. Keywords that only
/// describe or restrict values further (<c>description</c>, <c>format</c>, <c>pattern</c>,
/// <c>minLength</c>, <c>minimum</c>, …) are not enforced.
/// </remarks>
public static class JsonSchemaCompiler
{
    private const int MaxDepth = 64;

    /// <summary>Compiles <paramref name="schema"/>.</summary>
    /// <exception cref="JsonSchemaException">The schema is malformed or uses an unsupported construct; the message names its path.</exception>
    public static JsonSchemaNode Compile(JsonElement schema)
    {
        var context = new Context(schema);
        return context.Compile(schema, "#", 0);
    }

    /// <summary>The schema of <c>response_format: json_object</c>: any JSON object.</summary>
    public static JsonSchemaNode AnyObject() =>
        new() { Kinds = JsonValueKinds.Object, AdditionalProperties = JsonSchemaNode.Any };

    private sealed class Context(JsonElement root)
    {
        private readonly Dictionary<string, JsonSchemaNode> _references = [];

        public JsonSchemaNode Compile(JsonElement schema, string path, int depth)
        {
            if (depth > MaxDepth)
            {
                throw new JsonSchemaException($"The schema nests deeper than {MaxDepth} levels at {path}.");
            }

            if (schema.ValueKind == JsonValueKind.True)
            {
                return JsonSchemaNode.Any;
            }

            if (schema.ValueKind != JsonValueKind.Object)
            {
                throw new JsonSchemaException($"The schema at {path} must be an object or true; got {schema.ValueKind}.");
            }

            if (schema.TryGetProperty("$ref", out var reference))
            {
                return Resolve(reference, path, depth);
            }

            var node = new JsonSchemaNode();
            Fill(node, schema, path, depth);
            return node;
        }

        private JsonSchemaNode Resolve(JsonElement reference, string path, int depth)
        {
            if (reference.ValueKind != JsonValueKind.String)
            {
                throw new JsonSchemaException($"$ref at {path} must be a string.");
            }

            string target = reference.GetString()!;
            if (_references.TryGetValue(target, out var known))
            {
                return known;
            }

            JsonElement resolved = root;
            if (target != "#")
            {
                if (!target.StartsWith("#/", StringComparison.Ordinal))
                {
                    throw new JsonSchemaException($"$ref '{target}' at {path} is not supported; only local references (#/$defs/NAME) are.");
                }

                foreach (string segment in target[2..].Split('/'))
                {
                    string name = segment.Replace("~1", "/", StringComparison.Ordinal).Replace("~0", "~", StringComparison.Ordinal);
                    if (resolved.ValueKind != JsonValueKind.Object || !resolved.TryGetProperty(name, out resolved))
                    {
                        throw new JsonSchemaException($"$ref '{target}' at {path} points to nothing in the schema.");
                    }
                }
            }

            // Register the node before filling it, so a recursive reference finds it.
            var node = new JsonSchemaNode();
            _references[target] = node;
            if (resolved.ValueKind == JsonValueKind.Object && resolved.TryGetProperty("$ref", out var chained))
            {
                var inner = Resolve(chained, target, depth + 1);
                _references[target] = inner;
                return inner;
            }

            if (resolved.ValueKind == JsonValueKind.True)
            {
                node.Kinds = JsonValueKinds.Any;
                return node;
            }

            if (resolved.ValueKind != JsonValueKind.Object)
            {
                throw new JsonSchemaException($"$ref '{target}' at {path} does not point to a schema object.");
            }

            Fill(node, resolved, target, depth + 1);
            return node;
        }

        private void Fill(JsonSchemaNode node, JsonElement schema, string path, int depth)
        {
            if (schema.TryGetProperty("const", out var constant))
            {
                node.Kinds = JsonValueKinds.Any;
                node.Literals = [JsonSchemaNode.EncodeLiteral(constant)];
                return;
            }

            if (schema.TryGetProperty("enum", out var values))
            {
                if (values.ValueKind != JsonValueKind.Array || values.GetArrayLength() == 0)
                {
                    throw new JsonSchemaException($"enum at {path} must be a non-empty array.");
                }

                node.Kinds = JsonValueKinds.Any;
                node.Literals = values.EnumerateArray().Select(JsonSchemaNode.EncodeLiteral).ToArray();
                return;
            }

            var branches = schema.TryGetProperty("anyOf", out var anyOf) ? anyOf
                : schema.TryGetProperty("oneOf", out var oneOf) ? oneOf
                : (JsonElement?)null;
            if (branches is { } list)
            {
                FillUnion(node, list, path, depth);
                return;
            }

            node.Kinds = ReadKinds(schema, path);
            if (schema.TryGetProperty("nullable", out var nullable) && nullable.ValueKind == JsonValueKind.True)
            {
                node.Kinds |= JsonValueKinds.Null;
            }

            if ((node.Kinds & JsonValueKinds.Object) != 0)
            {
                FillObject(node, schema, path, depth);
            }

            if ((node.Kinds & JsonValueKinds.Array) != 0)
            {
                FillArray(node, schema, path, depth);
            }
        }

        private static JsonValueKinds ReadKinds(JsonElement schema, string path)
        {
            if (!schema.TryGetProperty("type", out var type))
            {
                if (schema.TryGetProperty("properties", out _))
                {
                    return JsonValueKinds.Object;
                }

                return schema.TryGetProperty("items", out _) ? JsonValueKinds.Array : JsonValueKinds.Any;
            }

            if (type.ValueKind == JsonValueKind.String)
            {
                return KindOf(type.GetString()!, path);
            }

            if (type.ValueKind == JsonValueKind.Array && type.GetArrayLength() > 0)
            {
                var kinds = JsonValueKinds.None;
                foreach (var item in type.EnumerateArray())
                {
                    if (item.ValueKind != JsonValueKind.String)
                    {
                        throw new JsonSchemaException($"type at {path} must list type names.");
                    }

                    kinds |= KindOf(item.GetString()!, path);
                }

                return kinds;
            }

            throw new JsonSchemaException($"type at {path} must be a type name or a non-empty list of names.");
        }

        private static JsonValueKinds KindOf(string name, string path) => name switch
        {
            "object" => JsonValueKinds.Object,
            "array" => JsonValueKinds.Array,
            "string" => JsonValueKinds.String,
            "number" => JsonValueKinds.Number,
            "integer" => JsonValueKinds.Integer,
            "boolean" => JsonValueKinds.Boolean,
            "null" => JsonValueKinds.Null,
            _ => throw new JsonSchemaException(
                $"type '{name}' at {path} is not a JSON schema type; use object, array, string, number, integer, boolean or null."),
        };

        private void FillObject(JsonSchemaNode node, JsonElement schema, string path, int depth)
        {
            if (schema.TryGetProperty("properties", out var properties))
            {
                if (properties.ValueKind != JsonValueKind.Object)
                {
                    throw new JsonSchemaException($"properties at {path} must be an object.");
                }

                var list = new List<JsonSchemaProperty>();
                foreach (var property in properties.EnumerateObject())
                {
                    var schemaNode = Compile(property.Value, $"{path}/properties/{property.Name}", depth + 1);
                    list.Add(new JsonSchemaProperty(property.Name, JsonSchemaNode.EncodeName(property.Name), schemaNode));
                }

                if (list.Count > JsonSchemaNode.MaxProperties)
                {
                    throw new JsonSchemaException(
                        $"The object at {path} lists {list.Count} properties; at most {JsonSchemaNode.MaxProperties} are supported.");
                }

                node.Properties = list;
                if (list.Count == 0)
                {
                    node.Properties = null;
                    node.AdditionalProperties = ReadAdditional(schema, path, depth);
                }
            }
            else
            {
                node.AdditionalProperties = ReadAdditional(schema, path, depth);
            }

            if (schema.TryGetProperty("required", out var required))
            {
                if (required.ValueKind != JsonValueKind.Array)
                {
                    throw new JsonSchemaException($"required at {path} must be an array of property names.");
                }

                foreach (var name in required.EnumerateArray())
                {
                    string? text = name.ValueKind == JsonValueKind.String ? name.GetString() : null;
                    int index = node.Properties is { } listed ? IndexOf(listed, text) : -1;
                    if (index < 0)
                    {
                        throw new JsonSchemaException(
                            $"required at {path} names '{name}', which is not in properties; list it under properties.");
                    }

                    node.RequiredMask |= 1UL << index;
                }
            }
        }

        private JsonSchemaNode? ReadAdditional(JsonElement schema, string path, int depth)
        {
            if (!schema.TryGetProperty("additionalProperties", out var additional) || additional.ValueKind == JsonValueKind.True)
            {
                return JsonSchemaNode.Any;
            }

            if (additional.ValueKind == JsonValueKind.False)
            {
                // No properties and no additional ones: only the empty object.
                return null;
            }

            return Compile(additional, $"{path}/additionalProperties", depth + 1);
        }

        private static int IndexOf(IReadOnlyList<JsonSchemaProperty> properties, string? name)
        {
            for (int i = 0; i < properties.Count; i++)
            {
                if (properties[i].Name == name)
                {
                    return i;
                }
            }

            return -1;
        }

        private void FillArray(JsonSchemaNode node, JsonElement schema, string path, int depth)
        {
            node.Items = schema.TryGetProperty("items", out var items)
                ? Compile(items, $"{path}/items", depth + 1)
                : JsonSchemaNode.Any;
            node.MinItems = ReadCount(schema, "minItems", path) ?? 0;
            node.MaxItems = ReadCount(schema, "maxItems", path);
            if (node.MaxItems < node.MinItems)
            {
                throw new JsonSchemaException($"maxItems at {path} is below minItems.");
            }
        }

        private static int? ReadCount(JsonElement schema, string name, string path)
        {
            if (!schema.TryGetProperty(name, out var value))
            {
                return null;
            }

            if (value.ValueKind != JsonValueKind.Number || !value.TryGetInt32(out int count) || count < 0)
            {
                throw new JsonSchemaException($"{name} at {path} must be a non-negative integer.");
            }

            return count;
        }

        private void FillUnion(JsonSchemaNode node, JsonElement branches, string path, int depth)
        {
            if (branches.ValueKind != JsonValueKind.Array || branches.GetArrayLength() == 0)
            {
                throw new JsonSchemaException($"anyOf/oneOf at {path} must be a non-empty array.");
            }

            int index = 0;
            foreach (var branch in branches.EnumerateArray())
            {
                var compiled = Compile(branch, $"{path}/anyOf/{index++}", depth + 1);
                if (compiled.Literals is not null)
                {
                    throw new JsonSchemaException($"anyOf/oneOf at {path} mixes enum or const branches; use one enum instead.");
                }

                var overlap = Normalize(node.Kinds) & Normalize(compiled.Kinds);
                if (overlap != JsonValueKinds.None)
                {
                    throw new JsonSchemaException(
                        $"anyOf/oneOf at {path} has two branches of type {overlap}; only branches of different types are supported.");
                }

                // Keep references to the branches rather than copies: a branch may be a reference still being
                // compiled (a recursive schema), whose properties are filled in later.
                node.Kinds |= compiled.Kinds;
                if ((compiled.Kinds & JsonValueKinds.Object) != 0)
                {
                    node.ObjectBranch = compiled;
                }

                if ((compiled.Kinds & JsonValueKinds.Array) != 0)
                {
                    node.ArrayBranch = compiled;
                }
            }
        }

        // Integers are numbers: two branches that both admit numbers cannot be distinguished by their first byte.
        private static JsonValueKinds Normalize(JsonValueKinds kinds) =>
            (kinds & JsonValueKinds.Integer) != 0 ? (kinds & ~JsonValueKinds.Integer) | JsonValueKinds.Number : kinds;
    }
}

/// <summary>A JSON schema that cannot be enforced; the message names the schema path and the problem.</summary>
public sealed class JsonSchemaException(string message) : Exception(message);
