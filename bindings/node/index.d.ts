// Types of the `nodespace` package (bindings/node). The native library's own documentation
// is include/nodespace.h; each option below names the C field it fills.

/** Execution device. "auto" (default): the platform accelerator when available, else CPU. */
export type Device = 'auto' | 'cpu' | 'coreml' | 'directml' | 'cuda';

/** Options shared by Embedder.load and Generator.load. */
export interface LoadOptions {
  /** The model folder (Hugging Face layout: onnx/model.onnx or model.onnx, tokenizer.json, configs). */
  model: string;
  /** Graph variant: "quantized", "int8", "fp16", "q4", ... selects onnx/model_<variant>.onnx. Default: model.onnx. */
  variant?: string;
  /** Default "auto". See `info.provider` / `info.fallbackReason` for what is really used. */
  device?: Device;
  /** Intra-op threads per ONNX Runtime session; default: the number of physical cores. */
  threads?: number;
  /**
   * Calls that may run at the same time, each on its own session; default 2. Further calls
   * wait inside the library; a generation cancelled while it waits (signal, break, cancel(),
   * close()) stops waiting at once.
   */
  maxSessions?: number;
  /**
   * Path of libnodespace itself. Default search: this option, then $NODESPACE_LIBRARY, then
   * the platform package @nodespace/<platform>-<arch>, then the system loader. One library per
   * process: a different path after the first load throws ERR_NODESPACE_LIBRARY_MISMATCH.
   */
  library?: string;
  /**
   * Path of the ONNX Runtime shared library (ns_runtime_init). Default: the library's own search
   * (NS_ONNXRUNTIME_PATH, ORT_DYLIB_PATH, beside libnodespace, the executable's folder, the system loader).
   * A path that does not load rejects with NS_ERR_RUNTIME_NOT_FOUND (with the loader's reason) and
   * changes nothing: a later call may give another path or none (the search as usual).
   */
  onnxRuntime?: string;
}

export type Pooling = 'default' | 'mean' | 'cls' | 'last_token' | 'max';

export interface EmbedderOptions extends LoadOptions {
  /** Default: as the model folder says (1_Pooling/config.json; mean when absent). */
  pooling?: Pooling;
  /** L2-normalize vectors (default true). */
  normalize?: boolean;
  /** Truncate texts to this many tokens; default: the model's maximum. */
  maxLength?: number;
  /**
   * A text longer than the maximum length (info.maxLength, prompt and special tokens
   * included) rejects with NS_ERR_CONTEXT_OVERFLOW naming the text and its token count,
   * instead of being truncated (default false). C: fail_on_truncation.
   */
  failOnTruncation?: boolean;
  /**
   * Keep only the first N dimensions (Matryoshka models), renormalized; default: all. A model
   * that lists the sizes it was trained for accepts only those (else NS_ERR_INVALID_ARGUMENT
   * naming them) and gets its documented procedure (nomic-embed-text: a layer norm first).
   */
  outputDimension?: number;
  /**
   * Prompt name from config_sentence_transformers.json ("query", "passage", ...) prepended
   * to every text; embed(texts, { promptName }) chooses another one for a single call.
   */
  promptName?: string;
  /** A batch is cut when rows x longest row would pass this many tokens; default 512. */
  batchTokenBudget?: number;
  /** At most this many texts per batch; default 64. */
  maxBatchSize?: number;
}

export interface EmbedderInfo {
  dimension: number;
  maxLength: number;
  /** "in_graph" when the graph pools itself (a sentence_embedding output). */
  pooling: Pooling | 'in_graph';
  normalize: boolean;
  /** The ONNX file in use. */
  modelFile: string;
  /** The execution provider really used, e.g. "CPUExecutionProvider". */
  provider: string;
  /** Why the requested device is not the one used, or null. */
  fallbackReason: string | null;
}

/** Text input: a string (sent as UTF-8) or raw UTF-8 bytes. */
export type TextInput = string | Uint8Array;

export interface EmbedOptions {
  /**
   * The model's prompt for this call ("query" for a search, "document" for the notes it
   * searches: one loaded model serves both) instead of the embedder's own. A name the model
   * does not define rejects with NS_ERR_INVALID_ARGUMENT listing the ones it does.
   * C: ns_embed_batch_with_prompt.
   */
  promptName?: string;
}

export declare class Embedder {
  private constructor();
  /** Load a model folder off the main thread. */
  static load(options: EmbedderOptions): Promise<Embedder>;
  /** Floats per vector. */
  readonly dimension: number;
  readonly info: EmbedderInfo;
  readonly closed: boolean;
  /** A single text: its Float32Array. */
  embed(text: TextInput, options?: EmbedOptions): Promise<Float32Array>;
  /** One Float32Array per text, in input order. An empty array rejects with NS_ERR_INVALID_ARGUMENT. */
  embed(texts: Iterable<TextInput>, options?: EmbedOptions): Promise<Float32Array[]>;
  embedOne(text: TextInput, options?: EmbedOptions): Promise<Float32Array>;
  /** Free the model (idempotent); waits for running embed() calls. Later calls throw ERR_NODESPACE_CLOSED. */
  close(): Promise<void>;
}

export interface GeneratorOptions extends LoadOptions {
  /** Keep the last generation's KV cache and reuse it for a prompt with the same start (default true). */
  reusePrefix?: boolean;
}

export interface GeneratorInfo {
  /** Tokens the model can attend to (prompt + generated). */
  contextLength: number;
  layers: number;
  kvHeads: number;
  headDim: number;
  /** true when messages can be used (the model has a chat template). */
  hasChatTemplate: boolean;
  modelFile: string;
  provider: string;
  fallbackReason: string | null;
  /**
   * Tool calls: 'parsed' (the chat template renders tools and the calls are parsed; toolChoice
   * 'required' / 'one' work), 'rendered' (tools rendered, calls left in the text), 'none'.
   */
  tools: 'none' | 'rendered' | 'parsed';
  /**
   * Why prompt lookup makes no drafts on this graph (it returns the last position's logits
   * only, or quantizes activations per pass: dynamic int8), or null where it is on and
   * cannot change the output.
   */
  lookupOffReason: string | null;
}

export interface ChatMessage {
  /** "system", "user", "assistant", "tool" (whatever the model's template accepts). */
  role: string;
  /** May be null in an assistant turn that made tool calls. */
  content: string | null;
  /** The calls an assistant turn made ({ name, arguments } or OpenAI's { id, type, function }). */
  toolCalls?: Array<ToolCall | { id?: string; type?: 'function'; function: ToolCall }>;
  /** A tool result's call id (for templates that print it). */
  toolCallId?: string;
  /** Other keys are passed to the chat template as given. */
  [key: string]: unknown;
}

/** A function the model may call, as transformers' apply_chat_template(tools=...) takes it. */
export interface ToolDefinition {
  type: 'function';
  function: { name: string; description?: string; parameters?: object };
}

/** A call the model made: the tool's name and its arguments (parsed JSON). */
export interface ToolCall {
  name: string;
  arguments: any;
}

/** A raw prompt (tokenized as is) or chat messages (rendered with the model's chat template). */
export type Prompt = string | ChatMessage[];

export interface GenerateOptions {
  /** Most tokens to generate; default: generation_config.json's max_new_tokens, else 256. */
  maxNewTokens?: number;
  /**
   * "default": as generation_config.json says (greedy unless it sets do_sample);
   * "greedy": always the most likely token; "custom": temperature / topK / topP / minP / seed.
   * Default: "custom" when any of those is given, "greedy" with `greedy: true`, else "default".
   */
  sampling?: 'default' | 'greedy' | 'custom';
  /** Shorthand for sampling: "greedy". */
  greedy?: boolean;
  /** Custom sampling (0 = greedy; default 1). */
  temperature?: number;
  /** 0 = off. */
  topK?: number;
  /** 1 = off. */
  topP?: number;
  /** 0 = off. */
  minP?: number;
  /** Any sampling mode. 1 = off (Hugging Face semantics). */
  repetitionPenalty?: number;
  /** 0 = off (OpenAI semantics). */
  presencePenalty?: number;
  /** 0 = off (OpenAI semantics). */
  frequencyPenalty?: number;
  /** Seed for custom sampling; 0 or absent: a fresh seed. Same seed, same text. */
  seed?: number | bigint;
  /**
   * Generation ends before the first stop string; it is never emitted. An empty string rejects
   * with NS_ERR_INVALID_ARGUMENT ("stop string N is empty").
   */
  stop?: string | string[];
  /**
   * Prompt-lookup speculative decoding: the most tokens drafted per step from the prompt and
   * the output, verified in one forward pass (default 8, at most 64; 0 turns it off). Greedy
   * output is token for token the same either way, on fp32 and 4-bit q4 graphs alike (graphs
   * with per-pass dynamic int8 activations keep it off); sampled output keeps its distribution;
   * only speed changes (summaries and rewrites copy a lot of their note).
   */
  lookupMaxDraft?: number;
  /**
   * Structured output (give at most one of jsonSchema, regex, grammar, choices): the text can
   * only be what the constraint accepts, and generation ends when it is complete (stopReason
   * 'eos'; 'max_tokens' leaves an incomplete prefix). A malformed or unsatisfiable constraint
   * rejects with NS_ERR_INVALID_ARGUMENT, naming the error and its position.
   * jsonSchema: a JSON Schema object or its JSON text; the text is one JSON value that
   * validates (llguidance's supported subset; its "x-guidance" key sets e.g.
   * whitespace_flexible).
   */
  jsonSchema?: object | string;
  /** A regular expression (Rust regex syntax) the whole text matches. */
  regex?: string;
  /** A Lark grammar (llguidance's dialect, rule `start` first). */
  grammar?: string;
  /** The text is exactly one of these non-empty strings. */
  choices?: string[];
  /**
   * Parse the text as JSON into the result's `json` (with jsonSchema: the validated value).
   * Text that does not parse (e.g. stopReason 'max_tokens') rejects with a NodespaceError
   * ERR_NODESPACE_NOT_JSON carrying `text` and `stats`.
   */
  json?: boolean;
  /**
   * Functions the model may call (definitions, or their JSON text), rendered by its chat
   * template; needs chat messages. A model whose template does not render tools rejects with
   * NS_ERR_UNSUPPORTED. The calls it writes (Qwen2.5/Hermes `<tool_call>` form, or bare call
   * JSON naming an offered tool) come back in the result's `toolCalls`; the text keeps them.
   */
  tools?: ToolDefinition[] | string;
  /**
   * "auto" (default): the model answers or calls, as it decides (calls parsed, not
   * constrained). "required": one or more calls; "one": exactly one call — both constrained,
   * so that every call parses and its arguments validate against its tool's parameters.
   */
  toolChoice?: 'auto' | 'required' | 'one';
  /**
   * Cancels the generation: generate() / the stream reject with an AbortError, promptly, also
   * while the generation still waits for a session (maxSessions busy).
   */
  signal?: AbortSignal;
}

export type StopReason = 'eos' | 'max_tokens' | 'stop_string' | 'context_full' | 'cancelled';

export interface GenerationStats {
  /** null when the generation failed before it started. */
  stopReason: StopReason | null;
  promptTokens: number;
  /** Prompt tokens whose KV cache was reused from the previous generation. */
  reusedPromptTokens: number;
  generatedTokens: number;
  timeToFirstTokenMs: number;
  prefillTokensPerS: number;
  /** Generated tokens after the first, per second. */
  decodeTokensPerS: number;
  totalMs: number;
  /** Tokens drafted by prompt lookup, and how many the model's own choice confirmed. */
  draftedTokens: number;
  acceptedTokens: number;
}

export interface GenerationResult {
  text: string;
  stats: GenerationStats;
  /** The tool calls parsed from the text (empty without `tools`). */
  toolCalls: ToolCall[];
  /** With `json: true`: the text parsed as JSON. */
  json?: any;
}

/**
 * Returned by Generator.stream(): an async iterable of text chunks (whole characters, as the
 * model produces them). Leaving a `for await` loop early cancels the generation.
 */
export declare class GenerationStream implements AsyncIterableIterator<string> {
  private constructor();
  /** Settles when the native call has returned: { text, stats, toolCalls }, or rejects like generate(). */
  readonly result: Promise<GenerationResult>;
  /** Cancel the generation; the loop then throws an AbortError. */
  cancel(): void;
  next(): Promise<IteratorResult<string, undefined>>;
  return(): Promise<IteratorResult<string, undefined>>;
  [Symbol.asyncIterator](): GenerationStream;
}

export declare class Generator {
  private constructor();
  static load(options: GeneratorOptions): Promise<Generator>;
  readonly info: GeneratorInfo;
  readonly closed: boolean;
  stream(prompt: Prompt, options?: GenerateOptions): GenerationStream;
  generate(prompt: Prompt, options?: GenerateOptions & { onChunk?: (text: string) => void }): Promise<GenerationResult>;
  /** Cancel running generations, wait for them, free the model (idempotent). */
  close(): Promise<void>;
}

/**
 * Every error raised on purpose. `code`: the library status name ("NS_ERR_MODEL_NOT_FOUND", ...)
 * or a binding code ("ERR_NODESPACE_LIBRARY_NOT_FOUND", "ERR_NODESPACE_LIBRARY_MISMATCH",
 * "ERR_NODESPACE_CLOSED"). `status`: the numeric ns_status, undefined for binding codes.
 */
export declare class NodespaceError extends Error {
  readonly code: string;
  readonly status: number | undefined;
}

/** A cancelled generation: name "AbortError", code "NS_ERR_CANCELLED"; cause: the signal's reason. */
export declare class AbortError extends NodespaceError {
  readonly name: 'AbortError';
  readonly code: 'NS_ERR_CANCELLED';
  /** Text generated before the cancellation. */
  readonly text: string;
  readonly stats: GenerationStats | null;
}

export interface LibraryInfo {
  /** Path (or bare name, for the system loader) the library was loaded from. */
  library: string;
  /** 'option "library"' | 'NODESPACE_LIBRARY' | 'platform package' | 'system loader'. */
  source: string;
  version: string;
  abiVersion: number;
}

/**
 * Load the native library now (optional) and, with `onnxRuntime`, ONNX Runtime from that path.
 * A failed ONNX Runtime load (NS_ERR_RUNTIME_NOT_FOUND) changes nothing: init may be called again,
 * and a model load without the option searches as usual.
 */
export declare function init(options?: { library?: string; onnxRuntime?: string }): Promise<LibraryInfo>;
/** The nodespace library version, e.g. "0.1.0" (loads the library if needed). */
export declare function version(): string;
/** The loaded ONNX Runtime's version, e.g. "1.31.1" (loads it if needed). */
export declare function onnxRuntimeVersion(): Promise<string>;
/** Where the native library is looked for, in order. */
export declare function librarySearchPath(library?: string): { source: string; path: string }[];
