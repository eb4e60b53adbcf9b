namespace Waldwicht.Formats.Safetensors;

/// <summary>A safetensors file or checkpoint folder is malformed; the message names the file and the defect.</summary>
public sealed class SafetensorsFormatException : FormatException
{
    public SafetensorsFormatException(string message)
        : base(message)
    {
    }

    public SafetensorsFormatException(string message, Exception inner)
        : base(message, inner)
    {
    }
}
