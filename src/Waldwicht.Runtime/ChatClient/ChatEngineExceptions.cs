namespace Waldwicht.Runtime.ChatClient;

/// <summary>Why a request was rejected before generation.</summary>
public enum ChatRequestErrorKind
{
    /// <summary>A field is missing, has the wrong type or is out of range.</summary>
    InvalidValue,

    /// <summary>The prompt does not fit into the context.</summary>
    ContextLengthExceeded,
}

/// <summary>A request that cannot be served as given; <see cref="Param"/> names the offending field.</summary>
public sealed class ChatRequestException : Exception
{
    public ChatRequestException(string? param, string message, ChatRequestErrorKind kind = ChatRequestErrorKind.InvalidValue, Exception? inner = null)
        : base(message, inner)
    {
        Param = param;
        Kind = kind;
    }

    /// <summary>Request field in OpenAI's naming (such as "temperature" or "messages[2].content"), or null.</summary>
    public string? Param { get; }

    public ChatRequestErrorKind Kind { get; }
}

/// <summary>The request queue is full; the caller may retry later.</summary>
public sealed class ChatEngineBusyException : Exception
{
    public ChatEngineBusyException(int queueLimit)
        : base($"The server is busy: {queueLimit} requests are already waiting. Retry later.")
    {
        QueueLimit = queueLimit;
    }

    public int QueueLimit { get; }
}

/// <summary>The engine is shutting down and accepts no more requests.</summary>
public sealed class ChatEngineStoppedException : Exception
{
    public ChatEngineStoppedException()
        : base("The server is shutting down and accepts no new requests.")
    {
    }
}
