using System.Diagnostics.CodeAnalysis;
using System.Text.RegularExpressions;

namespace Waldwicht.Formats.Hub;

/// <summary>
/// A model repository on the Hugging Face hub at one revision, written <c>org/name</c> or <c>org/name@revision</c>.
/// The revision is a branch, a tag, a pull-request ref such as <c>refs/pr/1</c>, or a 40-digit commit hash.
/// </summary>
public sealed partial record HubModelId
{
    /// <summary>Revision used when the text names none.</summary>
    public const string DefaultRevision = "main";

    // huggingface_hub accepts at most 96 characters in a repo id.
    private const int MaxRepoIdLength = 96;

    private HubModelId(string repoId, string revision)
    {
        RepoId = repoId;
        Revision = revision;
    }

    /// <summary>Repository id, <c>org/name</c>.</summary>
    public string RepoId { get; }

    /// <summary>Branch, tag, ref or commit hash.</summary>
    public string Revision { get; }

    /// <summary>Whether <see cref="Revision"/> is a full commit hash, which never moves.</summary>
    public bool IsCommitHash => CommitHashPattern().IsMatch(Revision);

    /// <summary>Name of the repository's folder in the hub cache, as huggingface_hub writes it: <c>models--org--name</c>.</summary>
    public string CacheFolderName => "models--" + RepoId.Replace("/", "--", StringComparison.Ordinal);

    /// <summary>Creates an id from its parts.</summary>
    /// <exception cref="ModelSourceException">The repo id or the revision is malformed.</exception>
    public static HubModelId Create(string repoId, string revision = DefaultRevision)
    {
        ArgumentNullException.ThrowIfNull(repoId);
        ArgumentNullException.ThrowIfNull(revision);
        var problem = ValidateRepoId(repoId) ?? ValidateRevision(revision);
        if (problem is not null)
        {
            throw new ModelSourceException(ModelSourceError.InvalidReference, $"Invalid model '{repoId}@{revision}': {problem}.");
        }

        return new HubModelId(repoId, revision);
    }

    /// <summary>Parses <c>org/name</c> or <c>org/name@revision</c>.</summary>
    /// <exception cref="ModelSourceException">The text is not a valid repo id with an optional revision.</exception>
    public static HubModelId Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (!TryParse(text, out var id, out var problem))
        {
            throw new ModelSourceException(
                ModelSourceError.InvalidReference,
                $"Invalid model '{text}': {problem}. Expected a Hugging Face repo id such as google/gemma-4-e2b-it, "
                + "optionally followed by @revision (a branch, tag or commit hash).");
        }

        return id;
    }

    /// <summary>Parses <c>org/name</c> or <c>org/name@revision</c>; returns false when the text is malformed.</summary>
    public static bool TryParse([NotNullWhen(true)] string? text, [NotNullWhen(true)] out HubModelId? id) =>
        TryParse(text, out id, out _);

    /// <summary>Returns <c>org/name</c>, or <c>org/name@revision</c> when the revision is not the default.</summary>
    public override string ToString() => Revision == DefaultRevision ? RepoId : $"{RepoId}@{Revision}";

    /// <summary>Parses like <see cref="TryParse(string?, out HubModelId?)"/> and on failure describes what is wrong with the text.</summary>
    internal static bool TryParse(string? text, [NotNullWhen(true)] out HubModelId? id, out string problem)
    {
        id = null;
        if (string.IsNullOrWhiteSpace(text))
        {
            problem = "the text is empty";
            return false;
        }

        var at = text.IndexOf('@', StringComparison.Ordinal);
        var repoId = at < 0 ? text : text[..at];
        var revision = at < 0 ? DefaultRevision : text[(at + 1)..];
        var error = ValidateRepoId(repoId) ?? ValidateRevision(revision);
        if (error is not null)
        {
            problem = error;
            return false;
        }

        id = new HubModelId(repoId, revision);
        problem = "";
        return true;
    }

    private static string? ValidateRepoId(string repoId)
    {
        if (repoId.Length > MaxRepoIdLength)
        {
            return $"a repo id has at most {MaxRepoIdLength} characters";
        }

        var parts = repoId.Split('/');
        if (parts.Length != 2)
        {
            return "a repo id has the form org/name";
        }

        foreach (var part in parts)
        {
            if (!RepoIdPartPattern().IsMatch(part) || part.Contains("--", StringComparison.Ordinal)
                || part.Contains("..", StringComparison.Ordinal))
            {
                return $"'{part}' is not a valid org or repo name (letters, digits, '-', '_' and '.', "
                    + "starting and ending with a letter, digit or '_', without '--' or '..')";
            }
        }

        return null;
    }

    // The revision becomes a path below refs/ in the cache, so anything that could leave that folder is rejected,
    // along with the characters that git forbids in ref names.
    private static string? ValidateRevision(string revision)
    {
        if (revision.Length == 0)
        {
            return "the revision after '@' is empty";
        }

        var segments = revision.Split('/');
        var validSegments = segments.All(segment => segment.Length > 0 && segment != "." && !segment.StartsWith('.'));
        if (!validSegments || revision.Contains("..", StringComparison.Ordinal) || !RevisionPattern().IsMatch(revision))
        {
            return $"'{revision}' is not a valid revision (a branch, tag, refs/pr/N or a commit hash)";
        }

        return null;
    }

    [GeneratedRegex("^[A-Za-z0-9_](?:[A-Za-z0-9_.-]*[A-Za-z0-9_])?$")]
    private static partial Regex RepoIdPartPattern();

    [GeneratedRegex("^[^\\x00-\\x20\\x7F~^:?*\\[\\\\@]+$")]
    private static partial Regex RevisionPattern();

    [GeneratedRegex("^[0-9a-f]{40}$")]
    private static partial Regex CommitHashPattern();
}
