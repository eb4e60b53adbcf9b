using Waldwicht.Runtime;

namespace Waldwicht.Server.Endpoints;

/// <summary>
/// The one model this server serves and the names a request may use for it: the configured id, the model's
/// name, its folder name, "default", and configured aliases. Other names get 404; nothing is ever loaded
/// because a client asked for it.
/// </summary>
public sealed class ModelCatalog
{
    private readonly HashSet<string> _names;

    public ModelCatalog(LanguageModel model, ServerOptions options)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(options);
        Id = options.ModelId;
        Created = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        _names = new HashSet<string>(StringComparer.Ordinal)
        {
            Id,
            "default",
            model.Name,
            Path.GetFileName(model.Model.Directory.TrimEnd(Path.DirectorySeparatorChar)),
        };
        foreach (var alias in options.ModelAliases)
        {
            _names.Add(alias);
        }
    }

    /// <summary>Model id reported in responses and listed by /v1/models.</summary>
    public string Id { get; }

    /// <summary>Unix seconds when the server loaded the model.</summary>
    public long Created { get; }

    /// <summary>True when <paramref name="name"/> is absent or names the served model.</summary>
    public bool Serves(string? name) => name is null || _names.Contains(name);
}
