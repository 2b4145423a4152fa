//! Text generation: prompt or chat -> tokens -> KV-cache decode loop -> streamed text.

mod chain;
mod constraint;
mod genai_config;
mod graph;
mod lookup;
mod op_types;
mod sampler;
mod stream;
mod template;
mod tools;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use ort::session::RunOptions;
use parking_lot::Mutex;
use serde_json::Value as Json;
use tokenizers::Tokenizer;

pub use constraint::Constraint;
pub use lookup::LookupOptions;
pub use sampler::SamplingOptions;
pub use template::{parse_messages, ChatMessage, ChatTemplate};
pub use tools::{parse_tools, ToolCall, ToolCallFormat, ToolChoice};

use crate::error::{Error, ErrorKind, Result};
use crate::model::{JsonExt, ModelFolder};
use crate::pool::SessionPool;
use crate::runtime::{default_intra_threads, ActiveProvider, Device, SessionConfig};
use chain::TokenChain;
use constraint::ConstraintCompiler;
use genai_config::GenaiConfig;
use graph::{DecoderGraph, KvCache, Step};
use lookup::Drafter;
use stream::{Detokenizer, StopFilter};

/// How to load a generation model.
#[derive(Debug, Clone)]
pub struct GeneratorOptions {
    pub model_dir: PathBuf,
    /// Graph variant: `None` for `model.onnx`, or e.g. `"q4"`, `"fp16"`.
    pub variant: Option<String>,
    pub device: Device,
    /// Intra-op threads per session; `None`: physical cores.
    pub intra_threads: Option<usize>,
    /// Generations that may run at the same time (one session, with its own cache, each).
    pub max_sessions: usize,
    /// Keep the KV cache of the last generation and reuse it when the next prompt starts
    /// with the same tokens (a chat's follow-up turn): only the new tokens are processed.
    pub reuse_prefix: bool,
    /// Long prompts run in chunks of this many tokens (default 512): attention buffers grow
    /// with chunk x context instead of prompt x context (SmolLM2, 3000 tokens: 27 MB
    /// instead of 320 MB), and a cancel is also seen between chunks. Graphs that return
    /// logits for every position run shorter chunks, up to 64 MB of logits each (Gemma 3's
    /// 262,144-token vocabulary: 64 tokens).
    pub prefill_chunk: usize,
}

impl GeneratorOptions {
    pub fn new(model_dir: impl Into<PathBuf>) -> Self {
        Self {
            model_dir: model_dir.into(),
            variant: None,
            device: Device::Auto,
            intra_threads: None,
            max_sessions: 2,
            reuse_prefix: true,
            prefill_chunk: 512,
        }
    }
}

/// What to generate from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Prompt {
    /// Raw text, tokenized as is (the tokenizer adds its own special tokens, if any).
    Text(String),
    /// Chat messages, rendered with the model's chat template and an open assistant turn.
    Chat(Vec<ChatMessage>),
}

/// One generation request. Fields left `None` take the model's `generation_config.json`.
#[derive(Debug, Clone)]
pub struct GenerateRequest {
    pub prompt: Prompt,
    /// Default: `generation_config.json`'s `max_new_tokens`, else 256.
    pub max_new_tokens: Option<usize>,
    /// Default: from `generation_config.json` (greedy unless it sets `do_sample`).
    pub sampling: Option<SamplingOptions>,
    /// Generation stops before any of these strings; they are never emitted. An empty
    /// string is rejected (InvalidArgument).
    pub stop: Vec<String>,
    /// Prompt-lookup speculative decoding (default on): drafts copied from the prompt and
    /// the output are verified in one pass. Greedy output is token for token the plain
    /// loop's (fp32 and 4-bit graphs alike: see the `lookup` module); sampled output keeps
    /// its distribution. Off where `GeneratorInfo::lookup_off_reason` says why (graphs that
    /// return the last position's logits only, or quantize activations per pass).
    pub lookup: LookupOptions,
    /// Structured output: the text must match this (JSON Schema, regex, Lark grammar or
    /// choices). Generation ends with [`StopReason::Eos`] when the text is complete, or at
    /// `max_new_tokens` ([`StopReason::MaxTokens`]: then it is a prefix of a valid text).
    /// A malformed or unsatisfiable constraint is InvalidArgument.
    pub constraint: Option<Constraint>,
    /// Functions the model may call (JSON definitions, as transformers'
    /// `apply_chat_template(tools=...)` takes them: `{"type": "function", "function":
    /// {"name", "description", "parameters"}}`), rendered by the chat template. Needs a
    /// chat prompt and a template that renders tools (else Unsupported); the calls the model
    /// writes are parsed into [`GenerationResult::tool_calls`].
    pub tools: Vec<Json>,
    /// With `tools`: whether the answer must be calls (constrained) or the model decides.
    pub tool_choice: ToolChoice,
}

impl GenerateRequest {
    pub fn new(prompt: Prompt) -> Self {
        Self {
            prompt,
            max_new_tokens: None,
            sampling: None,
            stop: Vec::new(),
            lookup: LookupOptions::default(),
            constraint: None,
            tools: Vec::new(),
            tool_choice: ToolChoice::Auto,
        }
    }
}

/// Why generation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// The model produced an end-of-sequence token, or the text completed the request's
    /// constraint (nothing but end of sequence could follow).
    Eos,
    /// `max_new_tokens` were generated.
    MaxTokens,
    /// A stop string was produced (and cut off).
    StopString,
    /// The model's context window is full.
    ContextFull,
    /// The callback asked to stop, or the cancel handle was triggered.
    Cancelled,
}

impl StopReason {
    pub fn as_str(self) -> &'static str {
        match self {
            StopReason::Eos => "eos",
            StopReason::MaxTokens => "max_tokens",
            StopReason::StopString => "stop_string",
            StopReason::ContextFull => "context_full",
            StopReason::Cancelled => "cancelled",
        }
    }
}

/// Timing and counts of one generation.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GenerationStats {
    pub prompt_tokens: usize,
    /// Prompt tokens whose KV cache was reused from the previous generation (not recomputed).
    pub reused_prompt_tokens: usize,
    pub generated_tokens: usize,
    /// From the call to the first generated token (tokenizing and prefill included).
    pub time_to_first_token_ms: f64,
    /// Prompt tokens computed (not reused) per second until the first token.
    pub prefill_tokens_per_s: f64,
    /// Generated tokens after the first, per second of decoding.
    pub decode_tokens_per_s: f64,
    pub total_ms: f64,
    /// Tokens proposed by prompt lookup, and how many of them the model's own choice
    /// confirmed (each accepted one is a forward pass saved).
    pub drafted_tokens: usize,
    pub accepted_tokens: usize,
}

/// The outcome of a generation (also when cancelled: the partial text is kept).
#[derive(Debug, Clone)]
pub struct GenerationResult {
    pub text: String,
    pub prompt_tokens: Vec<u32>,
    pub tokens: Vec<u32>,
    pub stop_reason: StopReason,
    pub stats: GenerationStats,
    /// The tool calls in `text` (which keeps them as the model wrote them), when the
    /// request offered tools and the model's template writes calls in a format this
    /// library parses ([`ToolCallFormat`]).
    pub tool_calls: Vec<ToolCall>,
}

/// What the chunk callback wants next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    Continue,
    Stop,
}

/// Cancels generations from any thread. A handle cancelled before a generation starts
/// makes it return at once; [`CancelHandle::reset`] makes it usable again.
#[derive(Clone, Default)]
pub struct CancelHandle(Arc<CancelState>);

#[derive(Default)]
struct CancelState {
    cancelled: AtomicBool,
    /// The run options of the ONNX Runtime calls in flight, to interrupt a long prefill.
    runs: Mutex<Vec<Arc<RunOptions>>>,
}

impl CancelHandle {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn cancel(&self) {
        self.0.cancelled.store(true, Ordering::SeqCst);
        for run in self.0.runs.lock().iter() {
            let _ = run.terminate();
        }
    }

    pub fn is_cancelled(&self) -> bool {
        self.0.cancelled.load(Ordering::SeqCst)
    }

    pub fn reset(&self) {
        self.0.cancelled.store(false, Ordering::SeqCst);
    }

    /// Register `run` for the duration of a generation; the guard unregisters it.
    fn watch(&self, run: Arc<RunOptions>) -> RunGuard<'_> {
        self.0.runs.lock().push(run.clone());
        // A cancel that came before registration is applied now.
        if self.is_cancelled() {
            let _ = run.terminate();
        }
        RunGuard { handle: self, run }
    }
}

struct RunGuard<'a> {
    handle: &'a CancelHandle,
    run: Arc<RunOptions>,
}

impl Drop for RunGuard<'_> {
    fn drop(&mut self) {
        self.handle
            .0
            .runs
            .lock()
            .retain(|r| !Arc::ptr_eq(r, &self.run));
    }
}

/// Layers that attend only to the last `tokens` positions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlidingWindow {
    pub tokens: usize,
    /// How many of the model's layers do (the others see the whole context).
    pub layers: usize,
}

/// config.json's sliding window: `sliding_window` with the layers `layer_types` marks
/// "sliding_attention" (Gemma 3, newer Qwen2 configs), or on every layer when
/// `use_sliding_window` is true (older Qwen2 configs; false there by default).
fn sliding_window(config: &Json, layers: usize) -> Option<SlidingWindow> {
    let tokens = config.usize_field("sliding_window")?;
    let sliding = match config.get("layer_types").and_then(Json::as_array) {
        Some(types) => types
            .iter()
            .filter(|t| t.as_str() == Some("sliding_attention"))
            .count(),
        None if config.get("use_sliding_window").and_then(Json::as_bool) == Some(true) => layers,
        None => 0,
    };
    (sliding > 0).then_some(SlidingWindow {
        tokens,
        layers: sliding,
    })
}

/// What a generator detected.
#[derive(Debug, Clone)]
pub struct GeneratorInfo {
    pub model_path: PathBuf,
    /// `model_type` from config.json (e.g. "llama", "qwen2", "gemma3_text"); empty when the
    /// folder does not say.
    pub family: String,
    /// How the graph stores its weights (e.g. "fp32, dequantized from GGUF Q5_0, Q8_0
    /// blocks"), from the graph's `quantization` metadata; None when the graph does not say.
    pub quantization: Option<String>,
    pub layers: usize,
    pub kv_heads: usize,
    pub head_dim: usize,
    pub kv_dtype: &'static str,
    /// The KV cache is preallocated and extended in place by the graph (no copy per
    /// step); see `past_present_share_buffer` in models/README.md.
    pub kv_in_place: bool,
    pub context_length: usize,
    /// Local attention, as config.json describes it (Gemma 3: 512 tokens on 5 of 6 layers);
    /// None when every layer attends to the whole context.
    pub sliding_window: Option<SlidingWindow>,
    pub eos_token_ids: Vec<u32>,
    pub has_chat_template: bool,
    /// The chat template renders tools ([`GenerateRequest::tools`] can be used).
    pub renders_tools: bool,
    /// How the model writes tool calls, when the template teaches a form this library
    /// parses (then calls are parsed and a tool call can be required).
    pub tool_call_format: Option<ToolCallFormat>,
    /// The graph returns logits for several positions, so prompt-lookup drafts can be
    /// verified (graphs with the last position's logits only run the plain loop).
    pub verifies_drafts: bool,
    /// Why prompt lookup is off by default on this graph; None where it is on and cannot
    /// change the output.
    pub lookup_off_reason: Option<String>,
    pub provider: ActiveProvider,
}

/// A loaded decoder model. `Send + Sync`: generations on different threads run at the same
/// time on up to `max_sessions` sessions, each with its own KV cache.
pub struct Generator {
    pool: SessionPool,
    tokenizer: Tokenizer,
    graph: DecoderGraph,
    template: Option<ChatTemplate>,
    defaults: Defaults,
    info: GeneratorInfo,
    /// The last generation's KV cache, for prefix reuse (None when disabled or in use).
    prefix: Option<Mutex<Option<KvCache>>>,
    prefill_chunk: usize,
    constraints: ConstraintCompiler,
}

/// Settings from `generation_config.json`.
#[derive(Debug, Clone)]
struct Defaults {
    sampling: SamplingOptions,
    max_new_tokens: usize,
}

impl Generator {
    pub fn new(options: GeneratorOptions) -> Result<Self> {
        let folder = ModelFolder::open(&options.model_dir)?;
        let model_path = folder.onnx_file(options.variant.as_deref())?;
        let mut config = folder.read_json("config.json")?;
        let mut generation_config = folder.read_json("generation_config.json")?;
        // A folder from onnxruntime-genai's builder: its genai_config.json stands in for both.
        let genai = folder
            .read_json("genai_config.json")?
            .map(|g| GenaiConfig::from_json(&g));
        if let Some(g) = &genai {
            config.get_or_insert_with(|| g.config.clone());
            generation_config.get_or_insert_with(|| g.generation.clone());
        }
        let tokenizer_config = folder.read_json("tokenizer_config.json")?;
        let tokenizer = folder.tokenizer()?;
        let template = ChatTemplate::load(&folder)?;

        let session_config = SessionConfig {
            device: options.device,
            intra_threads: options.intra_threads.unwrap_or_else(default_intra_threads),
            coreml_cache_dir: None,
        };
        let (pool, first) = SessionPool::new(&model_path, session_config, options.max_sessions)?;
        // genai's builder marks the GroupQueryAttention graphs whose cache it extends in place.
        let genai_shares_kv = genai.as_ref().is_some_and(|g| {
            g.share_buffer
                && g.decoder_file.as_deref().map(std::ffi::OsStr::new) == model_path.file_name()
        });
        let graph = DecoderGraph::inspect(&first, &model_path, config.as_ref(), genai_shares_kv);
        pool.put(first);
        let mut graph = graph?;

        let eos_token_ids = eos_ids(
            generation_config.as_ref(),
            config.as_ref(),
            tokenizer_config.as_ref(),
            &tokenizer,
        );
        let context_length = config
            .as_ref()
            .and_then(|c| {
                c.usize_field("max_position_embeddings")
                    .or_else(|| c.usize_field("n_positions"))
            })
            .unwrap_or(2048);
        graph.context_length = context_length;
        let defaults = defaults_from(generation_config.as_ref());
        let info = GeneratorInfo {
            model_path,
            family: config
                .as_ref()
                .and_then(|c| c.str_field("model_type"))
                .unwrap_or_default()
                .to_string(),
            quantization: graph.quantization.clone(),
            layers: graph.layers,
            kv_heads: graph.kv_heads,
            head_dim: graph.head_dim,
            kv_dtype: if graph.kv_f16 { "float16" } else { "float32" },
            kv_in_place: graph.shared_kv,
            context_length,
            sliding_window: config
                .as_ref()
                .and_then(|c| sliding_window(c, graph.layers)),
            eos_token_ids,
            has_chat_template: template.is_some(),
            renders_tools: template.as_ref().is_some_and(ChatTemplate::renders_tools),
            tool_call_format: template.as_ref().and_then(ChatTemplate::tool_call_format),
            verifies_drafts: graph.verifies_drafts(),
            lookup_off_reason: lookup_off_reason(&graph),
            provider: pool.provider().clone(),
        };
        let prefix = options.reuse_prefix.then(|| Mutex::new(None));
        let constraints = ConstraintCompiler::new(
            folder.root().join("tokenizer.json"),
            info.eos_token_ids.clone(),
            graph.vocab,
        );
        if options.prefill_chunk == 0 {
            return Err(Error::invalid("prefill_chunk must be at least 1"));
        }
        Ok(Self {
            pool,
            tokenizer,
            template,
            defaults,
            info,
            prefix,
            prefill_chunk: graph.prefill_chunk(options.prefill_chunk),
            graph,
            constraints,
        })
    }

    pub fn info(&self) -> &GeneratorInfo {
        &self.info
    }

    /// The token ids the model sees for `prompt`.
    pub fn prompt_tokens(&self, prompt: &Prompt) -> Result<Vec<u32>> {
        self.prompt_tokens_with_tools(prompt, &[])
    }

    fn prompt_tokens_with_tools(&self, prompt: &Prompt, tools: &[Json]) -> Result<Vec<u32>> {
        let (text, add_special) = match prompt {
            Prompt::Text(_) if !tools.is_empty() => return Err(Error::invalid(
                "tools are offered through the chat template: give chat messages, not a raw prompt",
            )),
            Prompt::Text(text) => (text.clone(), true),
            // Templates write special tokens themselves (as transformers' apply_chat_template).
            Prompt::Chat(messages) => (self.render_chat_with_tools(messages, tools)?, false),
        };
        let encoding = self
            .tokenizer
            .encode(text.as_str(), add_special)
            .map_err(|e| {
                Error::new(
                    ErrorKind::Tokenizer,
                    format!("cannot tokenize the prompt: {e}"),
                )
            })?;
        Ok(encoding.get_ids().to_vec())
    }

    /// Render chat messages with the model's template, opening the assistant's turn.
    pub fn render_chat(&self, messages: &[ChatMessage]) -> Result<String> {
        self.render_chat_with_tools(messages, &[])
    }

    /// Render chat messages offering `tools` (see [`GenerateRequest::tools`]).
    pub fn render_chat_with_tools(
        &self,
        messages: &[ChatMessage],
        tools: &[Json],
    ) -> Result<String> {
        let template = self.template.as_ref().ok_or_else(|| {
            Error::new(
                ErrorKind::Unsupported,
                format!(
                    "{} has no chat template (tokenizer_config.json 'chat_template' or chat_template.jinja); use a raw text prompt",
                    self.info.model_path.display()
                ),
            )
        })?;
        if messages.is_empty() {
            return Err(Error::invalid("the chat has no messages"));
        }
        if !tools.is_empty() {
            tools::validate_tools(tools)?;
            if !template.renders_tools() {
                return Err(Error::new(
                    ErrorKind::Unsupported,
                    format!(
                        "the chat template of {} does not render tools (it never reads `tools`): this model was not taught to call functions",
                        self.info.model_path.display()
                    ),
                ));
            }
        }
        template.render_with_tools(messages, tools, true)
    }

    /// The constraint a request asks for: its own, or the calls of a required tool choice.
    fn request_constraint(&self, request: &GenerateRequest) -> Result<Option<Constraint>> {
        if request.tool_choice == ToolChoice::Auto {
            return Ok(request.constraint.clone());
        }
        if request.tools.is_empty() {
            return Err(Error::invalid(
                "the tool choice requires a call but the request's tools offer none",
            ));
        }
        if request.constraint.is_some() {
            return Err(Error::invalid(
                "a required tool choice constrains the output to tool calls: it cannot be combined with another constraint",
            ));
        }
        let format = self.info.tool_call_format.ok_or_else(|| {
            Error::new(
                ErrorKind::Unsupported,
                "the model's chat template writes tool calls in a format this library does not parse, so a call cannot be required (use the auto tool choice)",
            )
        })?;
        let parallel = request.tool_choice == ToolChoice::Required;
        format
            .required_grammar(&request.tools, parallel)
            .map(|g| Some(Constraint::Grammar(g)))
    }

    /// Generate, calling `on_chunk` with each piece of text as it is produced (on the
    /// calling thread). The chunks concatenated equal the result's text.
    pub fn generate(
        &self,
        request: &GenerateRequest,
        cancel: Option<&CancelHandle>,
        on_chunk: &mut dyn FnMut(&str) -> Flow,
    ) -> Result<GenerationResult> {
        let start = Instant::now();
        let sampling = request
            .sampling
            .clone()
            .unwrap_or_else(|| self.defaults.sampling.clone());
        sampling.validate()?;
        request.lookup.validate()?;
        if let Some(i) = request.stop.iter().position(String::is_empty) {
            return Err(Error::invalid(format!(
                "stop string {i} is empty: an empty string matches everywhere and cannot be kept out of the output"
            )));
        }
        let max_new_tokens = request
            .max_new_tokens
            .unwrap_or(self.defaults.max_new_tokens);
        let prompt_tokens = self.prompt_tokens_with_tools(&request.prompt, &request.tools)?;
        if prompt_tokens.is_empty() {
            return Err(Error::invalid("the prompt is empty: it has no tokens"));
        }
        if prompt_tokens.len() >= self.info.context_length {
            return Err(Error::new(
                ErrorKind::ContextOverflow,
                format!(
                    "the prompt has {} tokens; the model's context is {} tokens (at least one must be left to generate)",
                    prompt_tokens.len(),
                    self.info.context_length
                ),
            ));
        }
        let constraint = self
            .request_constraint(request)?
            .as_ref()
            .map(|c| self.constraints.compile(c))
            .transpose()?;

        let local_cancel = CancelHandle::new();
        let cancel = cancel.unwrap_or(&local_cancel);
        let mut result = GenerationResult {
            text: String::new(),
            prompt_tokens: prompt_tokens.clone(),
            tokens: Vec::new(),
            stop_reason: StopReason::MaxTokens,
            stats: GenerationStats {
                prompt_tokens: prompt_tokens.len(),
                ..Default::default()
            },
            tool_calls: Vec::new(),
        };
        if cancel.is_cancelled() {
            result.stop_reason = StopReason::Cancelled;
            result.stats.total_ms = ms(start);
            return Ok(result);
        }
        let run =
            Arc::new(RunOptions::new().map_err(|e| Error::runtime("creating run options", e))?);
        let _watch = cancel.watch(run.clone());

        // Queued behind other generations when every session is busy; a cancel ends the wait.
        let Some(mut session) = self.pool.acquire_unless(&|| cancel.is_cancelled())? else {
            result.stop_reason = StopReason::Cancelled;
            result.stats.total_ms = ms(start);
            return Ok(result);
        };
        let mut cache = self.reusable_cache(&prompt_tokens)?;
        result.stats.reused_prompt_tokens = cache.len();
        let mut chain = TokenChain::new(sampling, &prompt_tokens, constraint);
        let drafts_allowed = self.graph.exact_with_two_row_passes()
            || (self.graph.verifies_drafts() && request.lookup.allow_inexact);
        let mut drafter = Drafter::new(if drafts_allowed {
            request.lookup.clone()
        } else {
            LookupOptions::off()
        });
        let mut detok = Detokenizer::new(&self.tokenizer);
        let mut stops = StopFilter::new(request.stop.clone());
        let mut input: Vec<u32> = prompt_tokens[cache.len()..].to_vec();
        // Prompt and output: what drafts are copied from.
        let mut history = prompt_tokens.clone();
        let mut first_token_at = None;
        let mut stopped_by_callback = false;

        'generation: while result.tokens.len() < max_new_tokens {
            if cancel.is_cancelled() {
                result.stop_reason = StopReason::Cancelled;
                break;
            }
            // The next token takes the position after the input: it must be inside the context.
            let room = self
                .info
                .context_length
                .saturating_sub(cache.len() + input.len());
            if room == 0 {
                result.stop_reason = StopReason::ContextFull;
                break;
            }
            // A draft after the prefill only; a fully accepted one yields one token more
            // than it has, so it may take all but one of the tokens still wanted.
            let wanted = max_new_tokens - result.tokens.len();
            let limit = (wanted - 1).min(room - 1);
            let (draft, guessed) = if first_token_at.is_some() {
                let draft = chain.valid_prefix(drafter.draft(&history, limit));
                if draft.is_empty() && limit > 0 {
                    // A second position costs little and the guess is often right (the
                    // `lookup` module); the drafter guesses nothing when lookup is off.
                    (chain.valid_prefix(drafter.guess(&history)), true)
                } else {
                    (draft, false)
                }
            } else {
                (Vec::new(), false)
            };
            let before = cache.len();
            let mut forward =
                || self.prefill_and_step(&mut session, &input, &draft, &mut cache, &run, cancel);
            let step = if chain.has_work_to_prepare() {
                // The constraint's next mask depends on the tokens kept so far only: compute
                // it while the model runs.
                std::thread::scope(|s| {
                    let prepared = s.spawn(|| chain.prepare());
                    let step = forward();
                    let prepared = prepared.join().unwrap_or_else(|_| {
                        Err(Error::internal("computing the constraint's mask panicked"))
                    });
                    step.and_then(|step| prepared.map(|()| step))
                })?
            } else {
                forward()?
            };
            let mut logits = match step {
                Step::Logits(logits) => logits,
                Step::Cancelled => {
                    result.stop_reason = StopReason::Cancelled;
                    break;
                }
            };
            // The model's own choice at each position; a draft token is kept while it is
            // that choice. With sampling this is the speculative acceptance rule for a
            // one-token draft distribution (accept with probability p(draft), else draw
            // from p without it), so the output distribution is the plain loop's.
            let mut accepted = 0;
            // The last token kept: the next step's input (the row after the draft is
            // never compared, so the loop below always ends by setting it or stopping).
            let mut last = 0;
            for row in 0..logits.rows() {
                let token = chain.next_token(logits.row_mut(row))?;
                if first_token_at.is_none() {
                    first_token_at = Some(Instant::now());
                    result.stats.time_to_first_token_ms = ms(start);
                }
                if self.info.eos_token_ids.contains(&token) {
                    result.stop_reason = StopReason::Eos;
                    break 'generation;
                }
                result.tokens.push(token);
                history.push(token);
                let piece = detok.push(token)?;
                let filtered = stops.push(&piece);
                if !filtered.emit.is_empty() && on_chunk(&filtered.emit) == Flow::Stop {
                    stopped_by_callback = true;
                }
                if filtered.stopped {
                    result.stop_reason = StopReason::StopString;
                    break 'generation;
                }
                if stopped_by_callback {
                    result.stop_reason = StopReason::Cancelled;
                    break 'generation;
                }
                if chain.finished() {
                    result.stop_reason = StopReason::Eos;
                    break 'generation;
                }
                last = token;
                if draft.get(row) != Some(&token) {
                    break;
                }
                accepted += 1;
            }
            result.stats.drafted_tokens += draft.len();
            result.stats.accepted_tokens += accepted;
            if !guessed {
                drafter.record(draft.len(), accepted);
            }
            // The cache covers the input and every draft token; keep the accepted ones.
            cache.truncate(&self.graph, before + input.len() + accepted)?;
            input = vec![last];
        }
        if !matches!(
            result.stop_reason,
            StopReason::StopString | StopReason::Cancelled
        ) {
            // Release what was held back: a partial character or a partial stop string.
            let tail = detok.finish()?;
            let mut rest = stops.push(&tail).emit;
            rest.push_str(&stops.finish());
            if !rest.is_empty() {
                on_chunk(&rest);
            }
        }
        result.text = stops.text().to_string();
        if !request.tools.is_empty() {
            if let Some(format) = self.info.tool_call_format {
                result.tool_calls = format.parse(&result.text, &request.tools);
            }
        }
        if let Some(slot) = &self.prefix {
            if result.stop_reason != StopReason::Cancelled && cache.len() > 0 {
                *slot.lock() = Some(cache);
            }
        }

        let total = start.elapsed().as_secs_f64();
        result.stats.total_ms = total * 1000.0;
        result.stats.generated_tokens = result.tokens.len();
        if let Some(first) = first_token_at {
            let prefill_s = result.stats.time_to_first_token_ms / 1000.0;
            if prefill_s > 0.0 {
                let computed = prompt_tokens.len() - result.stats.reused_prompt_tokens;
                result.stats.prefill_tokens_per_s = computed as f64 / prefill_s;
            }
            let decode_s = first.elapsed().as_secs_f64();
            if result.tokens.len() > 1 && decode_s > 0.0 {
                result.stats.decode_tokens_per_s = (result.tokens.len() - 1) as f64 / decode_s;
            }
        }
        Ok(result)
    }
}

impl Generator {
    /// Run `input` (a prompt, or one new token) and then `draft`, and return the logits of
    /// the last input position and of every draft position.
    fn prefill_and_step(
        &self,
        session: &mut ort::session::Session,
        input: &[u32],
        draft: &[u32],
        cache: &mut KvCache,
        run: &RunOptions,
        cancel: &CancelHandle,
    ) -> Result<Step> {
        let rows = draft.len() + 1;
        let mut ids = input.to_vec();
        ids.extend_from_slice(draft);
        // Long prompts run in chunks; the last run holds at least the positions whose
        // logits are wanted.
        let chunk = self.prefill_chunk;
        let mut split = ((ids.len() - 1) / chunk * chunk).min(ids.len() - rows);
        if ids.len() - split == 1 && self.graph.needs_two_row_passes() {
            // Never a one-position run (see the `lookup` module): the run before lends a
            // position, or the last cached token is run again (its key and value come out
            // the same bits: it was run in a pass of two or more too).
            if split > 0 && chunk > 2 {
                split -= 1;
            } else if split == 0 {
                if let Some(&previous) = cache.tokens.last() {
                    cache.truncate(&self.graph, cache.len() - 1)?;
                    ids.insert(0, previous);
                }
            }
        }
        for piece in ids[..split].chunks(chunk) {
            if cancel.is_cancelled() {
                return Ok(Step::Cancelled);
            }
            if let Step::Cancelled = graph::forward(session, &self.graph, piece, 1, cache, run)? {
                return Ok(Step::Cancelled);
            }
        }
        if cancel.is_cancelled() {
            return Ok(Step::Cancelled);
        }
        graph::forward(session, &self.graph, &ids[split..], rows, cache, run)
    }

    /// The cached KV state of the previous generation, cut to the longest prefix it shares
    /// with `prompt` (leaving at least one prompt token to run, for its logits); an empty
    /// cache when nothing is shared or reuse is off.
    fn reusable_cache(&self, prompt: &[u32]) -> Result<KvCache> {
        let Some(cached) = self.prefix.as_ref().and_then(|slot| slot.lock().take()) else {
            return Ok(KvCache::new(&self.graph));
        };
        let mut cache = cached;
        let shared = cache
            .tokens
            .iter()
            .zip(prompt)
            .take_while(|(a, b)| a == b)
            .count()
            .min(prompt.len() - 1);
        cache.truncate(&self.graph, shared)?;
        Ok(cache)
    }
}

fn lookup_off_reason(graph: &DecoderGraph) -> Option<String> {
    if !graph.verifies_drafts() {
        return Some(
            "the graph returns the last position's logits only, so drafts cannot be verified"
                .into(),
        );
    }
    graph.per_pass_quantization.as_ref().map(|op| {
        format!(
            "the graph quantizes activations with one scale per pass ({op}), so a position's \
             logits depend on the drafts beside it and greedy output would too \
             (LookupOptions::allow_inexact drafts anyway)"
        )
    })
}

fn ms(since: Instant) -> f64 {
    since.elapsed().as_secs_f64() * 1000.0
}

/// End-of-sequence ids: `generation_config.json` (an id or a list), else `config.json`,
/// else the tokenizer's `eos_token`.
fn eos_ids(
    generation: Option<&Json>,
    config: Option<&Json>,
    tokenizer_config: Option<&Json>,
    tokenizer: &Tokenizer,
) -> Vec<u32> {
    let ids = |v: Option<&Json>| -> Vec<u32> {
        match v {
            Some(Json::Number(n)) => n.as_u64().map(|n| vec![n as u32]).unwrap_or_default(),
            Some(Json::Array(list)) => list
                .iter()
                .filter_map(Json::as_u64)
                .map(|n| n as u32)
                .collect(),
            _ => Vec::new(),
        }
    };
    let mut found = ids(generation.and_then(|g| g.get("eos_token_id")));
    if found.is_empty() {
        found = ids(config.and_then(|c| c.get("eos_token_id")));
    }
    if found.is_empty() {
        let eos = match tokenizer_config.and_then(|c| c.get("eos_token")) {
            Some(Json::String(s)) => Some(s.as_str()),
            Some(Json::Object(o)) => o.get("content").and_then(Json::as_str),
            _ => None,
        };
        found.extend(eos.and_then(|t| tokenizer.token_to_id(t)));
    }
    found
}

fn defaults_from(generation: Option<&Json>) -> Defaults {
    let mut sampling = SamplingOptions::greedy();
    let float = |key: &str| {
        generation
            .and_then(|g| g.get(key))
            .and_then(Json::as_f64)
            .map(|v| v as f32)
    };
    if generation.and_then(|g| g.bool_field("do_sample")) == Some(true) {
        sampling.temperature = float("temperature").unwrap_or(1.0);
        sampling.top_k = generation.and_then(|g| g.usize_field("top_k")).unwrap_or(0);
        sampling.top_p = float("top_p").unwrap_or(1.0);
        sampling.min_p = float("min_p").unwrap_or(0.0);
    }
    sampling.repetition_penalty = float("repetition_penalty").unwrap_or(1.0);
    let max_new_tokens = generation
        .and_then(|g| g.usize_field("max_new_tokens"))
        .unwrap_or(256);
    Defaults {
        sampling,
        max_new_tokens,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sliding_window_from_config() {
        let gemma = serde_json::json!({"sliding_window": 512,
            "layer_types": ["sliding_attention", "sliding_attention", "full_attention"]});
        assert_eq!(
            sliding_window(&gemma, 3),
            Some(SlidingWindow {
                tokens: 512,
                layers: 2
            })
        );
        let qwen_off = serde_json::json!({"sliding_window": 32768, "use_sliding_window": false});
        assert_eq!(sliding_window(&qwen_off, 24), None);
        let qwen_on = serde_json::json!({"sliding_window": 4096, "use_sliding_window": true});
        assert_eq!(
            sliding_window(&qwen_on, 24),
            Some(SlidingWindow {
                tokens: 4096,
                layers: 24
            })
        );
        let full = serde_json::json!({"sliding_window": 512, "layer_types": ["full_attention"]});
        assert_eq!(sliding_window(&full, 1), None);
        assert_eq!(sliding_window(&serde_json::json!({}), 1), None);
    }
}
