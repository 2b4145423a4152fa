using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Runtime.ExceptionServices;
using System.Runtime.InteropServices;
using System.Text;
using System.Threading;
using System.Threading.Tasks;

namespace NodeSpace
{
    /// <summary>How to load a generation model.</summary>
    public sealed class GeneratorOptions
    {
        public GeneratorOptions() { }
        public GeneratorOptions(string modelPath) { ModelPath = modelPath; }

        /// <summary>The model folder (onnx/model.onnx or model.onnx with past key values,
        /// tokenizer.json, config.json, tokenizer_config.json, generation_config.json; or a
        /// folder from onnxruntime-genai's model builder, with genai_config.json). Required.</summary>
        public string ModelPath { get; set; }
        /// <summary>Graph variant ("q4", "fp16", ...: model_&lt;variant&gt;.onnx), or null for model.onnx.</summary>
        public string Variant { get; set; }
        public Device Device { get; set; }
        /// <summary>Intra-op threads per session; 0: the number of physical cores.</summary>
        public int IntraThreads { get; set; }
        /// <summary>Generations that may run at the same time (one session and KV cache each); 0: 2.
        /// Further calls wait for a free session; a cancel ends such a wait at once.</summary>
        public int MaxSessions { get; set; }
        /// <summary>Keep the last generation's KV cache and reuse it when the next prompt starts
        /// with the same tokens, as a chat's follow-up turn does (default true). Same output
        /// either way; only the prompt is processed faster.</summary>
        public bool ReusePrefix { get; set; } = true;
    }

    /// <summary>What a generator detected.</summary>
    public sealed class GeneratorInfo
    {
        /// <summary>Tokens the model can attend to (prompt + generated).</summary>
        public int ContextLength { get; internal set; }
        public int Layers { get; internal set; }
        public int KvHeads { get; internal set; }
        public int HeadDim { get; internal set; }
        /// <summary>True when the model has a chat template (Messages can be used).</summary>
        public bool HasChatTemplate { get; internal set; }
        public string ModelFile { get; internal set; }
        public string Provider { get; internal set; }
        /// <summary>Why the requested device is not the one used, or null.</summary>
        public string FallbackReason { get; internal set; }
        /// <summary>Whether the chat template renders tools, and whether the calls are parsed.</summary>
        public ToolSupport Tools { get; internal set; }
        /// <summary>Why prompt lookup makes no drafts on this graph (it returns the last position's
        /// logits only, or quantizes activations per pass: dynamic int8), or null where it is on and
        /// cannot change the output.</summary>
        public string LookupOffReason { get; internal set; }
    }

    /// <summary>One chat message.</summary>
    public sealed class ChatMessage
    {
        public ChatMessage(string role, string content)
        {
            if (role == null) throw new ArgumentNullException("role");
            if (content == null) throw new ArgumentNullException("content");
            Role = role;
            Content = content;
        }

        /// <summary>"system", "user", "assistant" or "tool" (whatever the model's template accepts).</summary>
        public string Role { get; private set; }
        public string Content { get; private set; }
        /// <summary>The calls an assistant turn made (rendered as transformers renders tool_calls), or null.</summary>
        public IList<ToolCall> ToolCalls { get; private set; }
        /// <summary>A tool result's call id (for templates that print it), or null.</summary>
        public string ToolCallId { get; private set; }

        public static ChatMessage System(string content) { return new ChatMessage("system", content); }
        public static ChatMessage User(string content) { return new ChatMessage("user", content); }
        public static ChatMessage Assistant(string content) { return new ChatMessage("assistant", content); }

        /// <summary>An assistant turn that called tools (the model's own calls, from a result's ToolCalls).</summary>
        public static ChatMessage AssistantToolCalls(IEnumerable<ToolCall> calls, string content = "")
        {
            if (calls == null) throw new ArgumentNullException("calls");
            return new ChatMessage("assistant", content) { ToolCalls = new List<ToolCall>(calls) };
        }

        /// <summary>A tool's result, for the turn after the call.</summary>
        public static ChatMessage Tool(string content, string toolCallId = null)
        {
            return new ChatMessage("tool", content) { ToolCallId = toolCallId };
        }

        /// <summary>Transformers' message form.</summary>
        internal string ToJson()
        {
            var s = new StringBuilder("{\"role\": ").Append(JsonSchemas.Quote(Role)).Append(", \"content\": ").Append(JsonSchemas.Quote(Content));
            if (ToolCalls != null && ToolCalls.Count > 0)
            {
                s.Append(", \"tool_calls\": [");
                for (int i = 0; i < ToolCalls.Count; i++)
                {
                    if (ToolCalls[i] == null) throw new ArgumentException("a message's ToolCalls[" + i + "] is null", "request");
                    s.Append(i > 0 ? ", " : "").Append(ToolCalls[i].ToJson());
                }
                s.Append(']');
            }
            if (ToolCallId != null) s.Append(", \"tool_call_id\": ").Append(JsonSchemas.Quote(ToolCallId));
            return s.Append('}').ToString();
        }
    }

    /// <summary>
    /// A generation request: a raw <see cref="Prompt"/> or chat <see cref="Messages"/> (rendered
    /// with the model's chat template), and sampling settings. Null / zero values mean the
    /// library's default.
    /// </summary>
    public sealed class GenerationRequest
    {
        /// <summary>A raw prompt, tokenized as is. Give this or Messages.</summary>
        public string Prompt { get; set; }
        /// <summary>Chat messages (an assistant turn is opened after them). Give this or Prompt.</summary>
        public IList<ChatMessage> Messages { get; set; }
        /// <summary>Most tokens to generate; 0: generation_config.json's max_new_tokens, else 256.</summary>
        public int MaxNewTokens { get; set; }
        public Sampling Sampling { get; set; }
        /// <summary>With Sampling.Custom: 0 = greedy (default 1).</summary>
        public float? Temperature { get; set; }
        /// <summary>With Sampling.Custom: 0 = off.</summary>
        public int TopK { get; set; }
        /// <summary>With Sampling.Custom: 1 = off (default).</summary>
        public float? TopP { get; set; }
        /// <summary>With Sampling.Custom: 0 = off (default).</summary>
        public float? MinP { get; set; }
        /// <summary>Any sampling: 1 = off (default; Hugging Face semantics).</summary>
        public float? RepetitionPenalty { get; set; }
        /// <summary>Any sampling: 0 = off (default; OpenAI semantics).</summary>
        public float? PresencePenalty { get; set; }
        /// <summary>Any sampling: 0 = off (default; OpenAI semantics).</summary>
        public float? FrequencyPenalty { get; set; }
        /// <summary>With Sampling.Custom: 0 = a fresh seed each call. Same seed, same text.</summary>
        public ulong Seed { get; set; }
        /// <summary>Generation ends before the first of these; it is never emitted. An empty string is
        /// refused (NodeSpaceException InvalidArgument, "stop string N is empty").</summary>
        public IList<string> Stop { get; set; }
        /// <summary>Prompt-lookup speculative decoding: the most tokens drafted per step from the
        /// prompt and the output and verified in one forward pass; null: the library's default (8),
        /// 0: off, at most 64. Greedy text is the same either way, on fp32 and 4-bit q4 graphs alike
        /// (graphs with per-pass dynamic int8 activations keep it off), sampled text keeps its
        /// distribution; summaries and rewrites of a note come faster.</summary>
        public int? LookupMaxDraft { get; set; }
        /// <summary>Structured output (set at most one of JsonSchema, Regex, Grammar, Choices): the text
        /// can only be what the constraint accepts, and generation ends when it is complete
        /// (StopReason.EndOfSequence; MaxTokens leaves an incomplete prefix). A malformed or unsatisfiable
        /// constraint throws NodeSpaceException InvalidArgument naming the error and its position.
        /// JsonSchema: a JSON Schema as JSON text; the text is one JSON value that validates
        /// (llguidance's subset; its "x-guidance" key sets e.g. whitespace_flexible).</summary>
        public string JsonSchema { get; set; }
        /// <summary>A regular expression (Rust regex syntax) the whole text matches.</summary>
        public string Regex { get; set; }
        /// <summary>A Lark grammar (llguidance's dialect, rule start first).</summary>
        public string Grammar { get; set; }
        /// <summary>The text is exactly one of these non-empty strings.</summary>
        public IList<string> Choices { get; set; }
        /// <summary>Functions the model may call, rendered by its chat template (needs Messages). A model
        /// whose template does not render tools throws NodeSpaceException Unsupported. The calls it writes
        /// (Qwen2.5/Hermes &lt;tool_call&gt; form, or bare call JSON naming an offered tool) come back in the
        /// result's ToolCalls; the Text keeps them. Give this or ToolsJson.</summary>
        public IList<ToolDefinition> Tools { get; set; }
        /// <summary>The tools as transformers' JSON (an array of {"type": "function", "function": {...}}).</summary>
        public string ToolsJson { get; set; }
        /// <summary>Auto (default): the model decides; Required / One: the answer is valid calls (constrained).</summary>
        public ToolChoice ToolChoice { get; set; }

        /// <summary>Set <see cref="JsonSchema"/> to <typeparamref name="T"/>'s schema (see <see cref="JsonSchemas.For{T}"/>);
        /// read the answer with <see cref="GenerationResult.Deserialize{T}"/>. Returns this request.</summary>
        public GenerationRequest JsonSchemaFor<T>()
        {
            JsonSchema = JsonSchemas.For<T>();
            return this;
        }

        public static GenerationRequest FromPrompt(string prompt)
        {
            return new GenerationRequest { Prompt = prompt };
        }

        public static GenerationRequest FromMessages(params ChatMessage[] messages)
        {
            return new GenerationRequest { Messages = messages };
        }

        /// <summary>One user message.</summary>
        public static GenerationRequest FromUser(string text)
        {
            return FromMessages(ChatMessage.User(text));
        }
    }

    /// <summary>The outcome of a generation that ended by itself.</summary>
    public sealed class GenerationResult
    {
        /// <summary>The generated text: the chunks concatenated (a stop string is never part of it).</summary>
        public string Text { get; internal set; }
        public StopReason StopReason { get; internal set; }
        public int PromptTokens { get; internal set; }
        /// <summary>Prompt tokens whose KV cache was reused from the previous generation (see
        /// <see cref="GeneratorOptions.ReusePrefix"/>).</summary>
        public int ReusedPromptTokens { get; internal set; }
        public int GeneratedTokens { get; internal set; }
        /// <summary>From the call to the first generated token.</summary>
        public double TimeToFirstTokenMs { get; internal set; }
        public double PrefillTokensPerSecond { get; internal set; }
        /// <summary>Generated tokens after the first, per second.</summary>
        public double DecodeTokensPerSecond { get; internal set; }
        public double TotalMs { get; internal set; }
        /// <summary>Tokens drafted by prompt lookup (see <see cref="GenerationRequest.LookupMaxDraft"/>).</summary>
        public int DraftedTokens { get; internal set; }
        /// <summary>Drafted tokens the model's own choice confirmed (each one a forward pass saved).</summary>
        public int AcceptedTokens { get; internal set; }
        /// <summary>The tool calls parsed from the text (empty without Tools).</summary>
        public IReadOnlyList<ToolCall> ToolCalls { get; internal set; }

        /// <summary>The text read as JSON into <typeparamref name="T"/> (with JsonSchemaFor&lt;T&gt;: the
        /// answer the schema made the model write). Throws SerializationException when it does not fit
        /// (e.g. StopReason.MaxTokens cut it).</summary>
        public T Deserialize<T>()
        {
            return JsonSchemas.Deserialize<T>(Text);
        }
    }

    /// <summary>
    /// A loaded generation model. Thread-safe: several threads may generate at once (each call gets
    /// its own session and KV cache; beyond MaxSessions, calls wait). Dispose it when done; Dispose
    /// during a generation is safe (the native model is freed when the generation returns).
    /// </summary>
    public sealed unsafe partial class Generator : IDisposable
    {
        private readonly GeneratorHandle _handle;
        private readonly GeneratorInfo _info;

        private Generator(GeneratorHandle handle, GeneratorInfo info)
        {
            _handle = handle;
            _info = info;
        }

        /// <summary>
        /// Load a generation model. Slow: call it off the UI thread, or use <see cref="LoadAsync"/>.
        /// Throws NodeSpaceException (ModelNotFound with the path, ModelInvalid, Tokenizer,
        /// Template, RuntimeNotFound, Unsupported, ...).
        /// </summary>
        public static Generator Load(GeneratorOptions options)
        {
            if (options == null) throw new ArgumentNullException("options");
            if (options.ModelPath == null) throw new ArgumentNullException("options.ModelPath");
            Native.EnsureLoaded();
            uint size, librarySize;
            GeneratorOptionsNative o = Native.Defaults<GeneratorOptionsNative>(Native.ns_generator_options_init, out size, out librarySize);
            o.struct_size = size;
            o.device = (int)options.Device;
            o.intra_threads = Embedder.Unsigned(options.IntraThreads, "IntraThreads");
            o.max_sessions = Embedder.Unsigned(options.MaxSessions, "MaxSessions");
            o.reuse_prefix = options.ReusePrefix ? 1 : 0;

            GeneratorHandle handle;
            var error = new ErrorDetail();
            int status;
            using (var arena = new Utf8Arena())
            {
                o.model_path = arena.String(options.ModelPath);
                o.variant = arena.String(options.Variant);
                status = Native.ns_generator_new(ref o, out handle, ref error);
            }
            if (status != 0)
            {
                if (handle != null) handle.Dispose();
                Native.Check(status, ref error);
            }
            try
            {
                return new Generator(handle, ReadInfo(handle));
            }
            catch
            {
                handle.Dispose();
                throw;
            }
        }

        /// <summary><see cref="Load"/> on a thread-pool thread.</summary>
        public static Task<Generator> LoadAsync(GeneratorOptions options)
        {
            return Task.Run(() => Load(options));
        }

        private static GeneratorInfo ReadInfo(GeneratorHandle handle)
        {
            var info = new GeneratorInfoNative();
            info.struct_size = (uint)Marshal.SizeOf(typeof(GeneratorInfoNative));
            Native.Check(Native.ns_generator_get_info(handle, ref info));
            return new GeneratorInfo
            {
                ContextLength = checked((int)info.context_length.ToUInt64()),
                Layers = checked((int)info.layers.ToUInt64()),
                KvHeads = checked((int)info.kv_heads.ToUInt64()),
                HeadDim = checked((int)info.head_dim.ToUInt64()),
                HasChatTemplate = info.has_chat_template != 0,
                ModelFile = Utf8.FromNative(info.model_file),
                Provider = Utf8.FromNative(info.provider),
                FallbackReason = Utf8.FromNative(info.fallback_reason),
                Tools = (ToolSupport)info.tools,
                LookupOffReason = Utf8.FromNative(info.lookup_off_reason),
            };
        }

        /// <summary>What the generator detected (read once, at load).</summary>
        public GeneratorInfo Info { get { ThrowIfDisposed(); return _info; } }

        /// <summary>
        /// Generate on the calling thread (blocking), calling <paramref name="onChunk"/> on this
        /// thread with each piece of text as it is produced: whole characters, which concatenated
        /// are the result's Text. When <paramref name="cancellationToken"/> is cancelled (from any
        /// thread) the native generation stops promptly, also in the middle of a long prompt or while
        /// it waits for a session (MaxSessions busy), and OperationCanceledException is thrown; the text so far has reached onChunk. An exception
        /// thrown by onChunk stops the generation and is rethrown here.
        /// </summary>
        public GenerationResult Generate(GenerationRequest request, Action<string> onChunk = null,
                                         CancellationToken cancellationToken = default(CancellationToken))
        {
            if (request == null) throw new ArgumentNullException("request");
            ThrowIfDisposed();
            cancellationToken.ThrowIfCancellationRequested();

            var call = new StreamCall(onChunk);
            GCHandle callHandle = GCHandle.Alloc(call);
            CancelTokenHandle token = null;
            bool tokenReferenced = false;
            var registration = default(CancellationTokenRegistration);
            var stats = new GenerationStatsNative();
            stats.struct_size = (uint)Marshal.SizeOf(typeof(GenerationStatsNative));
            var error = new ErrorDetail();
            int status;
            try
            {
                using (var arena = new Utf8Arena())
                {
                    GenerateRequestNative native = BuildRequest(request, arena);
                    if (cancellationToken.CanBeCanceled)
                    {
                        Native.Check(Native.ns_cancel_token_new(out token));
                        // The raw pointer goes into the request struct, so the handle is kept
                        // from being freed until the call is over.
                        token.DangerousAddRef(ref tokenReferenced);
                        native.cancel = token.DangerousGetHandle();
                        registration = cancellationToken.Register(s_cancelNative, token);
                    }
                    // s_onChunk is a static delegate (never collected); `call` is reached through
                    // the GCHandle in user_data and lives until the finally below.
                    status = Native.ns_generate_stream(_handle, ref native, s_onChunk, GCHandle.ToIntPtr(callHandle), ref stats, ref error);
                }
            }
            finally
            {
                registration.Dispose(); // waits for a cancel callback running on another thread
                if (tokenReferenced) token.DangerousRelease();
                if (token != null) token.Dispose();
                callHandle.Free();
            }

            if (call.Failure != null) call.Failure.Throw();
            if (status == (int)NodeSpaceStatus.Cancelled && cancellationToken.IsCancellationRequested)
            {
                throw new OperationCanceledException(
                    "generation cancelled after " + stats.generated_tokens.ToUInt64() + " tokens", cancellationToken);
            }
            Native.Check(status, ref error);
            return new GenerationResult
            {
                Text = call.Text.ToString(),
                StopReason = (StopReason)stats.stop_reason,
                PromptTokens = (int)stats.prompt_tokens.ToUInt64(),
                ReusedPromptTokens = (int)stats.reused_prompt_tokens.ToUInt64(),
                GeneratedTokens = (int)stats.generated_tokens.ToUInt64(),
                TimeToFirstTokenMs = stats.time_to_first_token_ms,
                PrefillTokensPerSecond = stats.prefill_tokens_per_s,
                DecodeTokensPerSecond = stats.decode_tokens_per_s,
                TotalMs = stats.total_ms,
                DraftedTokens = (int)stats.drafted_tokens.ToUInt64(),
                AcceptedTokens = (int)stats.accepted_tokens.ToUInt64(),
                ToolCalls = call.ToolCalls.AsReadOnly(),
            };
        }

        /// <summary>
        /// <see cref="Generate"/> on a dedicated thread. <paramref name="onChunk"/> runs on that
        /// thread (marshal to your UI thread yourself, e.g. with Progress&lt;string&gt;). The token
        /// cancels the native generation; the task then ends Canceled.
        /// </summary>
        public Task<GenerationResult> GenerateAsync(GenerationRequest request, Action<string> onChunk = null,
                                                    CancellationToken cancellationToken = default(CancellationToken))
        {
            if (request == null) throw new ArgumentNullException("request");
            ThrowIfDisposed();
            return Task.Factory.StartNew(() => Generate(request, onChunk, cancellationToken), cancellationToken,
                                         TaskCreationOptions.LongRunning, TaskScheduler.Default);
        }

        /// <summary>
        /// The generated text as a blocking sequence of chunks: the generation runs on a worker
        /// thread, and each MoveNext waits for the next chunk. Leaving the loop early (break,
        /// exception) or cancelling the token stops the native generation; errors of the generation
        /// are thrown from the loop. A cancel ends the loop at once (OperationCanceledException),
        /// also while the generation still waits for a session; the loop does not wait for the
        /// native call to return: it ends on its worker thread moments later (until then it holds
        /// its session, if it had one), and its task and resources are cleaned up then.
        /// </summary>
        public IEnumerable<string> Stream(GenerationRequest request, CancellationToken cancellationToken = default(CancellationToken))
        {
            if (request == null) throw new ArgumentNullException("request");
            ThrowIfDisposed();
            return StreamChunks(request, cancellationToken);
        }

        private IEnumerable<string> StreamChunks(GenerationRequest request, CancellationToken cancellationToken)
        {
            // Owned by the generation task once it has started: disposed by FinishInBackground
            // when it is over, which may be after this enumerator is gone.
            var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            var chunks = new BlockingCollection<string>();
            Task<GenerationResult> generation = Task.Factory.StartNew(() =>
            {
                try { return Generate(request, chunks.Add, stop.Token); }
                finally { chunks.CompleteAdding(); }
            }, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
            try
            {
                // With the caller's token, so that a cancel stops the loop at once instead of
                // after the chunks the generation had already queued.
                foreach (string chunk in chunks.GetConsumingEnumerable(cancellationToken))
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    yield return chunk;
                }
                generation.GetAwaiter().GetResult(); // the generation's exception, unwrapped
            }
            finally
            {
                // Left early (break, exception, cancel): stop the native generation, but do not
                // wait for it here. It returns promptly when it can, but not always at once (a
                // session being created cannot be interrupted, which took seconds with a real
                // model). Its task is observed and its resources freed when it ends.
                if (!generation.IsCompleted) stop.Cancel();
                FinishInBackground(generation, stop, chunks);
            }
        }

        /// <summary>
        /// When <paramref name="generation"/> has ended (at once if it has), observe its outcome
        /// (a cancelled or failed generation nobody waits for is not an unobserved task exception)
        /// and dispose what it used.
        /// </summary>
        internal static void FinishInBackground(Task generation, params IDisposable[] owned)
        {
            generation.ContinueWith((finished, state) =>
            {
                GC.KeepAlive(finished.Exception); // reading it marks the exception observed
                foreach (IDisposable d in (IDisposable[])state) d.Dispose();
            }, owned, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        }

        /// <summary>Free the native model. Idempotent; later calls throw ObjectDisposedException.
        /// A generation still running keeps the model alive until it returns.</summary>
        public void Dispose()
        {
            _handle.Dispose();
        }

        private void ThrowIfDisposed()
        {
            if (_handle.IsClosed) throw new ObjectDisposedException(GetType().FullName);
        }

        private static GenerateRequestNative BuildRequest(GenerationRequest r, Utf8Arena arena)
        {
            uint size, librarySize;
            GenerateRequestNative n = Native.Defaults<GenerateRequestNative>(Native.ns_generate_request_init, out size, out librarySize);
            n.struct_size = size;
            bool hasPrompt = r.Prompt != null;
            bool hasMessages = r.Messages != null && r.Messages.Count > 0;
            if (hasPrompt && hasMessages) throw new ArgumentException("the request has both a Prompt and Messages: give one", "request");
            if (!hasPrompt && !hasMessages) throw new ArgumentException("the request has neither a Prompt nor Messages", "request");
            if (hasPrompt)
            {
                n.prompt = arena.String(r.Prompt);
            }
            else if (NeedsJson(r.Messages))
            {
                // Tool calls and tool results' ids travel in transformers' JSON form.
                var json = new StringBuilder("[");
                for (int i = 0; i < r.Messages.Count; i++)
                {
                    if (r.Messages[i] == null) throw new ArgumentException("Messages[" + i + "] is null", "request");
                    json.Append(i > 0 ? ", " : "").Append(r.Messages[i].ToJson());
                }
                n.messages_json = arena.String(json.Append(']').ToString());
            }
            else
            {
                int count = r.Messages.Count;
                var messages = (ChatMessageNative*)arena.Alloc(count * sizeof(ChatMessageNative));
                for (int i = 0; i < count; i++)
                {
                    ChatMessage m = r.Messages[i];
                    if (m == null) throw new ArgumentException("Messages[" + i + "] is null", "request");
                    messages[i].role = arena.String(m.Role);
                    messages[i].content = arena.String(m.Content);
                }
                n.messages = (IntPtr)messages;
                n.message_count = (UIntPtr)count;
            }
            n.max_new_tokens = Embedder.Unsigned(r.MaxNewTokens, "MaxNewTokens");
            n.sampling = (int)r.Sampling;
            if (r.Temperature.HasValue) n.temperature = r.Temperature.Value;
            n.top_k = Embedder.Unsigned(r.TopK, "TopK");
            if (r.TopP.HasValue) n.top_p = r.TopP.Value;
            if (r.MinP.HasValue) n.min_p = r.MinP.Value;
            if (r.RepetitionPenalty.HasValue) n.repetition_penalty = r.RepetitionPenalty.Value;
            if (r.PresencePenalty.HasValue) n.presence_penalty = r.PresencePenalty.Value;
            if (r.FrequencyPenalty.HasValue) n.frequency_penalty = r.FrequencyPenalty.Value;
            n.seed = r.Seed;
            if (r.LookupMaxDraft < 0) throw new ArgumentOutOfRangeException("LookupMaxDraft", r.LookupMaxDraft, "LookupMaxDraft must not be negative (0 turns prompt lookup off)");
            if (r.LookupMaxDraft.HasValue) n.lookup_max_draft = (uint)r.LookupMaxDraft.Value;
            if (r.Stop != null && r.Stop.Count > 0)
            {
                int count = r.Stop.Count;
                IntPtr* stop = arena.Pointers(count);
                for (int i = 0; i < count; i++)
                {
                    if (r.Stop[i] == null) throw new ArgumentException("Stop[" + i + "] is null", "request");
                    stop[i] = arena.String(r.Stop[i]);
                }
                n.stop = (IntPtr)stop;
                n.stop_count = (UIntPtr)count;
            }
            SetConstraint(r, arena, ref n);
            if (r.Tools != null && r.ToolsJson != null) throw new ArgumentException("set Tools or ToolsJson, not both", "request");
            string tools = r.Tools != null ? ToolDefinition.ListToJson(r.Tools) : r.ToolsJson;
            if (tools != null) n.tools = arena.String(tools);
            n.tool_choice = (int)r.ToolChoice;
            n.on_tool_call = s_onToolCallPointer;
            return n;
        }

        private static bool NeedsJson(IList<ChatMessage> messages)
        {
            foreach (ChatMessage m in messages)
            {
                if (m != null && ((m.ToolCalls != null && m.ToolCalls.Count > 0) || m.ToolCallId != null)) return true;
            }
            return false;
        }

        // NS_CONSTRAINT_*.
        private const int ConstraintJsonSchema = 1, ConstraintRegex = 2, ConstraintGrammar = 3, ConstraintChoices = 4;

        private static void SetConstraint(GenerationRequest r, Utf8Arena arena, ref GenerateRequestNative n)
        {
            int given = (r.JsonSchema != null ? 1 : 0) + (r.Regex != null ? 1 : 0) + (r.Grammar != null ? 1 : 0) + (r.Choices != null ? 1 : 0);
            if (given > 1) throw new ArgumentException("set at most one of JsonSchema, Regex, Grammar and Choices", "request");
            if (r.JsonSchema != null) { n.constraint_kind = ConstraintJsonSchema; n.constraint = arena.String(r.JsonSchema); }
            else if (r.Regex != null) { n.constraint_kind = ConstraintRegex; n.constraint = arena.String(r.Regex); }
            else if (r.Grammar != null) { n.constraint_kind = ConstraintGrammar; n.constraint = arena.String(r.Grammar); }
            else if (r.Choices != null)
            {
                n.constraint_kind = ConstraintChoices;
                int count = r.Choices.Count;
                if (count > 0)
                {
                    IntPtr* choices = arena.Pointers(count);
                    for (int i = 0; i < count; i++)
                    {
                        if (r.Choices[i] == null) throw new ArgumentException("Choices[" + i + "] is null", "request");
                        choices[i] = arena.String(r.Choices[i]);
                    }
                    n.choices = (IntPtr)choices;
                }
                n.choice_count = (UIntPtr)count;
            }
        }

        /// <summary>State of one ns_generate_stream call, reached from the callback through user_data.</summary>
        private sealed class StreamCall
        {
            internal StreamCall(Action<string> onChunk) { OnChunk = onChunk; }
            internal readonly Action<string> OnChunk;
            internal readonly StringBuilder Text = new StringBuilder();
            internal readonly List<ToolCall> ToolCalls = new List<ToolCall>();
            internal ExceptionDispatchInfo Failure;
        }

        // Static delegates: one per process, never collected, usable from AOT-compiled Mono.
        private static readonly ChunkCallback s_onChunk = OnChunk;
        private static readonly Action<object> s_cancelNative = CancelNative;
        private static readonly ToolCallCallback s_onToolCall = OnToolCall;
        private static readonly IntPtr s_onToolCallPointer = Marshal.GetFunctionPointerForDelegate(s_onToolCall);

        [MonoPInvokeCallback(typeof(ToolCallCallback))]
        private static void OnToolCall(UIntPtr index, IntPtr name, IntPtr argumentsJson, IntPtr userData)
        {
            StreamCall call = null;
            try
            {
                call = (StreamCall)GCHandle.FromIntPtr(userData).Target;
                call.ToolCalls.Add(new ToolCall(Utf8.FromNative(name), Utf8.FromNative(argumentsJson)));
            }
            catch (Exception e)
            {
                if (call != null && call.Failure == null) call.Failure = ExceptionDispatchInfo.Capture(e);
            }
        }

        [MonoPInvokeCallback(typeof(ChunkCallback))]
        private static int OnChunk(IntPtr utf8, UIntPtr length, IntPtr userData)
        {
            StreamCall call = null;
            try
            {
                call = (StreamCall)GCHandle.FromIntPtr(userData).Target;
                string chunk = Utf8.Decode((byte*)utf8, checked((int)length.ToUInt64()));
                call.Text.Append(chunk);
                if (call.OnChunk != null) call.OnChunk(chunk);
                return Native.NS_CONTINUE;
            }
            catch (Exception e)
            {
                // Never let an exception unwind into native frames: stop, and rethrow after the call.
                if (call != null) call.Failure = ExceptionDispatchInfo.Capture(e);
                return Native.NS_STOP;
            }
        }

        private static void CancelNative(object state)
        {
            try
            {
                Native.ns_cancel_token_cancel((CancelTokenHandle)state);
            }
            catch (ObjectDisposedException)
            {
                // The call is already over.
            }
        }
    }
}
