import CNodeSpace

/// A decoder-only language model (`ns_generator`) that streams generated text.
///
/// Sendable: the C API lets several threads generate with one generator at once (each call
/// gets its own session and KV cache; beyond `maxSessions` calls wait). It must not be freed
/// while a call runs: every generation keeps a strong reference to its generator until its
/// native call has returned, so `deinit` (which frees the handle) cannot run before.
///
///     let generator = try await Generator.load(options: GeneratorOptions(modelPath: path))
///     for try await chunk in generator.stream(GenerationRequest(messages: [.user("Hi!")])) {
///         print(chunk, terminator: "")
///     }
public final class Generator: @unchecked Sendable {
    private let handle: OpaquePointer
    /// What the generator detected.
    public let info: GeneratorInfo

    /// Loads the model. Slow: in async code prefer `Generator.load(options:)`.
    public init(options: GeneratorOptions) throws {
        let arena = NativeArena()
        defer { arena.release() }
        var native = ns_generator_options()
        try check(ns_generator_options_init(&native, MemoryLayout<ns_generator_options>.size))
        native.model_path = try arena.cString(options.modelPath, "options.modelPath")
        native.variant = try arena.optionalCString(options.variant, "options.variant")
        native.device = options.device.rawValue
        native.intra_threads = try uint32(options.intraThreads, "options.intraThreads")
        native.max_sessions = try uint32(options.maxSessions, "options.maxSessions")
        native.reuse_prefix = options.reusePrefix ? 1 : 0

        var out: OpaquePointer?
        try check(ns_generator_new(&native, &out, nil))
        guard let out else { throw NodeSpaceError.internal("ns_generator_new returned NS_OK and no generator") }
        do {
            var raw = ns_generator_info()
            raw.struct_size = UInt32(MemoryLayout<ns_generator_info>.size)
            try check(ns_generator_get_info(out, &raw))
            info = GeneratorInfo(
                contextLength: raw.context_length,
                layers: raw.layers,
                kvHeads: raw.kv_heads,
                headDim: raw.head_dim,
                hasChatTemplate: raw.has_chat_template != 0,
                modelFile: string(raw.model_file) ?? "",
                provider: string(raw.provider) ?? "",
                fallbackReason: string(raw.fallback_reason),
                tools: ToolSupport(rawValue: raw.tools) ?? .none,
                lookupOffReason: string(raw.lookup_off_reason)
            )
        } catch {
            ns_generator_free(out)
            throw error
        }
        handle = out
    }

    /// Loads the model on a separate thread.
    public static func load(options: GeneratorOptions) async throws -> Generator {
        try await Worker.run("nodespace.generator.load") { try Generator(options: options) }
    }

    deinit {
        ns_generator_free(handle)
    }

    /// The generated text, chunk by chunk (each chunk whole UTF-8 characters; a stop string
    /// is never part of them).
    ///
    /// The generation starts at once on its own thread. Ending the iteration early (`break`,
    /// the consuming task cancelled, or the stream released) terminates the stream, which
    /// cancels the native generation through its cancel token: it stops within a token, and
    /// a prompt being processed is interrupted inside ONNX Runtime. Errors are thrown from the
    /// iteration as `NodeSpaceError`.
    ///
    /// `onCompletion` (optional) receives the outcome once the native call has returned,
    /// on the generation's thread: the full result and stats (`stopReason == .cancelled`
    /// when the stream was terminated early), or the error.
    public func stream(
        _ request: GenerationRequest,
        onCompletion: (@Sendable (Result<GenerationResult, any Error>) -> Void)? = nil
    ) -> AsyncThrowingStream<String, Error> {
        stream(request, hooks: GenerationHooks(), onCompletion: onCompletion)
    }

    /// Generates to the end and returns the whole text with its stats.
    ///
    /// Runs on its own thread; cancelling the calling task cancels the native generation
    /// and throws `CancellationError`.
    public func generate(_ request: GenerationRequest) async throws -> GenerationResult {
        try await generate(request, hooks: GenerationHooks())
    }

    // MARK: - Implementation

    func stream(
        _ request: GenerationRequest,
        hooks: GenerationHooks,
        onCompletion: (@Sendable (Result<GenerationResult, any Error>) -> Void)?
    ) -> AsyncThrowingStream<String, Error> {
        let (stream, continuation) = AsyncThrowingStream<String, Error>.makeStream()
        let token: CancelToken
        do {
            token = try CancelToken()
        } catch {
            continuation.finish(throwing: error)
            onCompletion?(.failure(error))
            return stream
        }
        // Runs on whichever thread terminates the stream (a cancelled consumer, a `break`,
        // the last reference dropped); the token is thread-safe.
        continuation.onTermination = { termination in
            if case .cancelled = termination {
                token.cancel()
            }
        }
        Worker.start("nodespace.generate") { [self] in
            hooks.beforeStart?()
            var index = 0
            let outcome = Result { () throws(NodeSpaceError) in
                try generateBlocking(request, cancel: token) { chunk in
                    // A terminated stream drops the chunk: stop at once (the cancel token
                    // has been triggered too, by onTermination).
                    let delivered: Bool
                    if case .terminated = continuation.yield(chunk) { delivered = false } else { delivered = true }
                    hooks.afterChunk?(index)
                    index += 1
                    return delivered
                }
            }
            switch outcome {
            case .success: continuation.finish()
            case .failure(let error): continuation.finish(throwing: error)
            }
            onCompletion?(outcome.mapError { $0 as any Error })
        }
        return stream
    }

    func generate(_ request: GenerationRequest, hooks: GenerationHooks) async throws -> GenerationResult {
        let token = try CancelToken()
        let result = try await withTaskCancellationHandler {
            try await Worker.run("nodespace.generate") { [self] in
                hooks.beforeStart?()
                return try generateBlocking(request, cancel: token) { _ in true }
            }
        } onCancel: {
            token.cancel()
        }
        if result.stopReason == .cancelled {
            throw CancellationError()
        }
        return result
    }

    /// One `ns_generate_stream` call on the current thread. `onChunk` returns false to stop.
    /// A cancelled generation (callback or token) is a result with `.cancelled`, not an error.
    func generateBlocking(
        _ request: GenerationRequest,
        cancel: CancelToken?,
        onChunk: (String) -> Bool
    ) throws(NodeSpaceError) -> GenerationResult {
        let arena = NativeArena()
        defer { arena.release() }
        var native = try nativeRequest(request, arena: arena)
        native.cancel = cancel?.handle
        // The calls arrive once the generation has ended, with the chunk callback's user_data.
        native.on_tool_call = { _, name, argumentsJSON, userData in
            guard let userData, let name, let argumentsJSON else { return }
            let sink = Unmanaged<ChunkSink>.fromOpaque(userData).takeUnretainedValue()
            sink.toolCalls.append(ToolCall(name: String(cString: name), argumentsJSON: String(cString: argumentsJSON)))
        }

        var stats = ns_generation_stats()
        stats.struct_size = UInt32(MemoryLayout<ns_generation_stats>.size)
        let (status, text, toolCalls) = withoutActuallyEscaping(onChunk) { onChunk in
            let sink = ChunkSink(onChunk)
            let status = withExtendedLifetime(sink) {
                ns_generate_stream(handle, &native, { utf8, length, userData in
                    // @convention(c) trampoline: the context comes back through user_data.
                    guard let userData else { return NS_STOP }
                    let sink = Unmanaged<ChunkSink>.fromOpaque(userData).takeUnretainedValue()
                    let chunk = utf8.map {
                        String(decoding: UnsafeRawBufferPointer(start: $0, count: length), as: UTF8.self)
                    } ?? ""
                    return sink.receive(chunk) ? NS_CONTINUE : NS_STOP
                }, Unmanaged.passUnretained(sink).toOpaque(), &stats, nil)
            }
            return (status, sink.text, sink.toolCalls)
        }
        if status != NS_ERR_CANCELLED {
            try check(status)
        }
        let reason = status == NS_ERR_CANCELLED ? .cancelled : StopReason(rawValue: stats.stop_reason)
        guard let reason else {
            throw .internal("ns_generate_stream returned NS_OK with stop_reason \(stats.stop_reason)")
        }
        return GenerationResult(
            text: text,
            stopReason: reason,
            stats: GenerationStats(
                promptTokens: stats.prompt_tokens,
                reusedPromptTokens: stats.reused_prompt_tokens,
                generatedTokens: stats.generated_tokens,
                timeToFirstTokenMs: stats.time_to_first_token_ms,
                prefillTokensPerSecond: stats.prefill_tokens_per_s,
                decodeTokensPerSecond: stats.decode_tokens_per_s,
                totalMs: stats.total_ms,
                draftedTokens: stats.drafted_tokens,
                acceptedTokens: stats.accepted_tokens
            ),
            toolCalls: toolCalls
        )
    }

    private func nativeRequest(_ request: GenerationRequest, arena: NativeArena) throws(NodeSpaceError) -> ns_generate_request {
        var native = ns_generate_request()
        try check(ns_generate_request_init(&native, MemoryLayout<ns_generate_request>.size))
        switch request.prompt {
        case .text(let prompt):
            native.prompt = try arena.cString(prompt, "request.prompt")
        case .chat(let messages) where messages.contains(where: { !$0.toolCalls.isEmpty || $0.toolCallId != nil }):
            // Tool calls and tool results' ids travel in transformers' JSON form.
            native.messages_json = try arena.cString("[" + messages.map(\.json).joined(separator: ", ") + "]", "request.messages")
        case .chat(let messages):
            var cMessages: [ns_chat_message] = []
            cMessages.reserveCapacity(messages.count)
            for (i, message) in messages.enumerated() {
                cMessages.append(ns_chat_message(
                    role: try arena.cString(message.role, "request.messages[\(i)].role"),
                    content: try arena.cString(message.content, "request.messages[\(i)].content")
                ))
            }
            native.messages = arena.array(cMessages)
            native.message_count = messages.count
        }
        native.max_new_tokens = try uint32(request.maxNewTokens ?? 0, "request.maxNewTokens")
        switch request.sampling {
        case .modelDefault:
            native.sampling = NS_SAMPLING_MODEL_DEFAULT
        case .greedy:
            native.sampling = NS_SAMPLING_GREEDY
        case .custom(let temperature, let topK, let topP, let minP, let seed):
            native.sampling = NS_SAMPLING_CUSTOM
            native.temperature = temperature
            native.top_k = try uint32(topK, "request.sampling.topK")
            native.top_p = topP
            native.min_p = minP
            native.seed = seed ?? 0
        }
        native.repetition_penalty = request.repetitionPenalty
        native.presence_penalty = request.presencePenalty
        native.frequency_penalty = request.frequencyPenalty
        if let lookupMaxDraft = request.lookupMaxDraft {
            native.lookup_max_draft = try uint32(lookupMaxDraft, "request.lookupMaxDraft")
        }
        if !request.stop.isEmpty {
            var stops: [UnsafePointer<CChar>?] = []
            for (i, stop) in request.stop.enumerated() {
                stops.append(try arena.cString(stop, "request.stop[\(i)]"))
            }
            native.stop = arena.array(stops)
            native.stop_count = stops.count
        }
        switch request.constraint {
        case nil:
            native.constraint_kind = NS_CONSTRAINT_NONE
        case .jsonSchema(let schema):
            native.constraint_kind = NS_CONSTRAINT_JSON_SCHEMA
            native.constraint = try arena.cString(schema, "request.constraint")
        case .regex(let regex):
            native.constraint_kind = NS_CONSTRAINT_REGEX
            native.constraint = try arena.cString(regex, "request.constraint")
        case .grammar(let grammar):
            native.constraint_kind = NS_CONSTRAINT_GRAMMAR
            native.constraint = try arena.cString(grammar, "request.constraint")
        case .choices(let choices):
            native.constraint_kind = NS_CONSTRAINT_CHOICES
            var cChoices: [UnsafePointer<CChar>?] = []
            for (i, choice) in choices.enumerated() {
                cChoices.append(try arena.cString(choice, "request.choices[\(i)]"))
            }
            native.choices = cChoices.isEmpty ? nil : arena.array(cChoices)
            native.choice_count = cChoices.count
        }
        if !request.tools.isEmpty {
            native.tools = try arena.cString("[" + request.tools.map(\.json).joined(separator: ", ") + "]", "request.tools")
        }
        native.tool_choice = request.toolChoice.rawValue
        return native
    }
}

/// The context of one generation's chunk callback: forwards chunks and keeps the text.
/// Used only on the generating thread.
private final class ChunkSink {
    private let onChunk: (String) -> Bool
    private(set) var text = ""
    var toolCalls: [ToolCall] = []

    init(_ onChunk: @escaping (String) -> Bool) {
        self.onChunk = onChunk
    }

    func receive(_ chunk: String) -> Bool {
        text += chunk
        return onChunk(chunk)
    }
}

/// Test hooks (internal): run on the generation's thread before the native call starts and
/// after each chunk was handed on, so tests can order events deterministically.
struct GenerationHooks: Sendable {
    var beforeStart: (@Sendable () -> Void)?
    var afterChunk: (@Sendable (Int) -> Void)?
}
