using System.Collections.Concurrent;
using System.Diagnostics;
using Waldwicht.Runtime.ChatClient.Constraints;
using Waldwicht.Runtime.Generation;

namespace Waldwicht.Runtime.ChatClient;

/// <summary>
/// Serves generation requests on one loaded model: a bounded queue in front of <see cref="ChatEngineOptions.Parallel"/>
/// worker threads, each with its own session and generator, and a shared <see cref="ChatClient.PromptCache"/>.
/// </summary>
/// <remarks>
/// <para>Thread safety: all public members may be called from any thread. Requests never share a session, so
/// several requests in flight never mix state; the model weights are read-only and shared. The matrix kernels
/// run on one worker pool that executes one job at a time, so parallel sequences interleave their matrix
/// products rather than running them at the same instant.</para>
/// <para>Cancelling a request's token stops its generation before the next token; a request still waiting in
/// the queue is finished without generating. Prompt processing itself is not interrupted.</para>
/// </remarks>
public sealed partial class ChatEngine : IDisposable
{
    private readonly BlockingCollection<WorkItem> _queue = new();
    private readonly Thread[] _workers;
    private readonly Slot[] _slots;
    private readonly CancellationTokenSource _shutdown = new();
    private readonly object _gate = new();
    private readonly ThoughtChannelTokens _markers;
    private readonly Lazy<TokenByteTable> _tokenTable;
    private int _waiting;
    private int _running;
    private bool _stopping;
    private bool _disposed;

    /// <exception cref="ArgumentOutOfRangeException">An option is out of range.</exception>
    public ChatEngine(LanguageModel model, ChatEngineOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        options ??= new ChatEngineOptions();
        options.Validate();
        Model = model;
        Options = options;
        int modelLimit = ChatEngineOptions.ReadMaxPositions(model.Model.Directory) ?? 8192;
        if (options.ContextLength > modelLimit)
        {
            throw new ArgumentOutOfRangeException(
                nameof(options), options.ContextLength,
                $"The context length {options.ContextLength} exceeds the model's max_position_embeddings ({modelLimit}).");
        }

        ContextLength = options.ContextLength > 0 ? options.ContextLength : modelLimit;
        PromptCache = new PromptCache(model.Model, options.PromptCacheEntries, options.PromptCacheBytes);
        _markers = ThoughtChannelTokens.From(model.Tokenizer);
        _tokenTable = new Lazy<TokenByteTable>(() => TokenByteTable.For(model.Tokenizer));
        _slots = new Slot[options.Parallel];
        _workers = new Thread[options.Parallel];
        for (int i = 0; i < _slots.Length; i++)
        {
            _slots[i] = new Slot(i, new Generator(model.Model.CreateSession(options.PrefillChunk)));
            var slot = _slots[i];
            _workers[i] = new Thread(() => WorkerLoop(slot))
            {
                IsBackground = true,
                Name = $"Waldwicht generation {i}",
            };
            _workers[i].Start();
        }
    }

    public LanguageModel Model { get; }

    public ChatEngineOptions Options { get; }

    /// <summary>Most tokens per sequence, prompt plus reply.</summary>
    public int ContextLength { get; }

    public PromptCache PromptCache { get; }

    /// <summary>Requests waiting for a free sequence.</summary>
    public int QueuedRequests => Volatile.Read(ref _waiting);

    /// <summary>Requests being generated.</summary>
    public int RunningRequests => Volatile.Read(ref _running);

    /// <summary>Bytes of keys and values held by the sessions of the parallel sequences.</summary>
    public long SlotKvCacheBytes => _slots.Sum(s => s.Generator.Session.KvCacheBytes);

    /// <summary>Tokens held by all sequence sessions divided by the tokens they may hold (parallel × context).</summary>
    public double KvCacheUtilization =>
        _slots.Sum(s => (double)s.Generator.Session.Position) / ((double)_slots.Length * ContextLength);

    /// <summary>Token bytes of the vocabulary for constrained decoding, built on first use.</summary>
    public TokenByteTable TokenTable => _tokenTable.Value;

    /// <summary>
    /// Queues a prepared request. Updates arrive on the returned run; generation stops early when
    /// <paramref name="cancellationToken"/> is cancelled.
    /// </summary>
    /// <exception cref="ChatEngineBusyException">The queue is full.</exception>
    /// <exception cref="ChatEngineStoppedException">The engine is shutting down.</exception>
    public ChatRun Submit(PreparedChat prepared, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(prepared);
        lock (_gate)
        {
            if (_stopping || _disposed)
            {
                throw new ChatEngineStoppedException();
            }

            if (_waiting + _running >= _slots.Length + Options.MaxQueue)
            {
                throw new ChatEngineBusyException(Options.MaxQueue);
            }

            _waiting++;
        }

        var run = new ChatRun(prepared);
        var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _shutdown.Token);
        _queue.Add(new WorkItem(run, linked));
        return run;
    }

    /// <summary>Rejects new requests from now on; requests already queued or running continue.</summary>
    public void StopAccepting()
    {
        lock (_gate)
        {
            _stopping = true;
        }
    }

    /// <summary>Cancels every queued and running request (they finish with <see cref="ReplyFinishReason.Cancelled"/>).</summary>
    public void CancelAll() => _shutdown.Cancel();

    /// <summary>Stops the workers after cancelling what is still running.</summary>
    public void Dispose()
    {
        lock (_gate)
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
            _stopping = true;
        }

        _shutdown.Cancel();
        _queue.CompleteAdding();
        foreach (var worker in _workers)
        {
            worker.Join();
        }

        _queue.Dispose();
        _shutdown.Dispose();
    }

    private void WorkerLoop(Slot slot)
    {
        foreach (var item in _queue.GetConsumingEnumerable())
        {
            lock (_gate)
            {
                _waiting--;
                _running++;
            }

            try
            {
                Execute(item, slot);
            }
            finally
            {
                item.Cancellation.Dispose();
                lock (_gate)
                {
                    _running--;
                }
            }
        }
    }

    private void Execute(WorkItem item, Slot slot)
    {
        var run = item.Run;
        var prepared = run.Prepared;
        var token = item.Cancellation.Token;
        int completion = 0;
        int reasoning = 0;
        int cached = 0;
        try
        {
            for (int choice = 0; choice < prepared.Request.ChoiceCount; choice++)
            {
                var finished = token.IsCancellationRequested
                    ? new ReplyFinished(choice, ReplyFinishReason.Cancelled, 0, 0, 0, null, 0)
                    : RunChoice(run, slot, choice, token);
                run.Write(finished);
                completion += finished.CompletionTokens;
                reasoning += finished.ReasoningTokens;
                if (choice == 0)
                {
                    cached = finished.CachedPromptTokens;
                }
            }

            run.Complete(new ChatUsage(prepared.PromptTokens.Length, completion, cached, reasoning));
        }
        catch (Exception ex)
        {
            // The session may hold a half-processed step; start the next request from a clean state.
            slot.Generator.Reset();
            run.Fail(ex);
        }
    }

    private ReplyFinished RunChoice(ChatRun run, Slot slot, int choice, CancellationToken token)
    {
        var prepared = run.Prepared;
        var request = prepared.Request;
        var generator = slot.Generator;
        int cached = PromptCache.Restore(generator, prepared.PromptTokens);
        if (prepared.MaxTokens == 0)
        {
            return new ReplyFinished(choice, ReplyFinishReason.Length, 0, 0, cached, null, 0);
        }

        var sampling = request.Sampling;
        if (sampling.Seed is int seed && choice > 0)
        {
            sampling = sampling with { Seed = unchecked(seed + choice) };
        }

        var options = new GenerationOptions
        {
            MaxTokens = prepared.MaxTokens,
            Sampling = sampling,
            StopTokenIds = Model.GenerationConfig.StopTokenIds,
            LogitsProcessors = CreateProcessors(prepared, choice),
            Logprobs = request.Logprobs,
            TopLogprobs = request.Logprobs ? request.TopLogprobs : 0,
        };

        var splitter = new Text.Chat.Gemma4OutputSplitter(prepared.StartInsideChannel);
        var assembler = new ReplyAssembler(Model.Tokenizer, splitter, request.StopSequences, _markers, prepared.StartInsideChannel, choice);
        long firstToken = 0;
        var result = generator.Generate(prepared.PromptTokens, options, generated =>
        {
            if (firstToken == 0)
            {
                firstToken = Stopwatch.GetTimestamp();
            }

            if (generated.Logprob is float logprob)
            {
                run.Write(new ReplyLogprob(choice, DescribeToken(generated.Id, logprob, generated.TopLogprobs)));
            }

            foreach (var update in assembler.Add(generated.Id))
            {
                run.Write(update);
            }

            return !assembler.StopMatched;
        }, token);

        foreach (var update in assembler.Finish())
        {
            run.Write(update);
        }

        var reason = result.FinishReason switch
        {
            FinishReason.Cancelled => ReplyFinishReason.Cancelled,
            _ when assembler.StopMatched => ReplyFinishReason.Stop,
            FinishReason.Length => ReplyFinishReason.Length,
            _ when assembler.ToolCalls > 0 => ReplyFinishReason.ToolCalls,
            _ => ReplyFinishReason.Stop,
        };

        PromptCache.Store(generator);
        TimeSpan? timeToFirstToken = firstToken == 0 ? null : Stopwatch.GetElapsedTime(run.Started, firstToken);
        double decodeSeconds = firstToken == 0 ? 0 : Stopwatch.GetElapsedTime(firstToken).TotalSeconds;
        return new ReplyFinished(
            choice, reason, result.TokenIds.Count, assembler.ReasoningTokens, result.Stats.CachedPromptTokens, timeToFirstToken, decodeSeconds);
    }

    private TokenLogprobInfo DescribeToken(int id, float logprob, TokenLogprob[]? alternatives)
    {
        byte[] bytes = TokenByteTable.TokenBytes(Model.Tokenizer, id);
        var top = alternatives is null
            ? []
            : alternatives.Select(a => DescribeToken(a.Id, a.Logprob, null)).ToArray();
        return new TokenLogprobInfo(id, System.Text.Encoding.UTF8.GetString(bytes), bytes, logprob, top);
    }

    private sealed record Slot(int Index, Generator Generator);

    private sealed record WorkItem(ChatRun Run, CancellationTokenSource Cancellation);
}
