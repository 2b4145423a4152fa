import CNodeSpace

/// Where a model runs (`NS_DEVICE_*`). `.auto` picks the platform accelerator when the
/// library and ONNX Runtime have it and falls back to CPU; the model's `info` says which
/// provider really runs and why it fell back.
public enum Device: Int32, Sendable, CaseIterable {
    case auto = 0 // NS_DEVICE_AUTO
    case cpu = 1
    case coreML = 2
    case directML = 3
    case cuda = 4
}

/// How token vectors become one text vector (`NS_POOLING_*`).
public enum Pooling: Int32, Sendable, CaseIterable {
    case mean = 1
    case cls = 2
    case lastToken = 3
    case max = 4
    /// Only reported by `EmbedderInfo`: the graph pools itself (a `sentence_embedding` output).
    case inGraph = 5
}

/// How to load an embedding model (`ns_embedder_options`). `nil` / `0` fields mean "as the
/// model folder says" or the library's default.
public struct EmbedderOptions: Sendable, Equatable {
    /// The model folder (Hugging Face layout: onnx/model.onnx or model.onnx, tokenizer.json, configs).
    public var modelPath: String
    /// Graph variant ("quantized", "int8", "fp16", ...: `model_<variant>.onnx`); nil for model.onnx.
    public var variant: String?
    public var device: Device
    /// Intra-op threads per session; 0: the number of physical cores.
    public var intraThreads: Int
    /// Calls that may run at once (one ONNX Runtime session each); 0: the library's default (2).
    public var maxSessions: Int
    /// nil: as the folder's 1_Pooling/config.json says (mean when absent).
    public var pooling: Pooling?
    /// L2-normalize vectors.
    public var normalize: Bool
    /// Truncate texts to this many tokens; 0: the model's maximum.
    public var maxLength: Int
    /// A text longer than the maximum length (`info.maxLength`, prompt and special tokens
    /// included) throws `.contextOverflow` naming the text and its token count, instead of
    /// being truncated.
    public var failOnTruncation: Bool
    /// Keep only the first N dimensions (Matryoshka models), renormalized; 0: all. A model that
    /// lists the sizes it was trained for accepts only those (else `.invalidArgument` naming
    /// them) and gets its documented procedure (nomic-embed-text: a layer norm first).
    public var outputDimension: Int
    /// Prompt from config_sentence_transformers.json ("query", "passage", ...); nil: the model's default.
    /// `embed(_:promptName:)` chooses another one for a single call.
    public var promptName: String?
    /// A batch is cut when rows x longest row would pass this many tokens; 0: 512.
    public var batchTokenBudget: Int
    /// At most this many texts per batch; 0: 64.
    public var maxBatchSize: Int

    public init(modelPath: String, variant: String? = nil, device: Device = .auto) {
        self.modelPath = modelPath
        self.variant = variant
        self.device = device
        intraThreads = 0
        maxSessions = 0
        pooling = nil
        normalize = true
        maxLength = 0
        failOnTruncation = false
        outputDimension = 0
        promptName = nil
        batchTokenBudget = 0
        maxBatchSize = 0
    }
}

/// What an embedder detected and runs with (`ns_embedder_info`).
public struct EmbedderInfo: Sendable, Equatable {
    /// Floats per vector.
    public var dimension: Int
    /// Texts are truncated to this many tokens.
    public var maxLength: Int
    public var pooling: Pooling?
    public var normalize: Bool
    /// The ONNX file in use.
    public var modelFile: String
    /// The execution provider really used, e.g. "CPUExecutionProvider".
    public var provider: String
    /// Why the requested device is not the one used, or nil.
    public var fallbackReason: String?
}

/// How to load a generation model (`ns_generator_options`).
public struct GeneratorOptions: Sendable, Equatable {
    /// The model folder (onnx/model.onnx or model.onnx with past key values, tokenizer.json,
    /// config.json, tokenizer_config.json, generation_config.json; or a folder from
    /// onnxruntime-genai's model builder, with genai_config.json).
    public var modelPath: String
    /// Graph variant ("q4", "fp16", ...: `model_<variant>.onnx`); nil for model.onnx.
    public var variant: String?
    public var device: Device
    /// Intra-op threads per session; 0: the number of physical cores.
    public var intraThreads: Int
    /// Generations that may run at once (one session and KV cache each); 0: 2. Further calls wait.
    public var maxSessions: Int
    /// Keep the last generation's KV cache and reuse it when the next prompt starts with the
    /// same tokens (a chat's follow-up turn).
    public var reusePrefix: Bool

    public init(modelPath: String, variant: String? = nil, device: Device = .auto) {
        self.modelPath = modelPath
        self.variant = variant
        self.device = device
        intraThreads = 0
        maxSessions = 0
        reusePrefix = true
    }
}

/// What a generator detected (`ns_generator_info`).
public struct GeneratorInfo: Sendable, Equatable {
    /// Tokens the model can attend to (prompt + generated).
    public var contextLength: Int
    public var layers: Int
    public var kvHeads: Int
    public var headDim: Int
    /// The model has a chat template: requests may use `messages`.
    public var hasChatTemplate: Bool
    public var modelFile: String
    public var provider: String
    public var fallbackReason: String?
    /// Whether the chat template renders tools, and whether the calls are parsed.
    public var tools: ToolSupport = .none
    /// Why prompt lookup makes no drafts on this graph (it returns the last position's logits
    /// only, or quantizes activations per pass: dynamic int8), or nil where it is on and
    /// cannot change the output.
    public var lookupOffReason: String? = nil
}

/// One chat message.
public struct ChatMessage: Sendable, Equatable, Hashable {
    /// "system", "user", "assistant" or "tool" (whatever the model's template accepts).
    public var role: String
    public var content: String
    /// The calls an assistant turn made (rendered as transformers renders `tool_calls`).
    public var toolCalls: [ToolCall]
    /// A tool result's call id (for templates that print it).
    public var toolCallId: String?

    public init(role: String, content: String, toolCalls: [ToolCall] = [], toolCallId: String? = nil) {
        self.role = role
        self.content = content
        self.toolCalls = toolCalls
        self.toolCallId = toolCallId
    }

    public static func system(_ content: String) -> ChatMessage { ChatMessage(role: "system", content: content) }
    public static func user(_ content: String) -> ChatMessage { ChatMessage(role: "user", content: content) }
    public static func assistant(_ content: String) -> ChatMessage { ChatMessage(role: "assistant", content: content) }
    /// An assistant turn that called tools (e.g. a result's `toolCalls`).
    public static func assistant(toolCalls: [ToolCall], content: String = "") -> ChatMessage {
        ChatMessage(role: "assistant", content: content, toolCalls: toolCalls)
    }
    /// A tool's result, for the turn after the call.
    public static func tool(_ content: String, callId: String? = nil) -> ChatMessage {
        ChatMessage(role: "tool", content: content, toolCallId: callId)
    }
}

/// What to generate from.
public enum Prompt: Sendable, Equatable {
    /// A raw prompt, tokenized as is.
    case text(String)
    /// Chat messages, rendered with the model's chat template (an assistant turn is opened).
    case chat([ChatMessage])
}

/// How the next token is picked (`NS_SAMPLING_*`).
public enum Sampling: Sendable, Equatable {
    /// As the model's generation_config.json says (greedy unless it sets do_sample). The
    /// request's penalties are not applied in this mode.
    case modelDefault
    /// Always the most likely token (reproducible).
    case greedy
    /// temperature 0 = greedy; topK 0 = off; topP 1 = off; minP 0 = off. Same seed, same
    /// text; a nil seed is a fresh one each call.
    case custom(temperature: Float, topK: Int = 0, topP: Float = 1, minP: Float = 0, seed: UInt64? = nil)
}

/// Structured output (`NS_CONSTRAINT_*`): the text can only be what the constraint accepts,
/// and generation ends when it is complete (`.endOfSequence`; `.maxTokens` leaves an
/// incomplete prefix). A malformed or unsatisfiable constraint throws `invalidArgument`
/// naming the error and its position.
public enum Constraint: Sendable, Equatable {
    /// A JSON Schema as JSON text: the text is one JSON value that validates (llguidance's
    /// subset; its "x-guidance" key sets e.g. whitespace_flexible).
    case jsonSchema(String)
    /// A regular expression (Rust regex syntax) the whole text matches.
    case regex(String)
    /// A Lark grammar (llguidance's dialect, rule `start` first).
    case grammar(String)
    /// The text is exactly one of these non-empty strings.
    case choices([String])
}

/// A generation request (`ns_generate_request`).
public struct GenerationRequest: Sendable, Equatable {
    public var prompt: Prompt
    /// Most tokens to generate; nil (or 0): generation_config.json's max_new_tokens, else 256.
    public var maxNewTokens: Int?
    public var sampling: Sampling
    /// Hugging Face repetition penalty (1 = off).
    public var repetitionPenalty: Float
    /// OpenAI presence penalty (0 = off).
    public var presencePenalty: Float
    /// OpenAI frequency penalty (0 = off).
    public var frequencyPenalty: Float
    /// Generation ends before the first of these strings; it is never emitted.
    public var stop: [String]
    /// Prompt-lookup speculative decoding: the most tokens drafted per step from the prompt
    /// and the output and verified in one forward pass; nil: the library's default (8), 0:
    /// off, at most 64. Greedy text is the same either way, on fp32 and 4-bit q4 graphs alike
    /// (graphs with per-pass dynamic int8 activations keep it off), sampled text keeps its
    /// distribution; summaries and rewrites of a note come faster.
    public var lookupMaxDraft: Int?
    /// Structured output; nil: free text.
    public var constraint: Constraint?
    /// Functions the model may call, rendered by its chat template (needs `messages`; a model
    /// whose template does not render tools throws `unsupported`). The calls it writes
    /// (Qwen2.5/Hermes `<tool_call>` form, or bare call JSON naming an offered tool) come
    /// back in the result's `toolCalls`; the text keeps them.
    public var tools: [ToolDefinition]
    /// `.auto`: the model decides; `.required` / `.one`: the answer is valid calls (constrained).
    public var toolChoice: ToolChoice

    public init(prompt: Prompt, maxNewTokens: Int? = nil, sampling: Sampling = .modelDefault, stop: [String] = []) {
        self.prompt = prompt
        self.maxNewTokens = maxNewTokens
        self.sampling = sampling
        repetitionPenalty = 1
        presencePenalty = 0
        frequencyPenalty = 0
        self.stop = stop
        lookupMaxDraft = nil
        constraint = nil
        tools = []
        toolChoice = .auto
    }

    /// A raw-text prompt.
    public init(prompt: String, maxNewTokens: Int? = nil, sampling: Sampling = .modelDefault, stop: [String] = []) {
        self.init(prompt: .text(prompt), maxNewTokens: maxNewTokens, sampling: sampling, stop: stop)
    }

    /// A chat (needs a model with a chat template).
    public init(messages: [ChatMessage], maxNewTokens: Int? = nil, sampling: Sampling = .modelDefault, stop: [String] = []) {
        self.init(prompt: .chat(messages), maxNewTokens: maxNewTokens, sampling: sampling, stop: stop)
    }
}

/// Why a generation ended (`NS_STOP_*`).
public enum StopReason: Int32, Sendable, CaseIterable {
    /// The model produced an end-of-sequence token, or the text completed the request's
    /// constraint (nothing but end of sequence could follow).
    case endOfSequence = 1
    /// maxNewTokens were generated.
    case maxTokens = 2
    /// A stop string was produced (and not emitted).
    case stopString = 3
    /// The model's context window is full.
    case contextFull = 4
    /// Cancelled (the stream was terminated or the task cancelled).
    case cancelled = 5
}

/// Counts and timings of a generation (`ns_generation_stats`).
public struct GenerationStats: Sendable, Equatable {
    public var promptTokens: Int
    /// Prompt tokens whose KV cache was reused from the previous generation.
    public var reusedPromptTokens: Int
    public var generatedTokens: Int
    /// From the call to the first generated token.
    public var timeToFirstTokenMs: Double
    public var prefillTokensPerSecond: Double
    /// Generated tokens after the first, per second.
    public var decodeTokensPerSecond: Double
    public var totalMs: Double
    /// Tokens drafted by prompt lookup, and how many the model's own choice confirmed.
    public var draftedTokens: Int
    public var acceptedTokens: Int
}

/// A finished generation: the text (all chunks, concatenated) and why it ended.
public struct GenerationResult: Sendable, Equatable {
    public var text: String
    public var stopReason: StopReason
    public var stats: GenerationStats
    /// The tool calls parsed from the text (empty without `tools`).
    public var toolCalls: [ToolCall] = []
}
