//! C ABI: text generation and cancellation.

use std::ffi::{c_char, c_void};
use std::mem::{offset_of, size_of};

use super::embed::{cstring, NS_DEVICE_AUTO};
use super::*;
use crate::generate::{
    parse_messages, parse_tools, CancelHandle, ChatMessage, Constraint, Flow, GenerateRequest,
    Generator, GeneratorOptions, LookupOptions, Prompt, SamplingOptions, StopReason, ToolChoice,
};

/// How to load a generation model. Initialize with ns_generator_options_init.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct ns_generator_options {
    /// sizeof(ns_generator_options), set by ns_generator_options_init.
    pub struct_size: u32,
    /// UTF-8 path of the model folder (onnx/model.onnx or model.onnx with past key values,
    /// tokenizer.json, config.json, tokenizer_config.json, generation_config.json; or a
    /// folder from onnxruntime-genai's model builder, with genai_config.json).
    /// Required. Copied during the call.
    pub model_path: *const c_char,
    /// Graph variant ("q4", "fp16", ...: model_<variant>.onnx), or NULL for model.onnx.
    pub variant: *const c_char,
    /// NS_DEVICE_*.
    pub device: i32,
    /// Intra-op threads per session; 0: the number of physical cores.
    pub intra_threads: u32,
    /// Generations that may run at the same time (one session and KV cache each, created
    /// on demand); 0: 2. Further calls wait for a free session; a cancel (ns_cancel_token)
    /// ends such a wait at once with NS_ERR_CANCELLED.
    pub max_sessions: u32,
    /// Non-zero (default 1): keep the last generation's KV cache and reuse it when the next
    /// prompt starts with the same tokens (a chat's follow-up turn).
    pub reuse_prefix: i32,
}

const GENERATOR_OPTIONS_V1: usize =
    offset_of!(ns_generator_options, reuse_prefix) + size_of::<i32>();

impl Default for ns_generator_options {
    fn default() -> Self {
        Self {
            struct_size: size_of::<Self>() as u32,
            model_path: std::ptr::null(),
            variant: std::ptr::null(),
            device: NS_DEVICE_AUTO,
            intra_threads: 0,
            max_sessions: 0,
            reuse_prefix: 1,
        }
    }
}

/// One chat message; both strings UTF-8 and NUL-terminated.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct ns_chat_message {
    /// "system", "user" or "assistant" (whatever the model's template accepts).
    pub role: *const c_char,
    pub content: *const c_char,
}

/// Sampling as the model's generation_config.json says (greedy unless it sets do_sample).
pub const NS_SAMPLING_MODEL_DEFAULT: i32 = 0;
/// Always pick the most likely token (reproducible).
pub const NS_SAMPLING_GREEDY: i32 = 1;
/// Use the request's temperature / top_k / top_p / min_p / seed.
pub const NS_SAMPLING_CUSTOM: i32 = 2;

/// Return this from an ns_chunk_callback to go on.
pub const NS_CONTINUE: i32 = 0;
/// Return this (or any non-zero value) from an ns_chunk_callback to stop the generation.
#[allow(dead_code)] // For C callers; the library treats any non-zero value as stop.
pub const NS_STOP: i32 = 1;

/// Receives generated text. `utf8` holds `len` bytes of whole UTF-8 characters, followed by
/// a NUL; it is valid only during the call. Runs on the thread that called
/// ns_generate_stream, never after it returns. Return NS_CONTINUE or NS_STOP.
pub type ns_chunk_callback =
    Option<unsafe extern "C" fn(utf8: *const c_char, len: usize, user_data: *mut c_void) -> i32>;

/// Receives one tool call the model made: its index (0, 1, ...), the tool's name and its
/// arguments as JSON text (an object), both UTF-8 and NUL-terminated and valid only during
/// the call. Called once per call, in order, after the generation ended and before
/// ns_generate_stream returns, on the calling thread, with ns_generate_stream's
/// `user_data`.
pub type ns_tool_call_callback = Option<
    unsafe extern "C" fn(
        index: usize,
        name: *const c_char,
        arguments_json: *const c_char,
        user_data: *mut c_void,
    ),
>;

/// A generation request. Initialize with ns_generate_request_init; give either `prompt`
/// or `messages`.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct ns_generate_request {
    /// sizeof(ns_generate_request), set by ns_generate_request_init.
    pub struct_size: u32,
    /// A raw prompt (UTF-8, NUL-terminated), tokenized as is; NULL when `messages` is used.
    pub prompt: *const c_char,
    /// Chat messages, rendered with the model's chat template (an assistant turn is opened).
    pub messages: *const ns_chat_message,
    pub message_count: usize,
    /// Most tokens to generate; 0: generation_config.json's max_new_tokens, else 256.
    pub max_new_tokens: u32,
    /// NS_SAMPLING_*.
    pub sampling: i32,
    /// With NS_SAMPLING_CUSTOM: temperature (0 = greedy), top_k (0 = off), top_p (1 = off),
    /// min_p (0 = off).
    pub temperature: f32,
    pub top_k: u32,
    pub top_p: f32,
    pub min_p: f32,
    /// Penalties (any sampling mode): repetition (1 = off; Hugging Face semantics),
    /// presence and frequency (0 = off; OpenAI semantics).
    pub repetition_penalty: f32,
    pub presence_penalty: f32,
    pub frequency_penalty: f32,
    /// Random seed for NS_SAMPLING_CUSTOM; 0: a fresh seed each call. Same seed, same text.
    pub seed: u64,
    /// Stop strings (UTF-8): generation ends before the first one; it is never emitted.
    /// An empty string is NS_ERR_INVALID_ARGUMENT (it would match everywhere).
    pub stop: *const *const c_char,
    pub stop_count: usize,
    /// Optional cancel token (see ns_cancel_token_new); NULL for none.
    pub cancel: *const ns_cancel_token,
    /// Optional, added after the first release (callers built against that header leave
    /// it out and keep working): a buffer of `token_ids_capacity` entries that receives the
    /// generated token ids, in order (the first min(capacity, generated tokens)). NULL for
    /// none.
    pub token_ids_out: *mut u32,
    pub token_ids_capacity: usize,
    /// Optional, added in the second release (older callers get the default): prompt-lookup
    /// speculative decoding, the most tokens drafted per step (0 = off; ns_generate_request_init
    /// sets 8; at most 64). Drafts copied from the prompt and the output are verified in one
    /// forward pass: greedy output is token for token the same as with 0, on fp32 and
    /// 4-bit (variant q4) graphs alike. Sampled output keeps its distribution. Summaries and
    /// rewrites copy a lot: they come faster. Graphs that return the last position's logits
    /// only, and graphs that quantize activations with one scale per pass (dynamic int8),
    /// run without drafts.
    pub lookup_max_draft: u32,
    /// Optional, added in the third release (older callers get none): structured output,
    /// NS_CONSTRAINT_*. Generation can then only write text the constraint accepts, and
    /// ends when that text is complete (stats: NS_STOP_EOS; NS_STOP_MAX_TOKENS leaves an
    /// incomplete prefix). A malformed or unsatisfiable constraint is
    /// NS_ERR_INVALID_ARGUMENT, its message naming the error and its position.
    pub constraint_kind: i32,
    /// UTF-8: the JSON Schema (JSON text), the regular expression (Rust regex syntax; the
    /// whole output matches it) or the Lark grammar (llguidance's dialect); NULL with
    /// NS_CONSTRAINT_NONE and NS_CONSTRAINT_CHOICES. Copied during the call.
    pub constraint: *const c_char,
    /// With NS_CONSTRAINT_CHOICES: the output is exactly one of these `choice_count`
    /// non-empty UTF-8 strings.
    pub choices: *const *const c_char,
    pub choice_count: usize,
    /// Optional, added in the fourth release (older callers get none): functions the model
    /// may call, a JSON array of definitions as transformers' apply_chat_template(tools=...)
    /// takes them (`{"type": "function", "function": {"name", "description",
    /// "parameters"}}`), rendered by the model's chat template; needs `messages` or
    /// `messages_json`. NULL for none. A model whose template does not render tools is
    /// NS_ERR_UNSUPPORTED. The calls the model writes (Qwen2.5/Hermes `<tool_call>` form)
    /// go to `on_tool_call`; their count to stats->tool_calls. The text keeps them.
    pub tools: *const c_char,
    /// NS_TOOL_CHOICE_*: whether the model decides (AUTO) or must answer with calls
    /// (REQUIRED, ONE: constrained, so that every call parses and its arguments validate
    /// against its tool's parameter schema; not combinable with `constraint_kind`).
    pub tool_choice: i32,
    /// The chat as a JSON array of messages in transformers' (and OpenAI's) form: `role`,
    /// `content`, an assistant turn's `tool_calls`, a tool result's `role: "tool"`, and any
    /// other keys the template reads (`tool_call_id`, `name`). Give it instead of `prompt`
    /// and `messages`; NULL when one of those is used.
    pub messages_json: *const c_char,
    /// Receives the parsed tool calls (see ns_tool_call_callback); NULL to count them only.
    pub on_tool_call: ns_tool_call_callback,
}

/// The model answers in text or calls tools, as it decides (calls parsed, not constrained).
pub const NS_TOOL_CHOICE_AUTO: i32 = 0;
/// The answer is one or more tool calls, constrained to the tools and their schemas.
pub const NS_TOOL_CHOICE_REQUIRED: i32 = 1;
/// The answer is exactly one tool call, constrained to the tools and their schemas.
pub const NS_TOOL_CHOICE_ONE: i32 = 2;

/// No constraint: free text.
pub const NS_CONSTRAINT_NONE: i32 = 0;
/// `constraint` is a JSON Schema: the output is one JSON value that validates (the subset
/// llguidance supports; its `x-guidance` key sets e.g. `whitespace_flexible`).
pub const NS_CONSTRAINT_JSON_SCHEMA: i32 = 1;
/// `constraint` is a regular expression the whole output matches.
pub const NS_CONSTRAINT_REGEX: i32 = 2;
/// `constraint` is a Lark grammar (rule `start` first).
pub const NS_CONSTRAINT_GRAMMAR: i32 = 3;
/// The output is exactly one of `choices`.
pub const NS_CONSTRAINT_CHOICES: i32 = 4;

/// The first released layout ended after `cancel`: callers built against it keep working.
const GENERATE_REQUEST_V1: usize =
    offset_of!(ns_generate_request, cancel) + size_of::<*const ns_cancel_token>();

impl Default for ns_generate_request {
    fn default() -> Self {
        Self {
            struct_size: size_of::<Self>() as u32,
            prompt: std::ptr::null(),
            messages: std::ptr::null(),
            message_count: 0,
            max_new_tokens: 0,
            sampling: NS_SAMPLING_MODEL_DEFAULT,
            temperature: 1.0,
            top_k: 0,
            top_p: 1.0,
            min_p: 0.0,
            repetition_penalty: 1.0,
            presence_penalty: 0.0,
            frequency_penalty: 0.0,
            seed: 0,
            stop: std::ptr::null(),
            stop_count: 0,
            cancel: std::ptr::null(),
            token_ids_out: std::ptr::null_mut(),
            token_ids_capacity: 0,
            lookup_max_draft: LookupOptions::default().max_draft as u32,
            constraint_kind: NS_CONSTRAINT_NONE,
            constraint: std::ptr::null(),
            choices: std::ptr::null(),
            choice_count: 0,
            tools: std::ptr::null(),
            tool_choice: NS_TOOL_CHOICE_AUTO,
            messages_json: std::ptr::null(),
            on_tool_call: None,
        }
    }
}

/// The model produced an end-of-sequence token, or the text completed the request's
/// constraint (nothing but end of sequence could follow).
pub const NS_STOP_EOS: i32 = 1;
/// max_new_tokens were generated.
pub const NS_STOP_MAX_TOKENS: i32 = 2;
/// A stop string was produced (and not emitted).
pub const NS_STOP_STOP_STRING: i32 = 3;
/// The model's context window is full.
pub const NS_STOP_CONTEXT_FULL: i32 = 4;
/// Cancelled by the callback or a cancel token.
pub const NS_STOP_CANCELLED: i32 = 5;

/// Counts and timings of a generation. Set `struct_size` to sizeof(ns_generation_stats)
/// before the call; on return it holds the bytes the library filled (a caller built
/// against a newer header gets the fields this library knows, the rest zeroed).
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct ns_generation_stats {
    pub struct_size: u32,
    /// NS_STOP_*; 0 when the generation failed before starting.
    pub stop_reason: i32,
    pub prompt_tokens: usize,
    /// Prompt tokens whose KV cache was reused from the previous generation.
    pub reused_prompt_tokens: usize,
    pub generated_tokens: usize,
    /// From the call to the first generated token.
    pub time_to_first_token_ms: f64,
    pub prefill_tokens_per_s: f64,
    /// Generated tokens after the first, per second.
    pub decode_tokens_per_s: f64,
    pub total_ms: f64,
    /// Added in the second release: tokens drafted by prompt lookup, and how many of them
    /// the model's own choice confirmed (each accepted one is a forward pass saved).
    pub drafted_tokens: usize,
    pub accepted_tokens: usize,
    /// Added in the fourth release: tool calls parsed from the output (request.tools).
    pub tool_calls: usize,
}

/// The first released layout ended after `total_ms`.
const GENERATION_STATS_V1: usize = offset_of!(ns_generation_stats, total_ms) + size_of::<f64>();

/// What a generator detected. Set `struct_size` to sizeof(ns_generator_info) before
/// ns_generator_get_info (filled as ns_generation_stats is). Strings are
/// owned by the generator and valid until it is freed.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct ns_generator_info {
    pub struct_size: u32,
    /// Tokens the model can attend to (prompt + generated).
    pub context_length: usize,
    pub layers: usize,
    pub kv_heads: usize,
    pub head_dim: usize,
    /// 1 when the model has a chat template (messages can be used).
    pub has_chat_template: i32,
    pub model_file: *const c_char,
    pub provider: *const c_char,
    /// Why the requested device is not the one used, or NULL.
    pub fallback_reason: *const c_char,
    /// Added in the fourth release: 1 when the chat template renders tools (request.tools
    /// can be used), 2 when it also writes calls in a form this library parses (the calls
    /// reach on_tool_call, and NS_TOOL_CHOICE_REQUIRED / ONE can be used), 0 otherwise.
    pub tools: i32,
    /// Added in the fifth release: why prompt lookup (request.lookup_max_draft) makes no
    /// drafts on this graph, or NULL where it is on and cannot change the output: the graph
    /// returns the last position's logits only, or quantizes activations with one scale
    /// per pass (dynamic int8, e.g. Optimum's model_quantized.onnx: DynamicQuantizeLinear),
    /// where drafts would change the greedy output.
    pub lookup_off_reason: *const c_char,
}

/// The first released layout ended after `fallback_reason`.
const GENERATOR_INFO_V1: usize =
    offset_of!(ns_generator_info, fallback_reason) + size_of::<*const c_char>();

/// A loaded generation model. Opaque.
pub struct ns_generator {
    magic: u64,
    generator: Generator,
    described: Described,
    lookup_off_reason: Option<CString>,
}

impl Handle for ns_generator {
    const MAGIC: u64 = 0x4e53_4745_4e45_5241;
    fn magic(&self) -> u64 {
        self.magic
    }
    fn poison(&mut self) {
        self.magic = 0;
    }
}

/// Cancels generations from any thread. Opaque.
pub struct ns_cancel_token {
    magic: u64,
    handle: CancelHandle,
}

impl Handle for ns_cancel_token {
    const MAGIC: u64 = 0x4e53_4341_4e43_454c;
    fn magic(&self) -> u64 {
        self.magic
    }
    fn poison(&mut self) {
        self.magic = 0;
    }
}

/// Fill `options` with defaults and set its struct_size. Pass sizeof(*options) as `size`: a
/// caller built against an older (smaller) header gets the fields it knows, one built
/// against a newer header gets this library's fields (the rest zeroed) and struct_size
/// set to what this library knows. Statuses: NS_ERR_NULL_POINTER, NS_ERR_STRUCT_SIZE.
#[no_mangle]
pub extern "C" fn ns_generator_options_init(
    options: *mut ns_generator_options,
    size: usize,
) -> ns_status {
    guard(std::ptr::null_mut(), || {
        init_versioned(
            options,
            size,
            ns_generator_options::default(),
            GENERATOR_OPTIONS_V1,
            "ns_generator_options",
        )
    })
}

/// Load a generation model. On success `*out` is a new generator (free it with
/// ns_generator_free); on failure `*out` is NULL.
///
/// Statuses: NS_ERR_NULL_POINTER, NS_ERR_STRUCT_SIZE, NS_ERR_INVALID_UTF8,
/// NS_ERR_INVALID_ARGUMENT, NS_ERR_MODEL_NOT_FOUND, NS_ERR_MODEL_INVALID (corrupt file, not
/// a decoder with a KV cache), NS_ERR_TOKENIZER, NS_ERR_TEMPLATE (chat template does not
/// parse), NS_ERR_RUNTIME_NOT_FOUND, NS_ERR_UNSUPPORTED, NS_ERR_RUNTIME. `error` (may be
/// NULL) receives a copy of the status and message. Thread-safe; slow: call it off the UI
/// thread.
#[no_mangle]
pub extern "C" fn ns_generator_new(
    options: *const ns_generator_options,
    out: *mut *mut ns_generator,
    error: *mut ns_error_detail,
) -> ns_status {
    guard(error, || {
        let out = non_null_mut(out, "out")?;
        *out = std::ptr::null_mut();
        let o = read_versioned(
            options,
            ns_generator_options::default(),
            GENERATOR_OPTIONS_V1,
            "ns_generator_options",
        )?;
        let m = model_fields(
            o.model_path,
            o.variant,
            o.device,
            o.intra_threads,
            o.max_sessions,
        )?;
        let mut options = GeneratorOptions::new(m.path);
        options.variant = m.variant;
        options.device = m.device;
        options.intra_threads = m.intra_threads;
        options.max_sessions = m.max_sessions.unwrap_or(options.max_sessions);
        options.reuse_prefix = o.reuse_prefix != 0;
        let generator = Generator::new(options)?;
        let described = Described::new(&generator.info().model_path, &generator.info().provider);
        let lookup_off_reason = generator.info().lookup_off_reason.as_deref().map(cstring);
        let handle = Box::new(ns_generator {
            magic: ns_generator::MAGIC,
            generator,
            described,
            lookup_off_reason,
        });
        *out = Box::into_raw(handle);
        Ok(())
    })
}

/// Describe what `generator` detected. Set `info->struct_size` first.
#[no_mangle]
pub extern "C" fn ns_generator_get_info(
    generator: *const ns_generator,
    info: *mut ns_generator_info,
) -> ns_status {
    guard(std::ptr::null_mut(), || {
        let handle = live(generator, "generator")?;
        let i = handle.generator.info();
        let value = ns_generator_info {
            struct_size: size_of::<ns_generator_info>() as u32,
            context_length: i.context_length,
            layers: i.layers,
            kv_heads: i.kv_heads,
            head_dim: i.head_dim,
            has_chat_template: i32::from(i.has_chat_template),
            model_file: handle.described.model_file(),
            provider: handle.described.provider(),
            fallback_reason: handle.described.fallback_reason(),
            tools: match (i.renders_tools, i.tool_call_format) {
                (false, _) => 0,
                (true, None) => 1,
                (true, Some(_)) => 2,
            },
            lookup_off_reason: handle
                .lookup_off_reason
                .as_ref()
                .map_or(std::ptr::null(), |s| s.as_ptr()),
        };
        write_versioned(info, value, GENERATOR_INFO_V1, "ns_generator_info")
    })
}

/// Fill `request` with defaults and set its struct_size. Pass sizeof(*request) as `size`: a
/// caller built against an older (smaller) header gets the fields it knows, one built
/// against a newer header gets this library's fields (the rest zeroed) and struct_size
/// set to what this library knows. Statuses: NS_ERR_NULL_POINTER, NS_ERR_STRUCT_SIZE.
#[no_mangle]
pub extern "C" fn ns_generate_request_init(
    request: *mut ns_generate_request,
    size: usize,
) -> ns_status {
    guard(std::ptr::null_mut(), || {
        init_versioned(
            request,
            size,
            ns_generate_request::default(),
            GENERATE_REQUEST_V1,
            "ns_generate_request",
        )
    })
}

/// The request's NS_CONSTRAINT_* fields.
fn read_constraint(r: &ns_generate_request) -> FfiResult<Option<Constraint>> {
    let text = |what: &str| -> FfiResult<String> {
        if r.constraint.is_null() {
            return Err(fail(
                NS_ERR_NULL_POINTER,
                format!("request.constraint is NULL but constraint_kind is {what}"),
            ));
        }
        Ok(req_str(r.constraint, "request.constraint")?.to_string())
    };
    Ok(Some(match r.constraint_kind {
        NS_CONSTRAINT_NONE => return Ok(None),
        NS_CONSTRAINT_JSON_SCHEMA => Constraint::JsonSchema(text("NS_CONSTRAINT_JSON_SCHEMA")?),
        NS_CONSTRAINT_REGEX => Constraint::Regex(text("NS_CONSTRAINT_REGEX")?),
        NS_CONSTRAINT_GRAMMAR => Constraint::Grammar(text("NS_CONSTRAINT_GRAMMAR")?),
        NS_CONSTRAINT_CHOICES => {
            if r.choice_count > 0 && r.choices.is_null() {
                return Err(fail(
                    NS_ERR_NULL_POINTER,
                    "request.choices is NULL but choice_count is not 0",
                ));
            }
            let choices = if r.choice_count == 0 {
                &[][..]
            } else {
                // SAFETY: the caller passes choice_count strings.
                unsafe { std::slice::from_raw_parts(r.choices, r.choice_count) }
            };
            let mut list = Vec::with_capacity(choices.len());
            for (i, &c) in choices.iter().enumerate() {
                list.push(req_str(c, &format!("request.choices[{i}]"))?.to_string());
            }
            Constraint::Choices(list)
        }
        other => {
            return Err(fail(
                NS_ERR_INVALID_ARGUMENT,
                format!("request.constraint_kind {other} is not one of the NS_CONSTRAINT_* values"),
            ))
        }
    }))
}

/// Where the caller wants the generated token ids.
struct TokenOut {
    ptr: *mut u32,
    capacity: usize,
}

fn read_request(
    request: *const ns_generate_request,
) -> FfiResult<(
    GenerateRequest,
    Option<CancelHandle>,
    TokenOut,
    ns_tool_call_callback,
)> {
    let r = read_versioned(
        request,
        ns_generate_request::default(),
        GENERATE_REQUEST_V1,
        "ns_generate_request",
    )?;
    let given = [
        !r.prompt.is_null(),
        !r.messages.is_null(),
        !r.messages_json.is_null(),
    ];
    let prompt = match given {
        [true, false, false] => Prompt::Text(req_str(r.prompt, "request.prompt")?.to_string()),
        [false, true, false] => {
            if r.message_count == 0 {
                return Err(fail(NS_ERR_INVALID_ARGUMENT, "request.message_count is 0"));
            }
            // SAFETY: the caller passes message_count messages.
            let messages = unsafe { std::slice::from_raw_parts(r.messages, r.message_count) };
            let mut chat = Vec::with_capacity(messages.len());
            for (i, m) in messages.iter().enumerate() {
                chat.push(ChatMessage::new(
                    req_str(m.role, &format!("request.messages[{i}].role"))?,
                    req_str(m.content, &format!("request.messages[{i}].content"))?,
                ));
            }
            Prompt::Chat(chat)
        }
        [false, false, true] => Prompt::Chat(
            parse_messages(req_str(r.messages_json, "request.messages_json")?).map_err(|e| {
                fail(
                    NS_ERR_INVALID_ARGUMENT,
                    format!("request.messages_json: {}", e.message()),
                )
            })?,
        ),
        [false, false, false] => {
            return Err(fail(
                NS_ERR_NULL_POINTER,
                "request has neither a prompt nor messages",
            ))
        }
        _ => {
            return Err(fail(
                NS_ERR_INVALID_ARGUMENT,
                "request has more than one of prompt, messages and messages_json: give one",
            ))
        }
    };
    let mut req = GenerateRequest::new(prompt);
    req.lookup = match r.lookup_max_draft {
        0 => LookupOptions::off(),
        n => LookupOptions {
            max_draft: n as usize,
            ..LookupOptions::default()
        },
    };
    req.max_new_tokens = (r.max_new_tokens > 0).then_some(r.max_new_tokens as usize);
    let penalties = |mut s: SamplingOptions| {
        s.repetition_penalty = r.repetition_penalty;
        s.presence_penalty = r.presence_penalty;
        s.frequency_penalty = r.frequency_penalty;
        s
    };
    req.sampling = match r.sampling {
        NS_SAMPLING_MODEL_DEFAULT => None,
        NS_SAMPLING_GREEDY => Some(penalties(SamplingOptions::greedy())),
        NS_SAMPLING_CUSTOM => Some(penalties(SamplingOptions {
            temperature: r.temperature,
            top_k: r.top_k as usize,
            top_p: r.top_p,
            min_p: r.min_p,
            seed: (r.seed != 0).then_some(r.seed),
            ..SamplingOptions::greedy()
        })),
        other => {
            return Err(fail(
                NS_ERR_INVALID_ARGUMENT,
                format!("request.sampling {other} is not one of the NS_SAMPLING_* values"),
            ))
        }
    };
    if r.stop_count > 0 {
        if r.stop.is_null() {
            return Err(fail(
                NS_ERR_NULL_POINTER,
                "request.stop is NULL but stop_count is not 0",
            ));
        }
        // SAFETY: the caller passes stop_count strings.
        let stops = unsafe { std::slice::from_raw_parts(r.stop, r.stop_count) };
        for (i, &s) in stops.iter().enumerate() {
            req.stop
                .push(req_str(s, &format!("request.stop[{i}]"))?.to_string());
        }
    }
    req.constraint = read_constraint(&r)?;
    if let Some(tools) = opt_str(r.tools, "request.tools")? {
        req.tools = parse_tools(tools).map_err(|e| {
            fail(
                NS_ERR_INVALID_ARGUMENT,
                format!("request.tools: {}", e.message()),
            )
        })?;
    }
    req.tool_choice = match r.tool_choice {
        NS_TOOL_CHOICE_AUTO => ToolChoice::Auto,
        NS_TOOL_CHOICE_REQUIRED => ToolChoice::Required,
        NS_TOOL_CHOICE_ONE => ToolChoice::One,
        other => {
            return Err(fail(
                NS_ERR_INVALID_ARGUMENT,
                format!("request.tool_choice {other} is not one of the NS_TOOL_CHOICE_* values"),
            ))
        }
    };
    let cancel = if r.cancel.is_null() {
        None
    } else {
        Some(live(r.cancel, "request.cancel")?.handle.clone())
    };
    if r.token_ids_out.is_null() && r.token_ids_capacity > 0 {
        return Err(fail(
            NS_ERR_NULL_POINTER,
            "request.token_ids_out is NULL but token_ids_capacity is not 0",
        ));
    }
    Ok((
        req,
        cancel,
        TokenOut {
            ptr: r.token_ids_out,
            capacity: r.token_ids_capacity,
        },
        r.on_tool_call,
    ))
}

/// Generate text for `request`, calling `on_chunk` with each piece as it is produced.
///
/// The chunks are whole UTF-8 characters; concatenated they are the generated text; a stop
/// string is never part of them. `on_chunk` (may be NULL) runs on the calling thread and
/// never after this function returns. `stats` (may be NULL; set its struct_size) receives
/// counts and timings, also when cancelled.
///
/// Returns NS_OK when the generation ended by itself (eos, max_new_tokens, stop string,
/// context full: see stats->stop_reason), NS_ERR_CANCELLED when the callback returned
/// non-zero or the request's cancel token was triggered (from any thread: a long prompt
/// is interrupted inside ONNX Runtime). Other statuses: NS_ERR_NULL_POINTER,
/// NS_ERR_STRUCT_SIZE, NS_ERR_INVALID_UTF8, NS_ERR_INVALID_ARGUMENT (bad sampling values,
/// freed handle), NS_ERR_CONTEXT_OVERFLOW (prompt longer than the context),
/// NS_ERR_UNSUPPORTED (messages for a model without a chat template, tools for a template
/// that does not render them), NS_ERR_TEMPLATE,
/// NS_ERR_TOKENIZER, NS_ERR_RUNTIME. `error` (may be NULL) receives a copy of the status and
/// message.
///
/// Thread-safe: several threads may generate with one generator at once (each call gets
/// its own session and KV cache; beyond max_sessions, calls wait). Do not call
/// ns_generator_free until every call on the generator has returned.
#[no_mangle]
pub extern "C" fn ns_generate_stream(
    generator: *const ns_generator,
    request: *const ns_generate_request,
    on_chunk: ns_chunk_callback,
    user_data: *mut c_void,
    stats: *mut ns_generation_stats,
    error: *mut ns_error_detail,
) -> ns_status {
    guard(error, || {
        let handle = live(generator, "generator")?;
        if !stats.is_null() {
            // Zeroed first, so that a call failing before it starts reports stop_reason 0.
            write_versioned(
                stats,
                ns_generation_stats::default(),
                GENERATION_STATS_V1,
                "ns_generation_stats",
            )?;
        }
        let (request, cancel, token_out, on_tool_call) = read_request(request)?;
        let mut callback_panicked = false;
        let mut forward = |chunk: &str| -> Flow {
            let Some(callback) = on_chunk else {
                return Flow::Continue;
            };
            let text = cstring(chunk);
            // SAFETY: a C callback given by the caller; text outlives the call.
            let verdict = std::panic::catch_unwind(|| unsafe {
                callback(text.as_ptr(), chunk.len(), user_data)
            });
            match verdict {
                Ok(NS_CONTINUE) => Flow::Continue,
                Ok(_) => Flow::Stop,
                Err(_) => {
                    callback_panicked = true;
                    Flow::Stop
                }
            }
        };
        let result = handle
            .generator
            .generate(&request, cancel.as_ref(), &mut forward)?;
        let n = result.tokens.len().min(token_out.capacity);
        if n > 0 {
            // SAFETY: the caller's buffer holds token_ids_capacity entries.
            unsafe { std::ptr::copy_nonoverlapping(result.tokens.as_ptr(), token_out.ptr, n) };
        }
        if !stats.is_null() {
            let s = &result.stats;
            let value = ns_generation_stats {
                struct_size: size_of::<ns_generation_stats>() as u32,
                stop_reason: match result.stop_reason {
                    StopReason::Eos => NS_STOP_EOS,
                    StopReason::MaxTokens => NS_STOP_MAX_TOKENS,
                    StopReason::StopString => NS_STOP_STOP_STRING,
                    StopReason::ContextFull => NS_STOP_CONTEXT_FULL,
                    StopReason::Cancelled => NS_STOP_CANCELLED,
                },
                prompt_tokens: s.prompt_tokens,
                reused_prompt_tokens: s.reused_prompt_tokens,
                generated_tokens: s.generated_tokens,
                time_to_first_token_ms: s.time_to_first_token_ms,
                prefill_tokens_per_s: s.prefill_tokens_per_s,
                decode_tokens_per_s: s.decode_tokens_per_s,
                total_ms: s.total_ms,
                drafted_tokens: s.drafted_tokens,
                accepted_tokens: s.accepted_tokens,
                tool_calls: result.tool_calls.len(),
            };
            write_versioned(stats, value, GENERATION_STATS_V1, "ns_generation_stats")?;
        }
        if callback_panicked {
            return Err(fail(NS_ERR_INTERNAL, "the chunk callback panicked"));
        }
        if let Some(callback) = on_tool_call {
            for (i, call) in result.tool_calls.iter().enumerate() {
                let name = cstring(&call.name);
                let arguments = cstring(&call.arguments.to_string());
                // SAFETY: a C callback given by the caller; the strings outlive the call.
                let done = std::panic::catch_unwind(|| unsafe {
                    callback(i, name.as_ptr(), arguments.as_ptr(), user_data)
                });
                if done.is_err() {
                    return Err(fail(NS_ERR_INTERNAL, "the tool call callback panicked"));
                }
            }
        }
        if result.stop_reason == StopReason::Cancelled {
            return Err(fail(
                NS_ERR_CANCELLED,
                format!(
                    "generation cancelled after {} tokens",
                    result.stats.generated_tokens
                ),
            ));
        }
        Ok(())
    })
}

/// Free a generator. NULL is a no-op. No call may be running on it.
#[no_mangle]
pub extern "C" fn ns_generator_free(generator: *mut ns_generator) {
    free_handle(generator, "generator");
}

/// Make a cancel token (free it with ns_cancel_token_free). Put it in a request's `cancel`
/// field; ns_cancel_token_cancel then stops that generation from any thread.
#[no_mangle]
pub extern "C" fn ns_cancel_token_new(out: *mut *mut ns_cancel_token) -> ns_status {
    guard(std::ptr::null_mut(), || {
        let out = non_null_mut(out, "out")?;
        *out = Box::into_raw(Box::new(ns_cancel_token {
            magic: ns_cancel_token::MAGIC,
            handle: CancelHandle::new(),
        }));
        Ok(())
    })
}

/// Cancel every generation using `token`, now and later (until ns_cancel_token_reset): they
/// return NS_ERR_CANCELLED promptly, a prompt being processed is interrupted. Thread-safe,
/// idempotent, may be called from a chunk callback.
#[no_mangle]
pub extern "C" fn ns_cancel_token_cancel(token: *const ns_cancel_token) -> ns_status {
    guard(std::ptr::null_mut(), || {
        live(token, "token")?.handle.cancel();
        Ok(())
    })
}

/// Make a cancelled token usable again. Thread-safe.
#[no_mangle]
pub extern "C" fn ns_cancel_token_reset(token: *const ns_cancel_token) -> ns_status {
    guard(std::ptr::null_mut(), || {
        live(token, "token")?.handle.reset();
        Ok(())
    })
}

/// Free a cancel token. NULL is a no-op. No generation may be using it.
#[no_mangle]
pub extern "C" fn ns_cancel_token_free(token: *mut ns_cancel_token) {
    free_handle(token, "token");
}
