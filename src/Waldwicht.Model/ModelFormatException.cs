namespace Waldwicht.Model;

/// <summary>A model folder cannot be loaded: its config.json or tensors do not describe a supported model.</summary>
public sealed class ModelFormatException : Exception
{
    public ModelFormatException(string message)
        : base(message)
    {
    }

    public ModelFormatException(string message, Exception inner)
        : base(message, inner)
    {
    }
}
