//! Sentence embeddings: text -> tokenize -> batch -> ONNX Runtime -> pool -> normalize.

mod batch;
mod config;
mod pooling;

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use ort::session::{Session, SessionInputValue};
use ort::value::{Tensor, TensorElementType, ValueType};
use tokenizers::{PaddingDirection, Tokenizer, TruncationParams};

pub use pooling::Pooling;

use crate::error::{Error, ErrorKind, Result};
use crate::model::ModelFolder;
use crate::pool::SessionPool;
use crate::runtime::{default_intra_threads, ActiveProvider, Device, SessionConfig};

/// How to load an embedding model. Fields left `None` come from the model folder.
#[derive(Debug, Clone)]
pub struct EmbedderOptions {
    /// The model folder (Hugging Face layout).
    pub model_dir: PathBuf,
    /// Graph variant: `None` for `model.onnx`, or e.g. `"int8"`, `"quantized"`, `"fp16"`.
    pub variant: Option<String>,
    pub device: Device,
    /// Intra-op threads per session; `None`: physical cores.
    pub intra_threads: Option<usize>,
    /// At most this many sessions run at once (each serves one call at a time).
    pub max_sessions: usize,
    /// Overrides the folder's pooling config.
    pub pooling: Option<Pooling>,
    /// L2-normalize the vectors (default true).
    pub normalize: bool,
    /// Overrides the folder's maximum sequence length (tokens); longer texts are truncated.
    pub max_length: Option<usize>,
    /// A text longer than `max_length` tokens fails the call (`ErrorKind::ContextOverflow`,
    /// naming the text and its length) instead of being truncated (default false).
    pub fail_on_truncation: bool,
    /// Keep only the first N dimensions (Matryoshka models), renormalized when `normalize`.
    /// Where the folder lists the dimensions the model was trained for
    /// (`config_sentence_transformers.json` `matryoshka_dimensions`), only those are
    /// accepted, and its documented procedure is followed (`matryoshka_layer_norm`: a layer
    /// norm over the pooled vector before truncating, as nomic-embed-text-v1.5's card says).
    pub output_dimension: Option<usize>,
    /// Name of a prompt from `config_sentence_transformers.json` (e.g. "query") prepended
    /// to every text; `None`: the folder's `default_prompt_name`, if any.
    pub prompt_name: Option<String>,
    /// A batch is cut when rows x longest row would pass this many tokens. Small batches
    /// keep attention buffers (rows x heads x len^2) small: 512 measured both leanest and
    /// fastest for MiniLM on 2 cores (BENCHMARKS.md).
    pub batch_token_budget: usize,
    /// A batch never holds more than this many texts.
    pub max_batch_size: usize,
}

impl EmbedderOptions {
    pub fn new(model_dir: impl Into<PathBuf>) -> Self {
        Self {
            model_dir: model_dir.into(),
            variant: None,
            device: Device::Auto,
            intra_threads: None,
            max_sessions: 2,
            pooling: None,
            normalize: true,
            max_length: None,
            fail_on_truncation: false,
            output_dimension: None,
            prompt_name: None,
            batch_token_budget: 512,
            max_batch_size: 64,
        }
    }
}

/// What the embedder detected and runs with.
#[derive(Debug, Clone)]
pub struct EmbedderInfo {
    /// The graph file in use.
    pub model_path: PathBuf,
    /// Length of the vectors returned (after `output_dimension`).
    pub dimension: usize,
    /// Pooling applied by nodespace, or `None` when the graph outputs a pooled
    /// `sentence_embedding` itself.
    pub pooling: Option<Pooling>,
    pub normalize: bool,
    /// Texts are truncated to this many tokens (special tokens included), or rejected when
    /// `fail_on_truncation` is set.
    pub max_length: usize,
    pub fail_on_truncation: bool,
    /// The graph output the vectors come from.
    pub output_name: String,
    /// The prompt prefix applied to every text, if any.
    pub prompt: Option<String>,
    /// The named prompts the folder defines (name -> prefix), for `prompt_name` and
    /// [`Embedder::embed_with_prompt`].
    pub prompts: BTreeMap<String, String>,
    /// The output dimensions the model was trained for (Matryoshka), largest first; empty
    /// when the folder does not say.
    pub matryoshka_dimensions: Vec<usize>,
    pub provider: ActiveProvider,
}

/// A loaded embedding model. `Send + Sync`: share it between threads; concurrent calls run
/// in parallel on up to `max_sessions` sessions and give identical results.
pub struct Embedder {
    pool: SessionPool,
    tokenizer: Tokenizer,
    info: EmbedderInfo,
    inputs: GraphInputs,
    /// Width of the graph output's last axis, before `output_dimension`.
    hidden: usize,
    pooled_output: bool,
    /// Where the prompts come from, for error messages.
    prompts_file: PathBuf,
    /// Layer-normalize the pooled vector before truncating it (`output_dimension` asked of a
    /// model whose documented Matryoshka procedure says so).
    layer_norm_before_truncation: bool,
    pad_id: i64,
    pad_left: bool,
    batch_token_budget: usize,
    max_batch_size: usize,
}

#[derive(Debug, Clone, Copy)]
struct GraphInputs {
    attention_mask: bool,
    token_type_ids: bool,
    position_ids: bool,
}

impl Embedder {
    pub fn new(options: EmbedderOptions) -> Result<Self> {
        let folder = ModelFolder::open(&options.model_dir)?;
        let model_path = folder.onnx_file(options.variant.as_deref())?;
        let settings = config::read(&folder)?;
        let mut tokenizer = folder.tokenizer()?;

        let max_length = options
            .max_length
            .or(settings.max_seq_length)
            .or(settings.tokenizer_max_length)
            .or(settings.max_position_embeddings)
            .unwrap_or(512);
        if max_length == 0 {
            return Err(Error::invalid("max_length must be at least 1"));
        }
        let max_length = settings
            .max_position_embeddings
            .map_or(max_length, |limit| max_length.min(limit));
        let (pad_id, pad_left) = padding_of(&tokenizer);
        // Refusing long texts needs their full length, so the tokenizer must not cut them.
        let truncation = (!options.fail_on_truncation).then(|| TruncationParams {
            max_length,
            ..Default::default()
        });
        tokenizer
            .with_truncation(truncation)
            .map_err(|e| Error::new(ErrorKind::Tokenizer, format!("cannot set truncation: {e}")))?;
        tokenizer.with_padding(None);

        let prompts_file = folder.root().join("config_sentence_transformers.json");
        let prompt = match options
            .prompt_name
            .as_deref()
            .or(settings.default_prompt_name.as_deref())
        {
            None => None,
            Some(name) => Some(prompt_named(&settings.prompts, &prompts_file, name)?.to_string()),
        };
        if options.batch_token_budget == 0 || options.max_batch_size == 0 {
            return Err(Error::invalid(
                "batch_token_budget and max_batch_size must be at least 1",
            ));
        }

        let session_config = SessionConfig {
            device: options.device,
            intra_threads: options.intra_threads.unwrap_or_else(default_intra_threads),
            coreml_cache_dir: None,
        };
        let (pool, first) = SessionPool::new(&model_path, session_config, options.max_sessions)?;
        let inputs = graph_inputs(&first, &model_path)?;
        let (output_name, pooled_output, static_width) = graph_output(&first, &model_path)?;
        if settings.has_dense && !pooled_output {
            return Err(Error::new(
                ErrorKind::Unsupported,
                format!(
                    "{} lists a Dense module after pooling, but the graph {} has no pooled 'sentence_embedding' output that includes it",
                    folder.root().join("modules.json").display(),
                    model_path.display()
                ),
            ));
        }
        let pooling = if pooled_output {
            None
        } else {
            Some(
                options
                    .pooling
                    .or(settings.pooling)
                    .unwrap_or(Pooling::Mean),
            )
        };

        let mut embedder = Self {
            pool,
            tokenizer,
            info: EmbedderInfo {
                model_path,
                dimension: 0,
                pooling,
                normalize: options.normalize,
                max_length,
                fail_on_truncation: options.fail_on_truncation,
                output_name,
                prompt,
                prompts: settings.prompts.clone(),
                matryoshka_dimensions: {
                    let mut dims = settings.matryoshka_dimensions.clone();
                    dims.sort_unstable_by(|a, b| b.cmp(a));
                    dims
                },
                provider: ActiveProvider {
                    name: String::new(),
                    fallback_reason: None,
                },
            },
            inputs,
            hidden: static_width.or(settings.hidden_size).unwrap_or(0),
            pooled_output,
            prompts_file,
            layer_norm_before_truncation: options.output_dimension.is_some()
                && settings.matryoshka_layer_norm,
            pad_id,
            pad_left,
            batch_token_budget: options.batch_token_budget,
            max_batch_size: options.max_batch_size,
        };
        embedder.info.provider = embedder.pool.provider().clone();
        // One tiny run proves the graph works end to end and gives the real width.
        let probe = embedder.tokenize(&[""], None)?;
        let mut first = first;
        let probed = embedder.run_batch(&mut first, &probe, &[0], None);
        embedder.pool.put(first);
        embedder.hidden = probed?;
        embedder.info.dimension = match options.output_dimension {
            None => embedder.hidden,
            Some(0) => return Err(Error::invalid("output_dimension must be at least 1")),
            Some(d) if d > embedder.hidden => {
                return Err(Error::invalid(format!(
                    "output_dimension {d} is larger than the model's {} dimensions",
                    embedder.hidden
                )))
            }
            Some(d) => d,
        };
        let trained = &embedder.info.matryoshka_dimensions;
        if let Some(d) = options.output_dimension {
            if !trained.is_empty() && !trained.contains(&d) {
                return Err(Error::invalid(format!(
                    "output_dimension {d} is not one the model was trained for: {}",
                    trained
                        .iter()
                        .map(usize::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            }
        }
        Ok(embedder)
    }

    pub fn info(&self) -> &EmbedderInfo {
        &self.info
    }

    /// Length of each vector.
    pub fn dimension(&self) -> usize {
        self.info.dimension
    }

    /// Embed `texts`; one vector per text, in input order.
    pub fn embed<S: AsRef<str>>(&self, texts: &[S]) -> Result<Vec<Vec<f32>>> {
        let dim = self.dimension();
        let mut flat = vec![0.0; texts.len() * dim];
        self.embed_into(texts, &mut flat)?;
        Ok(flat.chunks_exact(dim.max(1)).map(<[f32]>::to_vec).collect())
    }

    /// Embed `texts` with the folder's prompt named `prompt_name` (e.g. "query" for a search
    /// and "document" for the notes it searches, with one loaded model) instead of the
    /// embedder's own prompt. A name the folder does not define is `InvalidArgument`
    /// listing the ones it does.
    pub fn embed_with_prompt<S: AsRef<str>>(
        &self,
        texts: &[S],
        prompt_name: &str,
    ) -> Result<Vec<Vec<f32>>> {
        let dim = self.dimension();
        let mut flat = vec![0.0; texts.len() * dim];
        self.embed_into_with_prompt(texts, Some(prompt_name), &mut flat)?;
        Ok(flat.chunks_exact(dim.max(1)).map(<[f32]>::to_vec).collect())
    }

    /// Embed `texts` into `out`, row-major (`texts.len() * dimension()` floats).
    pub fn embed_into<S: AsRef<str>>(&self, texts: &[S], out: &mut [f32]) -> Result<()> {
        self.embed_into_with_prompt(texts, None, out)
    }

    /// [`Embedder::embed_into`] with the prompt named `prompt_name` (`None`: the embedder's
    /// own prompt, as [`Embedder::embed_into`]).
    pub fn embed_into_with_prompt<S: AsRef<str>>(
        &self,
        texts: &[S],
        prompt_name: Option<&str>,
        out: &mut [f32],
    ) -> Result<()> {
        let prompt = match prompt_name {
            None => self.info.prompt.as_deref(),
            Some(name) => Some(prompt_named(&self.info.prompts, &self.prompts_file, name)?),
        };
        if texts.is_empty() {
            return Err(Error::invalid("no texts to embed: the input list is empty"));
        }
        let needed = texts.len() * self.dimension();
        if out.len() < needed {
            return Err(Error::new(
                ErrorKind::BufferTooSmall,
                format!(
                    "output buffer holds {} floats; {} texts x {} dimensions need {needed}",
                    out.len(),
                    texts.len(),
                    self.dimension()
                ),
            ));
        }
        let encodings = self.tokenize(texts, prompt)?;
        let lengths: Vec<usize> = encodings.iter().map(Vec::len).collect();
        for rows in batch::plan(&lengths, self.batch_token_budget, self.max_batch_size) {
            let mut session = self.pool.acquire()?;
            self.run_batch(&mut session, &encodings, &rows, Some(out))?;
        }
        Ok(())
    }

    /// Token ids of each text, `prompt` prepended, leading and trailing whitespace removed.
    /// Only the ids are kept (a full `Encoding`
    /// with its strings and offsets is ~30x larger: 100,000 texts would hold hundreds of
    /// MB); single texts have token type 0 throughout.
    fn tokenize<S: AsRef<str>>(&self, texts: &[S], prompt: Option<&str>) -> Result<Vec<Vec<u32>>> {
        texts
            .iter()
            .enumerate()
            .map(|(i, text)| {
                let text = text.as_ref();
                let input: Cow<str> = match prompt {
                    Some(prefix) => Cow::Owned(format!("{prefix}{text}")),
                    None => Cow::Borrowed(text),
                };
                // sentence-transformers strips each input (prompt included) before
                // tokenizing; whitespace is a token of its own for SentencePiece models.
                let ids = self
                    .tokenizer
                    .encode(input.trim(), true)
                    .map(|encoding| encoding.get_ids().to_vec())
                    .map_err(|e| {
                        Error::new(
                            ErrorKind::Tokenizer,
                            format!("cannot tokenize text {i}: {e}"),
                        )
                    })?;
                if ids.len() > self.info.max_length {
                    return Err(Error::new(
                        ErrorKind::ContextOverflow,
                        format!(
                            "text {i} is {} tokens{}; the model reads at most {} (fail_on_truncation is set: split the text, or leave the option off to truncate it)",
                            ids.len(),
                            if prompt.is_some() { " with its prompt" } else { "" },
                            self.info.max_length
                        ),
                    ));
                }
                Ok(ids)
            })
            .collect()
    }

    /// Run one batch (`rows` index `encodings`) and, when `out` is given, write each row's
    /// vector at its index. Returns the width of the graph output's last axis.
    fn run_batch(
        &self,
        session: &mut Session,
        encodings: &[Vec<u32>],
        rows: &[usize],
        out: Option<&mut [f32]>,
    ) -> Result<usize> {
        let batch = rows.len();
        let width = rows
            .iter()
            .map(|&r| encodings[r].len())
            .max()
            .unwrap_or(0)
            .max(1);
        let mut ids = vec![self.pad_id; batch * width];
        let mut mask = vec![0i64; batch * width];
        let mut positions = vec![0i64; batch * width];
        for (b, &r) in rows.iter().enumerate() {
            let enc = &encodings[r];
            let offset = if self.pad_left { width - enc.len() } else { 0 };
            let base = b * width + offset;
            for (t, &id) in enc.iter().enumerate() {
                ids[base + t] = i64::from(id);
                mask[base + t] = 1;
                positions[base + t] = t as i64;
            }
        }
        let shape = [batch, width];
        let tensor = |data: Vec<i64>| -> Result<SessionInputValue<'static>> {
            Ok(Tensor::from_array((shape, data))
                .map_err(|e| Error::runtime("creating an input tensor", e))?
                .into())
        };
        let mut feed: Vec<(Cow<str>, SessionInputValue)> = vec![("input_ids".into(), tensor(ids)?)];
        if self.inputs.attention_mask {
            feed.push(("attention_mask".into(), tensor(mask.clone())?));
        }
        if self.inputs.token_type_ids {
            feed.push(("token_type_ids".into(), tensor(vec![0; batch * width])?));
        }
        if self.inputs.position_ids {
            feed.push(("position_ids".into(), tensor(positions)?));
        }
        let outputs = session.run(feed).map_err(|e| {
            Error::runtime(format!("running {}", self.info.model_path.display()), e)
        })?;
        let value = &outputs[self.info.output_name.as_str()];
        let (out_shape, data) = extract_f32(value, &self.info.output_name)?;
        let hidden = *out_shape.last().unwrap_or(&0) as usize;
        let expected_rank = if self.pooled_output { 2 } else { 3 };
        if out_shape.len() != expected_rank || out_shape[0] as usize != batch || hidden == 0 {
            return Err(Error::model_invalid(format!(
                "output '{}' of {} has shape {:?}; expected {}",
                self.info.output_name,
                self.info.model_path.display(),
                out_shape,
                if self.pooled_output {
                    "[batch, dim]"
                } else {
                    "[batch, tokens, dim]"
                }
            )));
        }
        let Some(out) = out else { return Ok(hidden) };
        let dim = self.info.dimension;
        let mut pooled = vec![0.0f32; hidden];
        for (b, &r) in rows.iter().enumerate() {
            if self.pooled_output {
                pooled.copy_from_slice(&data[b * hidden..(b + 1) * hidden]);
            } else {
                let seq = out_shape[1] as usize;
                let rows_hidden = &data[b * seq * hidden..(b + 1) * seq * hidden];
                let row_mask = &mask[b * width..(b + 1) * width];
                let pooling = self.info.pooling.unwrap_or(Pooling::Mean);
                pooling::pool(
                    pooling,
                    rows_hidden,
                    &row_mask[..seq.min(width)],
                    hidden,
                    &mut pooled,
                );
            }
            if self.layer_norm_before_truncation {
                pooling::layer_norm(&mut pooled);
            }
            let target = &mut out[r * dim..(r + 1) * dim];
            target.copy_from_slice(&pooled[..dim]);
            if self.info.normalize {
                pooling::normalize(target);
            }
        }
        Ok(hidden)
    }
}

/// The prefix of the prompt `name` in `prompts`, or an error naming the defined ones.
fn prompt_named<'a>(
    prompts: &'a BTreeMap<String, String>,
    file: &Path,
    name: &str,
) -> Result<&'a str> {
    prompts.get(name).map(String::as_str).ok_or_else(|| {
        Error::invalid(format!(
            "prompt '{name}' is not defined by {}; defined prompts: {}",
            file.display(),
            if prompts.is_empty() {
                "none".to_string()
            } else {
                prompts.keys().cloned().collect::<Vec<_>>().join(", ")
            }
        ))
    })
}

/// Pad id and side from `tokenizer.json`'s padding section (Qwen3-Embedding pads left).
fn padding_of(tokenizer: &Tokenizer) -> (i64, bool) {
    match tokenizer.get_padding() {
        Some(p) => (
            i64::from(p.pad_id),
            matches!(p.direction, PaddingDirection::Left),
        ),
        None => (0, false),
    }
}

const EMBED_INPUTS: [&str; 4] = [
    "input_ids",
    "attention_mask",
    "token_type_ids",
    "position_ids",
];

fn graph_inputs(session: &Session, model: &Path) -> Result<GraphInputs> {
    let names: Vec<&str> = session.inputs().iter().map(|i| i.name()).collect();
    if let Some(other) = names.iter().find(|n| !EMBED_INPUTS.contains(n)) {
        let hint = if other.starts_with("past_key_values") {
            " (this looks like a text-generation model)"
        } else {
            ""
        };
        return Err(Error::model_invalid(format!(
            "{} is not an embedding model: graph input '{other}' is not one of {}{hint}",
            model.display(),
            EMBED_INPUTS.join(", ")
        )));
    }
    if !names.contains(&"input_ids") {
        return Err(Error::model_invalid(format!(
            "{} is not an embedding model: it has no 'input_ids' input (inputs: {})",
            model.display(),
            names.join(", ")
        )));
    }
    Ok(GraphInputs {
        attention_mask: names.contains(&"attention_mask"),
        token_type_ids: names.contains(&"token_type_ids"),
        position_ids: names.contains(&"position_ids"),
    })
}

/// Choose the output: a pooled `sentence_embedding` if the graph has one, else token
/// vectors (`last_hidden_state`, `token_embeddings`, or the only rank-3 float output).
/// Returns (name, pooled, static width).
fn graph_output(session: &Session, model: &Path) -> Result<(String, bool, Option<usize>)> {
    let outputs = session.outputs();
    let float_rank = |dtype: &ValueType| -> Option<(usize, Option<usize>)> {
        match dtype {
            ValueType::Tensor {
                ty: TensorElementType::Float32 | TensorElementType::Float16,
                shape,
                ..
            } => Some((
                shape.len(),
                shape.last().copied().filter(|&d| d > 0).map(|d| d as usize),
            )),
            _ => None,
        }
    };
    let find = |name: &str, rank: usize| {
        outputs.iter().find(|o| o.name() == name).and_then(|o| {
            float_rank(o.dtype())
                .filter(|(r, _)| *r == rank)
                .map(|(_, w)| w)
        })
    };
    if let Some(width) = find("sentence_embedding", 2) {
        return Ok(("sentence_embedding".into(), true, width));
    }
    for name in ["last_hidden_state", "token_embeddings"] {
        if let Some(width) = find(name, 3) {
            return Ok((name.into(), false, width));
        }
    }
    let names: Vec<&str> = outputs.iter().map(|o| o.name()).collect();
    if names.contains(&"logits") {
        return Err(Error::model_invalid(format!(
            "{} is not an embedding model: it outputs 'logits' (a text-generation or classification model)",
            model.display()
        )));
    }
    let rank3: Vec<_> = outputs
        .iter()
        .filter(|o| float_rank(o.dtype()).is_some_and(|(r, _)| r == 3))
        .collect();
    if let [only] = rank3.as_slice() {
        return Ok((
            only.name().to_string(),
            false,
            float_rank(only.dtype()).and_then(|(_, w)| w),
        ));
    }
    Err(Error::model_invalid(format!(
        "{} is not an embedding model: expected an output 'sentence_embedding' [batch, dim] or 'last_hidden_state' [batch, tokens, dim]; outputs: {}",
        model.display(),
        names.join(", ")
    )))
}

/// Borrow or convert a float output (fp16 graphs) as f32.
fn extract_f32<'a>(
    value: &'a ort::value::DynValue,
    name: &str,
) -> Result<(Vec<i64>, Cow<'a, [f32]>)> {
    if let Ok((shape, data)) = value.try_extract_tensor::<f32>() {
        return Ok((shape.to_vec(), Cow::Borrowed(data)));
    }
    if let Ok((shape, data)) = value.try_extract_tensor::<half::f16>() {
        return Ok((
            shape.to_vec(),
            Cow::Owned(data.iter().map(|v| v.to_f32()).collect()),
        ));
    }
    Err(Error::model_invalid(format!(
        "output '{name}' is not a float32 or float16 tensor"
    )))
}
